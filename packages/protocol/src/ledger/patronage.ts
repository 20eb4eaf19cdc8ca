// Patronage distribution (PROTOCOL.md §5.4, §6; README: "Patronage"): the pool of a period and its
// largest-remainder split. The machine calls distributePeriod at the period's end, in log order, so
// the treasury balance it passes is the treasury as of the end.
import type { PeriodBounds } from "./timeline.ts";
import { LedgerError, type Movement, type PatronageShare, type PeriodResult } from "./types.ts";
import { compareBytes, iso, safeAdd, toSafe } from "./util.ts";

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
 * The pure distribution of one period (under the policy that governs it), given the treasury
 * balance at its end and its scores. `available` caps the pool at what the treasury holds (equal
 * to treasuryBefore in log order; lower only when the treasury's own DID paid for receipts).
 */
export function distributePeriod(input: {
  period: PeriodBounds;
  treasuryBefore: number;
  scores: ReadonlyMap<string, number>;
  available: number;
}): { result: PeriodResult; movements: Movement[] } {
  const { period, treasuryBefore, scores } = input;
  const policy = period.policy.ledger;
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

