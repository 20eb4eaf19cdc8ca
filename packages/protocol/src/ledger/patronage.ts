// Patronage distribution (PROTOCOL.md §5.4, §6). Periods are half-open [start, end) counted from
// the policy's createdAt. Both inputs of a period — the treasury balance and the scores — are taken
// as of the period's end from movement times, so a late tick distributes the same amounts.
import { MS_PER_DAY, type LedgerPolicy } from "./policy.ts";
import { balanceAt, balanceOf, type LedgerState } from "./state.ts";
import { LedgerError, type Movement, type PatronageShare, type PeriodResult } from "./types.ts";
import { compareBytes, iso, safeAdd, toSafe } from "./util.ts";

export interface PeriodBounds {
  index: number;
  start: number;
  end: number;
}

export function periodBounds(policy: LedgerPolicy, index: number): PeriodBounds {
  if (!policy.patronage) throw new LedgerError("invalid-input", "the policy has no patronage rule");
  const length = policy.patronage.cadenceDays * MS_PER_DAY;
  const start = policy.createdAt + index * length;
  return { index, start, end: start + length };
}

/** How many periods have ended by `atMs` (end ≤ atMs). */
export function endedPeriodCount(policy: LedgerPolicy, atMs: number): number {
  if (!policy.patronage) return 0;
  const length = policy.patronage.cadenceDays * MS_PER_DAY;
  if (atMs < policy.createdAt + length) return 0;
  return Math.floor((atMs - policy.createdAt) / length);
}

/** floor(treasuryBefore · fractionBps / 10000). */
export function patronagePool(treasuryBefore: number, fractionBps: number): number {
  if (treasuryBefore <= 0) return 0;
  return toSafe((BigInt(treasuryBefore) * BigInt(fractionBps)) / 10_000n, "patronage pool");
}

/**
 * Largest-remainder split of `pool` in proportion to `scores` (members with score 0 take no part):
 * floor(pool·score/total) each, then one more token to each of the largest remainders, ties to
 * the DID first in byte order. Σ credited = pool exactly whenever some score is positive.
 */
export function splitPool(pool: number, scores: ReadonlyMap<string, number>): PatronageShare[] {
  const members = [...scores].filter(([, s]) => s > 0).sort(([a], [b]) => compareBytes(a, b));
  if (members.length === 0) return [];
  const total = members.reduce((t, [, s]) => t + BigInt(s), 0n);
  const p = BigInt(pool);
  const rows = members.map(([did, score]) => {
    const exact = p * BigInt(score);
    return { did, score, credited: exact / total, remainder: exact % total };
  });
  let left = p - rows.reduce((t, r) => t + r.credited, 0n);
  const byRemainder = [...rows].sort((a, b) =>
    a.remainder === b.remainder ? compareBytes(a.did, b.did) : a.remainder > b.remainder ? -1 : 1,
  );
  for (const r of byRemainder) {
    if (left === 0n) break;
    r.credited += 1n;
    left -= 1n;
  }
  return rows.map((r) => ({ did: r.did, score: r.score, credited: toSafe(r.credited, "patronage share") }));
}

export function patronageKey(periodStartMs: number, did: string): string {
  return `patronage:${iso(periodStartMs)}:${did}`;
}

/**
 * The pure distribution of one period, given its treasury balance as of its end and its scores.
 * `available` caps the pool at what the treasury holds now (it can only be lower than
 * treasuryBefore if the treasury itself paid for receipts after the period ended).
 */
export function distributePeriod(input: {
  policy: LedgerPolicy;
  period: PeriodBounds;
  treasuryBefore: number;
  scores: ReadonlyMap<string, number>;
  available: number;
}): { result: PeriodResult; movements: Movement[] } {
  const { policy, period, treasuryBefore, scores } = input;
  if (!policy.patronage) throw new LedgerError("invalid-input", "the policy has no patronage rule");
  let totalScore = 0;
  for (const s of scores.values()) if (s > 0) totalScore = safeAdd(totalScore, s, "total patronage");
  // Without patrons there is nobody to distribute to: the whole balance stays as reserve.
  const pool = totalScore === 0 ? 0 : Math.min(patronagePool(treasuryBefore, policy.patronage.fractionBps), Math.max(0, input.available));
  const shares = splitPool(pool, scores);
  const at = iso(period.end);
  const movements: Movement[] = shares
    .filter((s) => s.credited > 0)
    .map((s) => ({ key: patronageKey(period.start, s.did), kind: "patronage" as const, from: policy.treasury, to: s.did, amount: s.credited, at }));
  return {
    result: { start: iso(period.start), end: at, pool, totalScore, treasuryBefore, shares },
    movements,
  };
}

/**
 * Scores from the state's settled receipts: what each member was charged as requester plus what
 * it was paid as provider, over receipts settled within [start, end), self-loops and pro bono
 * excluded. The treasury distributes patronage and so does not earn it.
 */
export function periodScores(state: LedgerState, policy: LedgerPolicy, period: PeriodBounds): Map<string, number> {
  const scores = new Map<string, number>();
  const add = (did: string, n: number) => {
    if (did === policy.treasury) return;
    scores.set(did, safeAdd(scores.get(did) ?? 0, n, "patronage score"));
  };
  for (const r of state.receipts.values()) {
    const s = r.settlement;
    if (r.status !== "settled" || !s || s.kind !== "transfer") continue;
    if (s.settledAt < period.start || s.settledAt >= period.end) continue;
    add(r.requester, s.charged);
    add(r.provider, s.payout);
  }
  return scores;
}

/** Distributes every not-yet-distributed period that has ended by `atMs`, in order, in place. */
export function distributeDueInState(
  state: LedgerState,
  policy: LedgerPolicy,
  atMs: number,
  apply: (m: Movement, atMs: number) => void,
): { periods: PeriodResult[]; movements: Movement[] } {
  const periods: PeriodResult[] = [];
  const movements: Movement[] = [];
  const due = endedPeriodCount(policy, atMs);
  while (state.periodsDistributed < due) {
    const period = periodBounds(policy, state.periodsDistributed);
    const { result, movements: ms } = distributePeriod({
      policy,
      period,
      // Negative only if the treasury DID itself paid for receipts after an earlier period's
      // backdated distribution; treasuryBefore is a count (≥ 0) in tokenPatronage records.
      treasuryBefore: Math.max(0, balanceAt(state, policy.treasury, period.end)),
      scores: periodScores(state, policy, period),
      available: balanceOf(state, policy.treasury),
    });
    for (const m of ms) apply(m, period.end);
    periods.push(result);
    movements.push(...ms);
    state.periodsDistributed += 1;
  }
  return { periods, movements };
}
