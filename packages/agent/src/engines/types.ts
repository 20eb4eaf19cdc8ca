// The engine contract the provider agent drives. An engine turns one prompt into one streamed
// completion and reports token counts it measured itself, because those counts become the
// receipt's `tokens` and therefore the price (PROTOCOL.md: price.amount = tokens.in + tokens.out).
import type { ChatMessage } from "../matchmaker-protocol.ts";
import type { ToolDef } from "./tool-envelope.ts";

/** What the answer must be beyond text: JSON under a schema, or possibly tool calls. */
export interface GenerateWork {
  /** The answer is JSON under `schema` (checked `schemaProblem`-clean by the caller). */
  outputSchema?: { name: string; strict: boolean; schema: Record<string, unknown> };
  /** Tools offered: the text is then a tool stream (@cocore/protocol tool-stream.ts). */
  tools?: {
    tools: ToolDef[];
    choice: "auto" | "required" | { name: string };
    parallel: boolean;
    /** Tool call ids are derived from this and the call's place, so equal answers have equal ids. */
    idSeed: string;
  };
}

export type EngineKind = "llama" | "openai" | "stub";

export interface GenerateRequest {
  /** Model id as advertised by `models()`; an engine refuses ids it does not serve. */
  model: string;
  /** Raw prompt text (chat templating, if any, happens before the engine). */
  prompt: string;
  /** The conversation `prompt` was made from, for engines that take messages (openai). */
  messages?: ChatMessage[];
  work?: GenerateWork;
  /** Generation ends before the first of these appears (plain-text answers only). */
  stop?: string[];
  /** OpenAI's presence / frequency penalties (−2..2) over the generated tokens. */
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Upper bound on generated tokens; integer ≥ 1. */
  maxTokens: number;
  /** 0 or absent: greedy decoding (deterministic). Otherwise temperature × 1000. */
  temperatureMilli?: number;
  /** Nucleus sampling threshold × 1000 (0–1000); absent or 1000: disabled. Only with temperature. */
  topPMilli?: number;
  /** Sampling seed; only meaningful with temperature > 0. */
  seed?: number;
  /** Aborting ends generation early with finishReason "abort"; counts cover what was done. */
  signal?: AbortSignal;
  /**
   * 0 or absent: `onToken` is called for every token, from inside the generation loop. Otherwise
   * the engine may coalesce: the first piece still comes at once, later ones at most this often,
   * and the text work is done between tokens rather than in front of the next one. For callers
   * that batch the output anyway (the agent seals it into frames), it keeps per-token work off
   * the generation loop.
   */
  emitIntervalMs?: number;
}

export type FinishReason = "stop" | "length" | "abort";

export interface GenerateResult {
  /** Exactly the concatenation of every chunk passed to `onToken`. */
  text: string;
  /** Prompt tokens the model consumed (for llama: including a BOS token the model prepends). */
  tokensIn: number;
  /** Generated tokens, excluding the end-of-generation token; never more than maxTokens. */
  tokensOut: number;
  /** "stop": the model ended (EOS); "length": maxTokens reached; "abort": signal fired. */
  finishReason: FinishReason;
}

/** Called with each new piece of text as soon as it is complete UTF-8 (may be "" never). */
export type OnToken = (text: string) => void;

export interface Engine {
  readonly kind: EngineKind;
  /** Model ids this engine serves (valid after load()). */
  models(): string[];
  /** Prepare to serve (download/load weights, probe upstream). Idempotent. */
  load(): Promise<void>;
  generate(req: GenerateRequest, onToken: OnToken): Promise<GenerateResult>;
  /** Release native memory / connections. The engine is unusable afterwards. */
  close(): Promise<void>;
}

export type EngineErrorCode =
  | "prompt-too-long" // prompt + maxTokens does not fit the context; never silently truncated
  | "unknown-model" // request names a model this engine does not serve
  | "bad-request" // malformed request (e.g. maxTokens < 1)
  | "not-loaded" // generate() before load() or after close()
  | "upstream" // the OpenAI-compatible server failed or answered nonsense
  | "bad-output" // the answer broke the schema it was generated under (never delivered as valid)
  | "download"; // fetching a model file failed or its size did not verify

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EngineError";
    this.code = code;
  }
}

export function validateRequest(req: GenerateRequest, served: readonly string[]): void {
  if (!served.includes(req.model)) {
    throw new EngineError("unknown-model", `model ${JSON.stringify(req.model)} is not served here (serving: ${served.join(", ")})`);
  }
  if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) {
    throw new EngineError("bad-request", `maxTokens must be an integer >= 1, got ${req.maxTokens}`);
  }
  for (const [name, v] of [["temperatureMilli", req.temperatureMilli], ["topPMilli", req.topPMilli], ["seed", req.seed]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new EngineError("bad-request", `${name} must be a non-negative integer, got ${v}`);
    }
  }
  for (const [name, v] of [["presencePenalty", req.presencePenalty], ["frequencyPenalty", req.frequencyPenalty]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= -2 && v <= 2)) throw new EngineError("bad-request", `${name} must be within -2..2, got ${v}`);
  }
  if (req.stop !== undefined && (req.stop.length > 4 || req.stop.some((s) => typeof s !== "string" || s.length === 0))) {
    throw new EngineError("bad-request", "stop takes at most 4 non-empty strings");
  }
  if (req.topPMilli !== undefined && req.topPMilli > 1000) {
    throw new EngineError("bad-request", `topPMilli must be 0..1000, got ${req.topPMilli}`);
  }
}
