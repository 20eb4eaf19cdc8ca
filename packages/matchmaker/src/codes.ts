// Every way a dispatch can fail, as a stable machine-readable code plus a sentence a person can act
// on. A job that waits for a slot is told its place in line (wire.ts `queued`); these are for the
// jobs that cannot be served at all, or not within the queue's bounds.

export const REFUSAL_CODES = {
  invalid_request: 400,
  invalid_job: 400,
  commitment_mismatch: 400,
  job_expired: 400,
  exchange_not_accepted: 400,
  job_already_dispatched: 409,
  no_providers_for_model: 503,
  no_providers_for_trust: 503,
  no_accepted_providers: 503,
  no_providers_for_exchange: 503,
  // The job offers tools / has an outputSchema, and no live machine serving the model advertises
  // tool calls / structured output for it (agent matchmaker-protocol.ts ModelCapabilities).
  tool_calls_not_supported: 400,
  structured_output_not_supported: 400,
  // No longer sent (a job that finds every slot busy waits in the queue); kept so the code stays known.
  providers_busy: 503,
  // Abuse limits (limits.ts), named as the gateway names its own: a dispatch rate per client
  // address or per requester DID, jobs at once per requester, the body's size. Retry after `retryAfterMs`.
  rate_limit_exceeded: 429,
  too_many_concurrent_requests: 429,
  body_too_large: 413,
  // The model's queue is at its bound: retry after `retryAfterMs` (computed from the service rate).
  queue_full: 429,
  // The job waited in the queue for its longest wait (or its expiresAt) without getting a slot.
  queue_timeout: 503,
  provider_unavailable: 503,
  // GET /v1/offer with `exclude`: every machine that fits the job was already tried.
  no_other_providers: 503,
  below_floor: 402,
  insufficient_balance: 402,
  terms_not_accepted: 403,
  admission_refused: 403,
  // The exchange's admission refusals (@cocore/protocol ledger/inputs.ts AdmissionCode): the job
  // or its payment authorization cannot pay for the work, so it is never run.
  job_not_found: 400,
  job_mismatch: 400,
  job_invalid: 400,
  job_already_settled: 409,
  authorization_not_found: 400,
  authorization_mismatch: 400,
  authorization_invalid: 400,
  authorization_other_exchange: 400,
  authorization_ceiling_too_low: 400,
  authorization_expires_first: 400,
  authorization_nonce_used: 409,
  authorization_nonce_reserved: 409,
  session_budget_exceeded: 402,
  exchange_unavailable: 502,
  provider_lost: 502,
  provider_error: 502,
  provider_timeout: 504,
  internal_error: 500,
} as const;

export type RefusalCode = keyof typeof REFUSAL_CODES;

export function isRefusalCode(code: string): code is RefusalCode {
  return Object.hasOwn(REFUSAL_CODES, code);
}

/** A dispatch failure: `code` is the contract, `message` the human sentence. */
export class DispatchError extends Error {
  override readonly name = "DispatchError";
  constructor(
    readonly code: string,
    message: string,
    /** Extra facts for the requester (e.g. nextRefreshAt for below_floor). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  get status(): number {
    return isRefusalCode(this.code) ? REFUSAL_CODES[this.code] : 502;
  }

  toJSON(): { code: string; message: string } & Record<string, unknown> {
    return { ...this.details, code: this.code, message: this.message };
  }
}
