// The matchmaker's abuse limits on dispatch, on @cocore/limits' buckets and caps. Two stages:
//
// - per client address, at the door of POST /v1/dispatch, before the body is read: the one budget
//   that costs the matchmaker nothing to apply;
// - per requester DID, only once the job record has proven the DID (the requester's PDS has it, or
//   the exchange admitted it). The DID in a dispatch is just a string until then: spending its
//   budget on it unproven would let anyone use up someone else's.
//
// Before the proof the DID's budgets are only looked at, never spent (precheck): a requester whose
// proven jobs have used them up is refused before anything is asked of the exchange or an agent.
// The balance is the real quota; these only stop one caller from swamping the matchmaker, the
// exchange or the providers. Defaults let a gateway in front serve its many members from one
// address, and one requester send a burst of 100 jobs (the queue absorbs it).
import { ConcurrencyCaps, TokenBuckets, type RateSpec } from "@cocore/limits";
import { DispatchError } from "./codes.ts";

export interface MatchmakerLimits {
  /** Dispatches per client address. */
  perIp: RateSpec;
  /** Dispatches per requester DID (spent once the job record is confirmed). */
  perRequester: RateSpec;
  /** Jobs running or waiting at once per requester DID. */
  concurrentPerRequester: number;
  /** Largest dispatch body read, in bytes (beyond it: 413 body_too_large). */
  maxBodyBytes: number;
  /** Largest WebSocket message an agent may send, in bytes (beyond it: close 1009). */
  maxAgentMessageBytes: number;
}

export const DEFAULT_MATCHMAKER_LIMITS: MatchmakerLimits = {
  perIp: { burst: 1000, perSecond: 100 },
  perRequester: { burst: 400, perSecond: 20 },
  concurrentPerRequester: 128,
  maxBodyBytes: 4 * 1024 * 1024,
  maxAgentMessageBytes: 8 * 1024 * 1024,
};

export class DispatchGuard {
  private readonly perIp: TokenBuckets;
  private readonly perRequester: TokenBuckets;
  private readonly running: ConcurrencyCaps;

  constructor(readonly limits: MatchmakerLimits) {
    for (const k of ["maxBodyBytes", "maxAgentMessageBytes"] as const) {
      if (!Number.isSafeInteger(limits[k]) || limits[k] < 1) throw new RangeError(`${k} must be a positive integer (got ${limits[k]})`);
    }
    this.perIp = new TokenBuckets(limits.perIp);
    this.perRequester = new TokenBuckets(limits.perRequester);
    this.running = new ConcurrencyCaps(limits.concurrentPerRequester);
  }

  /** One dispatch from `address`: spends its token, or the refusal. */
  door(address: string, now: number): DispatchError | undefined {
    const t = this.perIp.take(address, now);
    return t.ok ? undefined : rateLimited(`Too many dispatches from this address (at most ${describe(this.limits.perIp)}).`, t.retryAfterMs);
  }

  /** Whether `requester` has budget left, spending none (its DID is not proven yet). */
  precheck(requester: string, now: number): DispatchError | undefined {
    if (this.running.held(requester) >= this.limits.concurrentPerRequester) return tooMany(this.limits.concurrentPerRequester);
    const t = this.perRequester.check(requester, now);
    return t.ok ? undefined : rateLimited(`Too many dispatches for this requester (at most ${describe(this.limits.perRequester)}).`, t.retryAfterMs);
  }

  /**
   * `requester` is proven: spends its token and takes a running slot, returning the slot's
   * release (to call once, when the job ends), or the refusal (nothing spent).
   */
  proven(requester: string, now: number): (() => void) | DispatchError {
    const refused = this.precheck(requester, now);
    if (refused) return refused;
    const release = this.running.acquire(requester);
    if (!release) return tooMany(this.limits.concurrentPerRequester);
    this.perRequester.take(requester, now);
    return release;
  }
}

function rateLimited(message: string, retryAfterMs: number): DispatchError {
  return new DispatchError("rate_limit_exceeded", message, { retryAfterMs: Math.max(1000, Number.isFinite(retryAfterMs) ? retryAfterMs : 60_000) });
}

function tooMany(max: number): DispatchError {
  return new DispatchError("too_many_concurrent_requests", `This requester already has ${max} jobs running or waiting here; wait for one to finish.`, { retryAfterMs: 1000 });
}

function describe(r: RateSpec): string {
  return `${r.burst} at once, then ${r.perSecond} a second`;
}
