// Token buckets per key (an API key, a DID, an address): each key may spend `burst` at once and
// earns `perSecond` back, continuously. Pure: the caller passes the time, so tests and the
// services share one deterministic rule.

/** How much a key may spend at once (`burst`) and how fast it earns it back. */
export interface RateSpec {
  burst: number;
  perSecond: number;
}

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * `maxKeys` bounds memory under a flood of distinct keys: past it, buckets that have refilled
   * are forgotten first (forgetting a full bucket changes nothing), then the longest idle.
   */
  constructor(
    readonly spec: RateSpec,
    private readonly maxKeys = 100_000,
  ) {
    if (!(spec.burst >= 1) || !(spec.perSecond > 0) || !Number.isFinite(spec.burst) || !Number.isFinite(spec.perSecond)) {
      throw new RangeError(`a rate needs burst ≥ 1 and perSecond > 0 (got burst ${spec.burst}, perSecond ${spec.perSecond})`);
    }
  }

  /** Spends `cost` tokens of `key` at `now` (ms) if it has them; otherwise says when it will. */
  take(key: string, now: number, cost = 1): TakeResult {
    const b = this.level(key, now);
    const result = this.judge(b.tokens, cost);
    if (result.ok) b.tokens -= cost;
    this.store(key, b);
    return result.ok ? { ok: true, remaining: Math.floor(b.tokens) } : result;
  }

  /** What `take` would answer, spending nothing (to check several budgets before spending any). */
  check(key: string, now: number, cost = 1): TakeResult {
    return this.judge(this.level(key, now).tokens, cost);
  }

  /** Tokens `key` has at `now`, without spending any. */
  available(key: string, now: number): number {
    return this.level(key, now).tokens;
  }

  get size(): number {
    return this.buckets.size;
  }

  private judge(tokens: number, cost: number): TakeResult {
    if (cost > this.spec.burst) return { ok: false, retryAfterMs: Number.POSITIVE_INFINITY };
    if (tokens >= cost) return { ok: true, remaining: Math.floor(tokens - cost) };
    return { ok: false, retryAfterMs: Math.ceil(((cost - tokens) / this.spec.perSecond) * 1000) };
  }

  private level(key: string, now: number): Bucket {
    const b = this.buckets.get(key);
    if (!b) return { tokens: this.spec.burst, at: now };
    // A clock that steps back earns nothing (and costs nothing).
    const earned = (Math.max(0, now - b.at) / 1000) * this.spec.perSecond;
    return { tokens: Math.min(this.spec.burst, b.tokens + earned), at: Math.max(b.at, now) };
  }

  private store(key: string, b: Bucket): void {
    // Re-inserting keeps the map in order of last use, so the first entries are the longest idle.
    this.buckets.delete(key);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.evict(b.at);
  }

  private evict(now: number): void {
    for (const [k, b] of this.buckets) {
      if (this.buckets.size <= this.maxKeys) return;
      if (b.tokens + ((now - b.at) / 1000) * this.spec.perSecond >= this.spec.burst) this.buckets.delete(k);
    }
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) return;
      this.buckets.delete(k);
    }
  }
}
