// Errors in OpenAI's envelope `{ error: { message, type, param, code } }`, and our refusal codes
// (the matchmaker's, the exchange's, the agent's) mapped to the HTTP status and error type an
// OpenAI client expects.
import { ClientError } from "@cocore/client";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    /** Further members of the error object (snake_case, as OpenAI's own). */
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Where a job stood in the matchmaker's queue. */
export interface QueueFacts {
  position: number;
  waitMs: number;
}

export function queueHeaders(q: QueueFacts | undefined): Record<string, string> {
  return { "x-cocore-queue-position": String(q?.position ?? 0), "x-cocore-queue-wait-ms": String(q?.waitMs ?? 0) };
}

/** The request asks for something the model is not served with here (no provider can do it). */
const NOT_SERVED = new Set(["tool_calls_not_supported", "structured_output_not_supported"]);
const BAD_REQUEST = new Set(["invalid_job", "invalid_request", "ceiling_too_low", "context_overflow", "job_invalid", "input_invalid"]);

// Our refusal codes → OpenAI-style HTTP status and error type. `queue`: the job's latest place in line.
export function fromClientError(err: ClientError, queue?: QueueFacts): ApiError {
  const c = err.code;
  // The matchmaker's full queue and its own abuse limits say when to come back, as ours do.
  if (c === "queue_full" || c === "rate_limit_exceeded" || c === "too_many_concurrent_requests") {
    const ms = Number(err.details.retryAfterMs);
    const seconds = Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / 1000) : 1;
    return new ApiError(429, "rate_limit_error", c, err.message, null, { retry_after_ms: seconds * 1000, queued: err.details.queued ?? null }, { "retry-after": String(seconds) });
  }
  if (c === "queue_timeout") {
    const position = queue?.position ?? Number(err.details.queuePosition ?? 0);
    const waitMs = queue?.waitMs ?? Number(err.details.queueWaitMs ?? 0);
    return new ApiError(503, "server_error", c, err.message, null, { queue_position: position, queue_wait_ms: waitMs }, queueHeaders({ position, waitMs }));
  }
  if (c === "below_floor" || c === "insufficient_balance") return new ApiError(429, "insufficient_quota", c, err.message);
  if (c === "no_providers_for_model") return new ApiError(404, "invalid_request_error", "model_not_found", err.message, "model");
  if (NOT_SERVED.has(c)) return new ApiError(400, "invalid_request_error", c, err.message, c === "tool_calls_not_supported" ? "tools" : "response_format");
  if (c === "terms_not_accepted") return new ApiError(403, "permission_error", c, err.message);
  if (c.startsWith("no_providers") || c === "providers_busy" || c === "provider_unavailable") return new ApiError(503, "server_error", c, err.message);
  if (c === "provider_timeout") return new ApiError(504, "server_error", c, err.message);
  if (BAD_REQUEST.has(c)) return new ApiError(400, "invalid_request_error", c, err.message);
  return new ApiError(502, "server_error", c, err.message);
}

export function errorBody(e: ApiError) {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code, ...e.extra } };
}
