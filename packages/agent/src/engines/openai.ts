// Forwards to an OpenAI-compatible server (llama-server, vLLM, Ollama, ...) for providers whose
// GPUs are driven by such a server. Token counts come from the server's own `usage` report,
// requested with stream_options.include_usage, since only it knows its tokenizer.

import { encodeToolEvent } from "@cocore/protocol";
import type { ChatMessage } from "../matchmaker-protocol.ts";
import { toolCallId } from "./answer-shaper.ts";
import { EngineError, validateRequest, type Engine, type GenerateRequest, type GenerateResult, type OnToken } from "./types.ts";

export interface OpenAIEngineOptions {
  /** Server root, e.g. http://127.0.0.1:8080 (the engine appends /v1/...). */
  baseUrl: string;
  /** Model ids to serve; default: whatever GET /v1/models lists at load(). */
  models?: string[];
  apiKey?: string;
}

interface ToolCallDelta {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface ChatChunk {
  choices?: { delta?: { content?: string | null; tool_calls?: ToolCallDelta[] }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

export class OpenAIEngine implements Engine {
  readonly kind = "openai" as const;
  readonly #baseUrl: string;
  readonly #apiKey: string | undefined;
  #models: string[] | undefined;
  readonly #contextLengths = new Map<string, number>();
  #closed = false;

  constructor(opts: OpenAIEngineOptions) {
    this.#baseUrl = opts.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.#apiKey = opts.apiKey;
    this.#models = opts.models;
  }

  models(): string[] {
    return this.#models ?? [];
  }

  async load(): Promise<void> {
    if (this.#models) return;
    const res = await this.#fetch("/v1/models", { method: "GET" });
    const body = (await res.json()) as { data?: Array<{ id?: unknown } & Record<string, unknown>> };
    const ids = (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === "string");
    // Servers name the context size differently (vLLM max_model_len, others context_length).
    for (const m of body.data ?? []) {
      const n = [m.max_model_len, m.context_length, (m.meta as Record<string, unknown> | undefined)?.n_ctx_train].find((v) => Number.isSafeInteger(v) && (v as number) > 0);
      if (typeof m.id === "string" && n !== undefined) this.#contextLengths.set(m.id, n as number);
    }
    if (ids.length === 0) throw new EngineError("upstream", `${this.#baseUrl}/v1/models lists no models`);
    this.#models = ids;
  }

  /** The upstream's context size for `modelId`, 0 when it does not say. */
  contextLength(modelId: string): number {
    return this.#contextLengths.get(modelId) ?? 0;
  }

  async generate(req: GenerateRequest, onToken: OnToken): Promise<GenerateResult> {
    if (this.#closed || !this.#models) throw new EngineError("not-loaded", "openai engine is not loaded");
    validateRequest(req, this.#models);
    const greedy = !req.temperatureMilli;
    const tools = req.work?.tools;
    const body = {
      model: req.model,
      messages: req.messages ? req.messages.map(upstreamMessage) : [{ role: "user", content: req.prompt }],
      max_tokens: req.maxTokens,
      temperature: greedy ? 0 : req.temperatureMilli! / 1000,
      ...(!greedy && req.topPMilli !== undefined && { top_p: req.topPMilli / 1000 }),
      ...(req.seed !== undefined && { seed: req.seed }),
      ...(req.stop && { stop: req.stop }),
      ...(req.presencePenalty !== undefined && { presence_penalty: req.presencePenalty }),
      ...(req.frequencyPenalty !== undefined && { frequency_penalty: req.frequencyPenalty }),
      ...(tools && {
        tools: tools.tools.map((t) => ({ type: "function", function: { name: t.name, ...(t.description !== undefined && { description: t.description }), parameters: t.parameters ?? { type: "object", properties: {} } } })),
        tool_choice: typeof tools.choice === "object" ? { type: "function", function: { name: tools.choice.name } } : tools.choice,
        parallel_tool_calls: tools.parallel,
      }),
      ...(req.work?.outputSchema && {
        response_format: { type: "json_schema", json_schema: { name: req.work.outputSchema.name, strict: req.work.outputSchema.strict, schema: req.work.outputSchema.schema } },
      }),
      stream: true,
      stream_options: { include_usage: true },
    };
    // With tools the text is a tool stream (@cocore/protocol tool-stream.ts); upstream call
    // indices are kept, ids too (a missing one is derived, as the llama engine does).
    const stream = tools ? new UpstreamToolStream(tools.idSeed) : undefined;
    let text = "";
    let chunks = 0;
    let finish: string | null = null;
    let usage: { in: number; out: number } | undefined;
    const out = (piece: string) => {
      chunks++;
      text += piece;
      onToken(piece);
    };
    try {
      const res = await this.#fetch("/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: req.signal ?? null,
      });
      if (!res.body) throw new EngineError("upstream", "chat/completions returned no body");
      for await (const data of sseData(res.body)) {
        if (req.signal?.aborted) throw req.signal.reason;
        if (data === "[DONE]") break;
        let chunk: ChatChunk;
        try {
          chunk = JSON.parse(data) as ChatChunk;
        } catch {
          throw new EngineError("upstream", `bad SSE JSON from upstream: ${data.slice(0, 200)}`);
        }
        if (chunk.error) throw new EngineError("upstream", `upstream error: ${chunk.error.message ?? "unknown"}`);
        const choice = chunk.choices?.[0];
        const piece = choice?.delta?.content;
        if (piece) out(stream ? stream.content(piece) : piece);
        for (const d of choice?.delta?.tool_calls ?? []) {
          if (!stream) throw new EngineError("upstream", "upstream answered with tool calls to a request without tools");
          const t = stream.toolCall(d);
          if (t) out(t);
        }
        if (choice?.finish_reason) finish = choice.finish_reason;
        const u = chunk.usage;
        if (u && Number.isInteger(u.prompt_tokens) && Number.isInteger(u.completion_tokens)) {
          usage = { in: u.prompt_tokens!, out: u.completion_tokens! };
        }
      }
    } catch (err) {
      if (req.signal?.aborted) {
        // No usage arrives on an aborted stream; servers send one chunk per token, so the chunk
        // count is the best lower bound for what was generated. Prompt tokens are unknown: 0.
        return { text, tokensIn: usage?.in ?? 0, tokensOut: usage?.out ?? chunks, finishReason: "abort" };
      }
      if (err instanceof EngineError) throw err;
      throw new EngineError("upstream", `chat/completions stream failed: ${(err as Error).message}`, { cause: err });
    }
    if (!usage) throw new EngineError("upstream", "upstream reported no usage (needs stream_options.include_usage support)");
    if (usage.out > req.maxTokens) {
      throw new EngineError("upstream", `upstream reported ${usage.out} completion tokens > maxTokens ${req.maxTokens}`);
    }
    return { text, tokensIn: usage.in, tokensOut: usage.out, finishReason: finish === "length" ? "length" : "stop" };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#apiKey) headers.set("authorization", `Bearer ${this.#apiKey}`);
    let res: Response;
    try {
      res = await fetch(this.#baseUrl + path, { ...init, headers });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new EngineError("upstream", `${init.method} ${this.#baseUrl}${path} failed: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok) {
      const detail = (await res.text().catch(() => "")).slice(0, 300);
      throw new EngineError("upstream", `${init.method} ${this.#baseUrl}${path}: HTTP ${res.status} ${detail}`);
    }
    return res;
  }
}

/** A message in the upstream's (OpenAI's) own shape. */
function upstreamMessage(m: ChatMessage): Record<string, unknown> {
  if (m.role === "tool") return { role: "tool", tool_call_id: m.toolCallId ?? "", content: m.content };
  if (m.role === "assistant" && m.toolCalls?.length) {
    return { role: "assistant", content: m.content || null, tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) };
  }
  return { role: m.role, content: m.content };
}

/** Upstream deltas → tool-stream lines; calls are renumbered 0, 1, … in the order they start. */
class UpstreamToolStream {
  readonly #calls = new Map<number, number>();
  constructor(private readonly idSeed: string) {}

  content(piece: string): string {
    return encodeToolEvent({ type: "content", text: piece });
  }

  toolCall(d: ToolCallDelta): string {
    const upstreamIndex = Number.isSafeInteger(d.index) ? d.index! : 0;
    let out = "";
    let index = this.#calls.get(upstreamIndex);
    if (index === undefined) {
      const name = d.function?.name;
      if (!name) throw new EngineError("upstream", "upstream sent tool-call arguments before the call's name");
      index = this.#calls.size;
      this.#calls.set(upstreamIndex, index);
      out += encodeToolEvent({ type: "call", index, id: d.id || toolCallId(this.idSeed, index, name), name });
    }
    const fragment = d.function?.arguments;
    if (fragment) out += encodeToolEvent({ type: "arguments", index, fragment });
    return out;
  }
}

/** Yields the payload of each SSE `data:` event (multi-line data joined with "\n"). */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
        } else if (line.startsWith("data:")) {
          data.push(line.slice(5).replace(/^ /, ""));
        }
      }
      if (done) break;
    }
    if (data.length) yield data.join("\n");
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
}
