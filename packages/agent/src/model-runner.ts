// What the job path needs from an inference engine for one loaded model. engine-host.ts adapts the
// engines (engines/*) to this shape, so the job path does not depend on any one engine's API.
import type { ChatMessage } from "./matchmaker-protocol.ts";

export interface RunRequest {
  messages?: ChatMessage[];
  prompt?: string;
  /** Hard limit on generated tokens. */
  maxTokens: number;
  temperatureMilli: number;
  topPMilli: number;
  seed?: number;
  signal?: AbortSignal;
  onText?: (text: string) => void;
}

export interface RunResult {
  text: string;
  /** Exact metered counts: prompt tokens evaluated, tokens generated. */
  tokens: { in: number; out: number };
  finishReason: "stop" | "length" | "cancelled";
  /** The limit actually given to the engine, when it lowered req.maxTokens to fit its context. */
  maxTokens?: number;
}

export class PromptTooLongError extends Error {
  override readonly name = "PromptTooLongError";
}

export interface ModelRunner {
  readonly modelId: string;
  /** Prompt tokens the request would consume (for the price-ceiling cap); undefined if unknown. */
  countPromptTokens(req: Pick<RunRequest, "messages" | "prompt">): Promise<number | undefined>;
  run(req: RunRequest): Promise<RunResult>;
}
