// Adapts the engines (./engines/*) to the EngineLoader/ModelRunner shape the agent uses: one
// engine instance per served model id, a model id resolved to a GGUF source (llama), checked
// against the upstream's model list (openai), or the no-op stub.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { assembleToolStream, jsonTextViolation, schemaViolation } from "@cocore/protocol";
import { join } from "node:path";
import type { EngineHostOptions, EngineLoader, LoadedModel } from "./engine-host.ts";
import { bundledModelPath, EngineError, LlamaEngine, OpenAIEngine, StubEngine, STUB_MODEL_ID, type Engine, type GenerateRequest } from "./engines/index.ts";
import { OUTPUT_FLUSH_MS, type ChatMessage } from "./matchmaker-protocol.ts";
import { PromptTooLongError, type ModelCapabilities, type RunRequest, type RunResult } from "./model-runner.ts";

export const BUNDLED_MODEL_ID = "fortunes-char";

/**
 * The engines take one prompt string (chat templating happens before them). A lone user message
 * is passed as is — what a completion model like the bundled one expects; a conversation becomes
 * a plain "Role: text" transcript ending with "Assistant:".
 */
export function promptFromInput(req: Pick<RunRequest, "messages" | "prompt">): string {
  const msgs: ChatMessage[] | undefined = req.messages;
  if (!msgs) return req.prompt ?? "";
  if (msgs.length === 1 && msgs[0]!.role === "user") return msgs[0]!.content;
  const name = { system: "System", user: "User", assistant: "Assistant", tool: "Tool" } as const;
  return msgs.map((m) => `${name[m.role]}: ${m.toolCalls?.length ? callsText(m.toolCalls) : m.content}`).join("\n") + "\nAssistant:";
}

/** An assistant's earlier calls in the envelope the grammar has it write (tool-envelope.ts). */
function callsText(calls: NonNullable<ChatMessage["toolCalls"]>): string {
  const args = (a: string) => {
    try {
      return JSON.parse(a) as unknown;
    } catch {
      return a;
    }
  };
  return JSON.stringify({ tool_calls: calls.map((c) => ({ name: c.name, arguments: args(c.arguments) })) });
}

/** Tool-call ids for an answer to `req`: the same conversation gets the same ids, another gets others. */
function idSeed(req: Pick<RunRequest, "messages" | "prompt">): string {
  return createHash("sha256").update(JSON.stringify(req.messages ?? req.prompt ?? "")).digest("hex");
}

const PROBE_TOOL = { name: "probe", description: "Says whether the check passed.", parameters: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false } };
const PROBE_SCHEMA = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"], additionalProperties: false };

/**
 * What the loaded model can really do: one tool call and one schema answer, each checked. A
 * model is advertised for tools only when the call came back well-formed.
 */
export async function probeCapabilities(engine: Engine, modelId: string, contextLength: number): Promise<ModelCapabilities> {
  const messages: ChatMessage[] = [{ role: "user", content: "Check." }];
  const attempt = async (work: GenerateRequest["work"], ok: (text: string) => boolean): Promise<boolean> => {
    try {
      const r = await engine.generate({ model: modelId, prompt: promptFromInput({ messages }), messages, maxTokens: contextLength > 0 ? Math.min(96, contextLength - 16) : 96, work }, () => {});
      return r.finishReason === "stop" && ok(r.text);
    } catch {
      return false;
    }
  };
  const tools = await attempt({ tools: { tools: [PROBE_TOOL], choice: "required", parallel: false, idSeed: "probe" } }, (text) => {
    try {
      const { toolCalls } = assembleToolStream(text);
      return toolCalls.length === 1 && toolCalls[0]!.name === "probe" && schemaViolation(PROBE_TOOL.parameters, JSON.parse(toolCalls[0]!.arguments)) === "";
    } catch {
      return false;
    }
  });
  const structuredOutput = await attempt({ outputSchema: { name: "probe", strict: true, schema: PROBE_SCHEMA } }, (text) => jsonTextViolation(PROBE_SCHEMA, text) === "");
  return { tools, structuredOutput, contextLength };
}

/**
 * Prompt tokens when the engine cannot count them: every token of a byte-level tokenizer covers
 * at least one byte, so bytes + a few special tokens bound the count for llama models; for an
 * upstream server the chat template adds role markers, hence the larger margin.
 */
function promptTokenBound(prompt: string, kind: string): number {
  return Buffer.byteLength(prompt, "utf8") + (kind === "openai" ? 64 : 2);
}

function wrap(engine: Engine, modelId: string, concurrency = 1, capabilities?: ModelCapabilities): LoadedModel {
  const llama = engine instanceof LlamaEngine ? engine : undefined;
  return {
    modelId,
    concurrency,
    ...(capabilities && { capabilities }),
    async countPromptTokens(req) {
      const prompt = promptFromInput(req);
      if (engine.kind === "stub") return 0;
      if (llama) {
        const n = llama.promptTokens(prompt).length;
        if (n >= llama.contextSize) throw new PromptTooLongError(`the prompt is ${n} tokens; the context holds ${llama.contextSize}`);
        return n;
      }
      return promptTokenBound(prompt, engine.kind);
    },
    async run(req: RunRequest): Promise<RunResult> {
      const prompt = promptFromInput(req);
      let maxTokens = req.maxTokens;
      // The job's maxTokensOut is a ceiling, not a demand: fit the output into what the context
      // leaves after the prompt instead of refusing the job.
      if (llama) maxTokens = Math.min(maxTokens, llama.contextSize - llama.promptTokens(prompt).length);
      if (maxTokens < 1) throw new PromptTooLongError("the prompt leaves no room in the context for output");
      try {
        const r = await engine.generate(
          {
            model: modelId,
            prompt,
            ...(req.messages && { messages: req.messages }),
            ...(req.work && {
              work: {
                ...(req.work.outputSchema && { outputSchema: req.work.outputSchema }),
                ...(req.work.tools && { tools: { ...req.work.tools, idSeed: idSeed(req) } }),
              },
            }),
            ...(req.stop && req.stop.length > 0 && { stop: req.stop }),
            ...(req.presencePenaltyMilli && { presencePenalty: req.presencePenaltyMilli / 1000 }),
            ...(req.frequencyPenaltyMilli && { frequencyPenalty: req.frequencyPenaltyMilli / 1000 }),
            maxTokens,
            ...(req.temperatureMilli > 0 && { temperatureMilli: req.temperatureMilli, topPMilli: req.topPMilli }),
            ...(req.seed !== undefined && { seed: req.seed }),
            ...(req.signal && { signal: req.signal }),
            // The reply is sealed into frames at most every OUTPUT_FLUSH_MS anyway.
            emitIntervalMs: OUTPUT_FLUSH_MS,
          },
          (text) => req.onText?.(text),
        );
        return {
          text: r.text,
          tokens: { in: r.tokensIn, out: r.tokensOut },
          finishReason: r.finishReason === "abort" ? "cancelled" : r.finishReason,
          maxTokens,
        };
      } catch (err) {
        if (err instanceof EngineError && err.code === "prompt-too-long") throw new PromptTooLongError(err.message);
        throw err;
      }
    },
    dispose: () => engine.close(),
  };
}

async function loaded(engine: Engine, modelId: string, concurrency = 1): Promise<LoadedModel> {
  try {
    await engine.load();
  } catch (err) {
    await engine.close().catch(() => {});
    throw err;
  }
  const capabilities = engine.kind === "stub" ? undefined : await probeCapabilities(engine, modelId, engine instanceof LlamaEngine ? engine.contextSize : 0);
  return wrap(engine, modelId, concurrency, capabilities);
}

export function createEngineLoader(opts: Omit<EngineHostOptions, "log" | "loader">): EngineLoader {
  // One number for every model: llama runs that many context sequences of each, an upstream
  // server is sent that many requests at once; the stub is instant, so one is plenty.
  const parallel = Number.isInteger(opts.parallel) && opts.parallel! > 0 ? opts.parallel! : 1;
  const sourceFor = (id: string): string | undefined => {
    if (id === opts.defaultModelId) return opts.model ?? bundledModelPath();
    if (id === BUNDLED_MODEL_ID) return bundledModelPath();
    if (opts.modelsDir) {
      const p = join(opts.modelsDir, `${id}.gguf`);
      if (existsSync(p)) return p;
    }
    return undefined;
  };
  return {
    async load(modelId) {
      switch (opts.kind) {
        case "stub":
          throw new Error(`the stub engine serves only '${STUB_MODEL_ID}'`);
        case "llama": {
          const source = sourceFor(modelId);
          if (!source) throw new Error(`no GGUF file is configured for model id '${modelId}' (use --model/--model-id or put ${modelId}.gguf in --models-dir)`);
          return loaded(new LlamaEngine({ model: source, modelId, parallel, ...(opts.threads !== undefined && { threads: opts.threads }) }), modelId, parallel);
        }
        case "openai": {
          if (!opts.openaiBase) throw new Error("the openai engine needs --openai-base");
          const engine = new OpenAIEngine({ baseUrl: opts.openaiBase, ...(opts.openaiApiKey !== undefined && { apiKey: opts.openaiApiKey }) });
          await engine.load();
          if (!engine.models().includes(modelId)) {
            await engine.close();
            throw new Error(`the upstream server does not list model '${modelId}'`);
          }
          return wrap(engine, modelId, parallel, await probeCapabilities(engine, modelId, engine.contextLength(modelId)));
        }
      }
    },
    async stub() {
      return loaded(new StubEngine(), STUB_MODEL_ID);
    },
  };
}
