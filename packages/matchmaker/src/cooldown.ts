// Cool-down for machines and providers that keep failing. Every failure the matchmaker can pin on
// a machine (a drop mid-job, a missed preflight, a provider_error, an engine_error refusal, going
// silent, a connection that registers and drops again at once) counts; from `threshold` failures
// in a row on, the machine is kept out of routing for a back-off that doubles with each further
// failure (base, 2·base, 4·base… capped at maxMs). A completed job, or a quiet period with no
// failure after the cooling ended, forgets the failures. No I/O: time comes from the injected
// clock, so the rule is tested without waiting.

export interface CooldownPolicy {
  /** Failures in a row before cooling starts (fewer: a machine that reconnects at once keeps its jobs coming). */
  threshold: number;
  /** The first cooling period. */
  baseMs: number;
  /** The longest cooling period. */
  maxMs: number;
  /** A key with no failure for this long after its cooling ended starts over from zero. */
  quietMs: number;
  /** A registered connection that drops (without `bye`) within this of registering counts as a failure: register churn. */
  churnMs: number;
  /** Failures in a row across one provider's machines before the provider as a whole cools (a new machine key per restart must not escape). */
  providerThreshold: number;
}

export const DEFAULT_COOLDOWN_POLICY: CooldownPolicy = {
  threshold: 3,
  baseMs: 5_000,
  maxMs: 5 * 60_000,
  quietMs: 2 * 60_000,
  churnMs: 30_000,
  providerThreshold: 6,
};

export interface CooldownState {
  /** Failures in a row. */
  failures: number;
  lastFailureAt: number;
  /** Not routed to before this (0: never cooled). */
  coolingUntil: number;
}

/** The rule for one kind of key: failures in a row before cooling, and the back-off's bounds. */
export type BackoffRule = Pick<CooldownPolicy, "threshold" | "baseMs" | "maxMs" | "quietMs">;

/** How long `failures` in a row cool a key for: 0 below the threshold, then doubling up to the cap. */
export function backoffMs(failures: number, rule: BackoffRule): number {
  if (failures < rule.threshold) return 0;
  // The exponent is bounded so that a long crash loop cannot overflow to Infinity·0 = NaN.
  return Math.min(rule.maxMs, rule.baseMs * 2 ** Math.min(failures - rule.threshold, 52));
}

/** Whether a key has been healthy long enough (since its last failure and its cooling) to start over. */
export function isQuiet(s: CooldownState, now: number, rule: BackoffRule): boolean {
  return now >= Math.max(s.lastFailureAt, s.coolingUntil) + rule.quietMs;
}

/** The state after one more failure at `now`. */
export function afterFailure(s: CooldownState | undefined, now: number, rule: BackoffRule): CooldownState {
  const failures = s && !isQuiet(s, now, rule) ? s.failures + 1 : 1;
  const back = backoffMs(failures, rule);
  // A failure never shortens a cooling already running (the clock may be read out of order).
  return { failures, lastFailureAt: now, coolingUntil: back > 0 ? Math.max(now + back, s?.coolingUntil ?? 0) : 0 };
}

/** Until when `s` keeps its key out of routing, or undefined when it does not now. */
export function coolingUntil(s: CooldownState | undefined, now: number): number | undefined {
  return s && s.coolingUntil > now ? s.coolingUntil : undefined;
}

/** Keys kept at most (an agent can mint machine keys): beyond it quiet keys go first, then the oldest. */
const MAX_KEYS = 10_000;

/** Cool-down states by key (a machine id, a provider DID), on an injected clock. */
export class Cooldowns {
  private readonly states = new Map<string, CooldownState>();

  constructor(
    readonly rule: BackoffRule,
    private readonly clock: () => number,
  ) {}

  /** One more failure of `key`; returns its new state. */
  fail(key: string): CooldownState {
    const now = this.clock();
    const s = afterFailure(this.states.get(key), now, this.rule);
    // Re-inserted so that the map's order is by last failure (the oldest is dropped first).
    this.states.delete(key);
    this.states.set(key, s);
    if (this.states.size > MAX_KEYS) this.shrink(now);
    return s;
  }

  /** `key` served a job: its failures are forgotten. */
  succeed(key: string): void {
    this.states.delete(key);
  }

  /** Until when `key` is cooling, or undefined when it is routable. */
  until(key: string): number | undefined {
    return coolingUntil(this.state(key), this.clock());
  }

  /** `key`'s failures in a row, undefined when it has none (or they were forgotten by a quiet period). */
  state(key: string): CooldownState | undefined {
    const s = this.states.get(key);
    if (s && isQuiet(s, this.clock(), this.rule)) {
      this.states.delete(key);
      return undefined;
    }
    return s;
  }

  /** Every key with failures on record, quiet ones forgotten first. */
  entries(): Array<[string, CooldownState]> {
    const now = this.clock();
    for (const [k, s] of this.states) if (isQuiet(s, now, this.rule)) this.states.delete(k);
    return [...this.states];
  }

  private shrink(now: number): void {
    for (const [k, s] of this.states) if (isQuiet(s, now, this.rule)) this.states.delete(k);
    for (const k of this.states.keys()) {
      if (this.states.size <= MAX_KEYS) break;
      this.states.delete(k);
    }
  }
}
