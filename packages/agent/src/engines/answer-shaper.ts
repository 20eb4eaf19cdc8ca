// What the llama engine does to an answer beyond sampling tokens: the grammar it samples under
// (a JSON schema, or a tool-call envelope), the text it emits (the tool stream for tool jobs, the
// answer cut at a stop sequence otherwise) and the final check that a strict answer, and every
// tool call's arguments, really validate — the grammar makes a bad answer unlikely, the check
// makes delivering one impossible.
import { createHash } from "node:crypto";
import { assembleToolStream, encodeToolEvent, grammarSchema, jsonTextViolation, schemaViolation, type GrammarBounds } from "@cocore/protocol";
import type { Llama, LlamaGrammar } from "node-llama-cpp";
import { jsonSchemaGrammar } from "./json-grammar.ts";
import { StopMatcher } from "./stop-sequences.ts";
import { EnvelopeScanner, envelopeSchema, parametersOf } from "./tool-envelope.ts";
import { EngineError, type GenerateRequest, type GenerateWork } from "./types.ts";

/** Grammar bounds for a context of `contextSize` tokens: roomy for real models, tight for tiny ones. */
export function boundsFor(contextSize: number): GrammarBounds {
  const clamp = (n: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.floor(n)));
  return { maxString: clamp(contextSize / 8, 8, 512), maxItems: clamp(contextSize / 64, 3, 32), maxProperties: clamp(contextSize / 64, 3, 16) };
}

/** Compiled grammars by schema text: a requester's schema is usually sent many times. */
export class GrammarCache {
  readonly #grammars = new Map<string, Promise<LlamaGrammar>>();
  constructor(private readonly llama: Llama, private readonly limit = 64) {}
  get(schema: Record<string, unknown>, maxKeyLength: number): Promise<LlamaGrammar> {
    const key = JSON.stringify([schema, maxKeyLength]);
    let g = this.#grammars.get(key);
    if (!g) {
      if (this.#grammars.size >= this.limit) this.#grammars.clear();
      g = jsonSchemaGrammar(this.llama, schema, { maxKeyLength });
      g.catch(() => this.#grammars.delete(key));
      this.#grammars.set(key, g);
    }
    return g;
  }
}

/** OpenAI-looking ids that depend only on the seed, the call's place and its function. */
export function toolCallId(seed: string, index: number, name: string): string {
  return `call_${createHash("sha256").update(`${seed}\u0000${index}\u0000${name}`).digest("hex").slice(0, 24)}`;
}

export class AnswerShaper {
  readonly grammar: LlamaGrammar | undefined;
  readonly #work: GenerateWork | undefined;
  readonly #scanner: EnvelopeScanner | undefined;
  readonly #stop: StopMatcher | undefined;

  private constructor(work: GenerateWork | undefined, grammar: LlamaGrammar | undefined, stop: readonly string[] | undefined) {
    this.#work = work;
    this.grammar = grammar;
    const tools = work?.tools;
    this.#scanner = tools ? new EnvelopeScanner((i, name) => toolCallId(tools.idSeed, i, name)) : undefined;
    this.#stop = stop && stop.length > 0 && !grammar ? new StopMatcher(stop) : undefined;
  }

  static async prepare(req: GenerateRequest, cache: GrammarCache, contextSize: number): Promise<AnswerShaper> {
    const work = req.work;
    if (work?.tools || work?.outputSchema) {
      if (req.stop && req.stop.length > 0) throw new EngineError("bad-request", "stop sequences cannot cut a JSON or tool-call answer");
    }
    const b = boundsFor(contextSize);
    let schema: Record<string, unknown> | undefined;
    if (work?.tools) {
      // A text answer (auto) must fit in what is left, or it would be cut off mid-envelope.
      const room = { ...b, maxString: Math.min(b.maxString, Math.max(1, Math.floor((req.maxTokens - 16) / 8))) };
      schema = envelopeSchema({ ...work.tools, ...(work.outputSchema && { answerSchema: work.outputSchema.schema }) }, work.tools.choice === "auto" ? room : b, req.maxTokens);
    } else if (work?.outputSchema) schema = grammarSchema(work.outputSchema.schema, b);
    const grammar = schema ? await cache.get(schema, b.maxString) : undefined;
    return new AnswerShaper(work, grammar, req.stop);
  }

  /** Stop sequences need each token's text at once (no coalescing). */
  get perToken(): boolean {
    return this.#stop !== undefined;
  }

  /** A stop sequence matched: generation should end. */
  get stopped(): boolean {
    return this.#stop?.stopped ?? false;
  }

  /** The text to emit for newly generated `text`. */
  shape(text: string): string {
    if (this.#scanner) return this.#scanner.push(text).map(encodeToolEvent).join("");
    if (this.#stop) return this.#stop.push(text);
    return text;
  }

  /** What is left to emit when generation ends. */
  flush(): string {
    return this.#stop?.flush() ?? "";
  }

  /**
   * Throws EngineError("bad-output") when a complete answer breaks what it was generated under:
   * an envelope that did not close, arguments that do not validate against their function's
   * parameters, a strict answer off its schema. A cut-off answer (finish "length") is what it is.
   */
  check(emitted: string, finishReason: "stop" | "length" | "abort"): void {
    if (finishReason !== "stop") return;
    const work = this.#work;
    if (work?.tools) {
      if (!this.#scanner!.done) throw new EngineError("bad-output", "the tool-call envelope ended before it closed");
      const { toolCalls, content } = assembleToolStream(emitted);
      if (toolCalls.length === 0 && work.outputSchema?.strict) {
        const why = jsonTextViolation(work.outputSchema.schema, content);
        if (why) throw new EngineError("bad-output", `the answer breaks the strict schema ${work.outputSchema.name}: ${why}`);
      }
      for (const call of toolCalls) {
        const tool = work.tools.tools.find((t) => t.name === call.name);
        if (!tool) throw new EngineError("bad-output", `the model called ${call.name}, which was not offered`);
        let args: unknown;
        try {
          args = JSON.parse(call.arguments);
        } catch {
          throw new EngineError("bad-output", `the arguments of ${call.name} are not JSON`);
        }
        const why = schemaViolation(parametersOf(tool), args);
        if (why) throw new EngineError("bad-output", `the arguments of ${call.name} break its parameters schema: ${why}`);
      }
      return;
    }
    if (work?.outputSchema?.strict) {
      const why = jsonTextViolation(work.outputSchema.schema, emitted);
      if (why) throw new EngineError("bad-output", `the answer breaks the strict schema ${work.outputSchema.name}: ${why}`);
    }
  }
}
