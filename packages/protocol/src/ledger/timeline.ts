// Policy history and the patronage calendar (README: "Policy history", "Patronage"). The policy in
// force at t is the one with the greatest createdAt ≤ t; the calendar starts at the first policy and
// never restarts when a policy changes.
import { recordCid } from "../cid.ts";
import { MS_PER_DAY, policyFromRecord, type LedgerPolicy } from "./policy.ts";
import type { PolicyRow } from "./store.ts";
import { LedgerError } from "./types.ts";
import { compareBytes } from "./util.ts";

export interface PolicyEntry extends PolicyRow {
  ledger: LedgerPolicy;
}

export interface PeriodBounds {
  index: number;
  start: number;
  /** Infinity: a period under a policy without patronage that no later policy ends. */
  end: number;
  /** The policy in force at the period's start, which governs it. */
  policy: PolicyEntry;
}

/**
 * A policy record as it was first published. Policies are immutable but for `active`, which an
 * exchange flips to false when it publishes a successor; settlements pin the version as it was,
 * active, and that version's CID is the flipped one's with `active` set back.
 */
export function policyAsPublished(value: Record<string, unknown>, cid: string): { value: Record<string, unknown>; cid: string } {
  if (value.active !== false) return { value, cid };
  const original = { ...value, active: true };
  return { value: original, cid: recordCid(original) ?? cid };
}

export class Timeline {
  private readonly entries: PolicyEntry[] = [];
  private periods: PeriodBounds[] = [];

  constructor(rows: readonly PolicyRow[] = []) {
    for (const r of rows) this.add(r);
  }

  /** Adds a policy (a row already present by uri is kept as first seen); returns whether it was new. */
  add(row: PolicyRow): boolean {
    if (this.entries.some((e) => e.uri === row.uri)) return false;
    const ledger = policyFromRecord(row.value);
    this.entries.push({ ...row, ledger });
    this.entries.sort((a, b) => a.createdAt - b.createdAt || compareBytes(rkeyOf(a.uri), rkeyOf(b.uri)));
    this.periods = [];
    return true;
  }

  get size(): number {
    return this.entries.length;
  }

  all(): readonly PolicyEntry[] {
    return this.entries;
  }

  /** The first policy's createdAt: where ledger time and the patronage calendar begin. */
  get genesis(): number {
    const first = this.entries[0];
    if (!first) throw new LedgerError("invalid-policy", "the exchange has no policy");
    return first.createdAt;
  }

  /** The policy in force at `t` (the first one for times before it). */
  at(t: number): PolicyEntry {
    let chosen = this.entries[0];
    if (!chosen) throw new LedgerError("invalid-policy", "the exchange has no policy");
    for (const e of this.entries) {
      if (e.createdAt <= t) chosen = e;
      else break;
    }
    return chosen;
  }

  byUri(uri: string): PolicyEntry | undefined {
    return this.entries.find((e) => e.uri === uri);
  }

  /** The newest policy (what admissions and new members meet now). */
  latest(): PolicyEntry {
    const last = this.entries[this.entries.length - 1];
    if (!last) throw new LedgerError("invalid-policy", "the exchange has no policy");
    return last;
  }

  /** Period `index` of the one calendar. */
  period(index: number): PeriodBounds {
    while (this.periods.length <= index) {
      const prev = this.periods[this.periods.length - 1];
      const start = prev ? prev.end : this.genesis;
      if (!Number.isFinite(start)) throw new LedgerError("invariant", "no period after an endless one");
      const policy = this.at(start);
      let end: number;
      if (policy.ledger.patronage) end = start + policy.ledger.patronage.cadenceDays * MS_PER_DAY;
      else end = this.entries.find((e) => e.createdAt > start)?.createdAt ?? Number.POSITIVE_INFINITY;
      this.periods.push({ index: this.periods.length, start, end, policy });
    }
    return this.periods[index]!;
  }
}

function rkeyOf(uri: string): string {
  return uri.slice(uri.lastIndexOf("/") + 1);
}
