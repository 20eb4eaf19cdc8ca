// What the job path needs from an inference engine for one loaded model. engine-host.ts adapts the
// engines (engines/*) to this shape, so the job path does not depend on any one engine's API.
import type { GenerateWork } from "./engines/types.ts";
import type { ChatMessage, ModelCapabilities } from "./matchmaker-protocol.ts";

export type { ModelCapabilities };

export interface RunRequest {
  messages?: ChatMessage[];
  prompt?: string;
  /** The job's outputSchema and tools, as the engine takes them (tool-call ids included). */
  work?: Omit<GenerateWork, "tools"> & { tools?: Omit<NonNullable<GenerateWork["tools"]>, "idSeed"> };
  stop?: string[];
  presencePenaltyMilli?: number;
  frequencyPenaltyMilli?: number;
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
  /** Absent: plain text only (an engine that was not probed). */
  readonly capabilities?: ModelCapabilities;
  /** Prompt tokens the request would consume (for the price-ceiling cap); undefined if unknown. */
  countPromptTokens(req: Pick<RunRequest, "messages" | "prompt">): Promise<number | undefined>;
  run(req: RunRequest): Promise<RunResult>;
}
