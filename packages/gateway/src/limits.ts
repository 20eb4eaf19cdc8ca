// The gateway's abuse limits: request rates per API key and per DID (a DID's keys share one
// budget, so minting keys does not multiply it), chat completions at once per DID, and the
// largest body read. The balance is the real quota; these only stop one caller from swamping
// the gateway, the matchmaker's queue or the requester's own PDS. Defaults are sized so that a
// burst of 100 concurrent requests from one key is served (the queue absorbs it).
import { ConcurrencyCaps, TokenBuckets, type RateSpec } from "@cocore/limits";
import type { ApiKeyEntry } from "./keys.ts";

export interface GatewayLimits {
  /** Requests per API key. */
  perKey: RateSpec;
  /** Requests per DID, over all its keys. */
  perDid: RateSpec;
  /** Chat completions running (or queued) at once per DID. */
  concurrentPerDid: number;
  /** Largest request body read, in bytes (beyond it: 413). */
  maxBodyBytes: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  perKey: { burst: 200, perSecond: 10 },
  perDid: { burst: 400, perSecond: 20 },
  concurrentPerDid: 128,
  maxBodyBytes: 2 * 1024 * 1024,
};

export type Refusal = { code: "rate_limit_exceeded" | "too_many_concurrent_requests"; message: string; retryAfterMs: number };

export class GatewayGuard {
  private readonly perKey: TokenBuckets;
  private readonly perDid: TokenBuckets;
  private readonly running: ConcurrencyCaps;

  constructor(readonly limits: GatewayLimits) {
    this.perKey = new TokenBuckets(limits.perKey);
    this.perDid = new TokenBuckets(limits.perDid);
    this.running = new ConcurrencyCaps(limits.concurrentPerDid);
  }

  /** One request by `key` at `now`: a refusal, or null (allowed: both budgets spent). */
  request(key: ApiKeyEntry, now: number): Refusal | null {
    const k = this.perKey.check(key.id, now);
    if (!k.ok) return { code: "rate_limit_exceeded", message: `Too many requests with this API key (at most ${describe(this.limits.perKey)}).`, retryAfterMs: k.retryAfterMs };
    const d = this.perDid.take(key.did, now);
    if (!d.ok) return { code: "rate_limit_exceeded", message: `Too many requests for this account (at most ${describe(this.limits.perDid)}, over all its keys).`, retryAfterMs: d.retryAfterMs };
    this.perKey.take(key.id, now);
    return null;
  }

  /** A running-job slot for `did`, or null when it already runs `concurrentPerDid`. */
  job(did: string): (() => void) | null {
    return this.running.acquire(did);
  }
}

function describe(r: RateSpec): string {
  return `${r.burst} at once, then ${r.perSecond} a second`;
}
