// The exchange's minted-token and patronage records: grants (one per DID, ever), refreshes (at
// most one per cadence) and patronage shares (largest remainder of the period's pool). Checked on
// their own here; fed to the pure ledger (grants/refreshes as facts) and compared with what it
// derives in audit.ts.
import type { ExportedRecord } from "@cocore/atproto";
import { compareBytes, grantKey, MS_PER_MINUTE, patronagePool, refreshKey, type GrantFactEvent, type LedgerPolicy, type PeriodResult, type RefreshFactEvent } from "@cocore/protocol";
import type { Discrepancy } from "./codes.ts";
import { int, iso, obj, str, time } from "./fields.ts";

type Report = (d: Discrepancy) => void;

export interface MintFacts {
  events: (GrantFactEvent | RefreshFactEvent)[];
  /** Ledger keys of the facts fed (a derived grant/refresh under another key was never published). */
  keys: Set<string>;
}

interface Mint {
  rec: ExportedRecord;
  did: string;
  amount: number;
  at: number;
}

function mints(records: ExportedRecord[], kind: string, report: Report): Mint[] {
  const out: Mint[] = [];
  for (const rec of records) {
    const did = str(rec.value, "recipient");
    const amount = int(rec.value, "amount");
    const at = time(rec.value, "createdAt");
    if (did === undefined || amount === undefined || at === undefined) {
      report({ code: "record-invalid", subject: rec.uri, expected: null, actual: null, message: `${kind} record lacks recipient, amount or createdAt` });
      continue;
    }
    out.push({ rec, did, amount, at });
  }
  return out.sort((a, b) => a.at - b.at || compareBytes(a.rec.uri, b.rec.uri));
}

/**
 * Grants and refreshes: duplicates, amounts and cadence; returns the facts to feed the ledger.
 * `firstTouch` is each DID's earliest settled receipt (ms): a grant is fed at that time when the
 * record is later, because an exchange that heard of the DID first through a later touch (a
 * balance read processed before the receipt arrived) dates its grant by arrival — documented in
 * packages/exchange/README.md — while the rules place the one grant at the first touch in
 * ledger time. Amount and uniqueness are what make a grant right; its date within that window
 * moves no final balance.
 */
export function checkMints(
  grantRecords: ExportedRecord[],
  refreshRecords: ExportedRecord[],
  policy: LedgerPolicy,
  firstTouch: ReadonlyMap<string, number>,
  report: Report,
): MintFacts {
  const events: MintFacts["events"] = [];
  const keys = new Set<string>();
  const grantAt = new Map<string, number>();
  const grants = new Map<string, Mint[]>();
  for (const g of mints(grantRecords, "tokenGrant", report)) grants.set(g.did, [...(grants.get(g.did) ?? []), g]);
  for (const [did, list] of grants) {
    const first = list[0]!;
    // The earliest grant is the one the rules could have made; any other is a second grant.
    if (list.length > 1) {
      report({
        code: "grant-duplicate",
        subject: did,
        expected: 1,
        actual: list.map((g) => g.rec.uri),
        message: `${list.length} tokenGrant records for ${did}; a DID is granted once, ever`,
      });
    }
    for (const g of list) {
      if (g.amount !== policy.tokenGrant) {
        report({ code: "grant-amount-mismatch", subject: g.rec.uri, expected: policy.tokenGrant, actual: g.amount, message: `grant of ${g.amount} to ${did}; the policy grants ${policy.tokenGrant}` });
      }
    }
    grantAt.set(did, first.at);
    events.push({ type: "grant", did, amount: first.amount, at: iso(Math.min(first.at, firstTouch.get(did) ?? first.at)) });
    keys.add(grantKey(did));
  }

  const refreshes = new Map<string, Mint[]>();
  for (const r of mints(refreshRecords, "tokenRefresh", report)) refreshes.set(r.did, [...(refreshes.get(r.did) ?? []), r]);
  const rule = policy.refresh;
  for (const [did, list] of refreshes) {
    let last = grantAt.get(did);
    for (const [i, r] of list.entries()) {
      if (i > 0 && list[i - 1]!.at === r.at) {
        report({ code: "refresh-duplicate", subject: r.rec.uri, expected: null, actual: r.rec.uri, message: `a second tokenRefresh for ${did} at ${iso(r.at)}` });
        continue;
      }
      const expectedAmount = rule?.amountPerDid ?? 0;
      if (!rule || r.amount !== expectedAmount) {
        report({
          code: "refresh-amount-mismatch",
          subject: r.rec.uri,
          expected: rule ? expectedAmount : null,
          actual: r.amount,
          message: rule ? `refresh of ${r.amount} to ${did}; the policy refreshes ${expectedAmount}` : `refresh of ${r.amount} to ${did} under a policy without refreshes`,
        });
      }
      if (rule && (last === undefined || r.at - last < rule.cadenceMinutes * MS_PER_MINUTE)) {
        report({
          code: "refresh-early",
          subject: r.rec.uri,
          expected: last === undefined ? "a grant first" : iso(last + rule.cadenceMinutes * MS_PER_MINUTE),
          actual: iso(r.at),
          message: last === undefined ? `refresh for ${did} before any grant` : `refresh for ${did} less than ${rule.cadenceMinutes} minutes after the previous one`,
        });
      }
      last = r.at;
      events.push({ type: "refresh", did, amount: r.amount, at: iso(r.at) });
      keys.add(refreshKey(did, r.at));
    }
  }
  return { events, keys };
}

export interface PublishedShare {
  rec: ExportedRecord;
  start: string;
  end: string;
  did: string;
  credited: number;
  score: number;
  total: number;
  treasuryBefore: number;
}

/** tokenPatronage records, parsed; the latest period end among them (the auditor ticks at least that far). */
export function parsePatronage(records: ExportedRecord[], report: Report): { shares: PublishedShare[]; lastEnd: number | undefined } {
  const shares: PublishedShare[] = [];
  let lastEnd: number | undefined;
  for (const rec of records) {
    const v = rec.value;
    const period = obj(v, "period");
    const startMs = time(period, "start");
    const endMs = time(period, "end");
    const did = str(v, "recipient");
    const credited = int(v, "tokensCredited");
    const score = int(v, "patronageScore");
    const total = int(v, "totalPatronage");
    const treasuryBefore = int(v, "treasuryBefore");
    if (startMs === undefined || endMs === undefined || did === undefined || credited === undefined || score === undefined || total === undefined || treasuryBefore === undefined) {
      report({ code: "record-invalid", subject: rec.uri, expected: null, actual: null, message: "tokenPatronage record lacks a period, recipient or amounts" });
      continue;
    }
    shares.push({ rec, start: iso(startMs), end: iso(endMs), did, credited, score, total, treasuryBefore });
    lastEnd = Math.max(lastEnd ?? endMs, endMs);
  }
  return { shares, lastEnd };
}

/**
 * Each published period on its own terms: shares sum to the pool its treasuryBefore implies, and
 * the split is largest remainder (floor shares, the leftover tokens to the largest remainders,
 * ties by DID). Members whose share rounded to 0 have no record, so their remainders are unseen:
 * the ranking is checked among the published recipients.
 */
export function checkPublishedPeriods(shares: PublishedShare[], policy: LedgerPolicy, derived: Map<string, PeriodResult>, report: Report): void {
  const byStart = new Map<string, PublishedShare[]>();
  for (const s of shares) byStart.set(s.start, [...(byStart.get(s.start) ?? []), s]);
  for (const [start, list] of byStart) {
    const { treasuryBefore, total } = list[0]!;
    if (list.some((s) => s.treasuryBefore !== treasuryBefore || s.total !== total)) {
      report({
        code: "patronage-split-mismatch",
        subject: start,
        expected: "one treasuryBefore and totalPatronage per period",
        actual: list.map((s) => ({ uri: s.rec.uri, treasuryBefore: s.treasuryBefore, totalPatronage: s.total })),
        message: `the period starting ${start} is published with different treasuryBefore/totalPatronage values`,
      });
      continue;
    }
    const sum = list.reduce((t, s) => t + s.credited, 0);
    const pool = derived.get(start)?.pool ?? patronagePool(treasuryBefore, policy.patronage?.fractionBps ?? 0);
    if (sum !== pool) {
      report({ code: "patronage-sum-mismatch", subject: start, expected: pool, actual: sum, message: `shares of the period starting ${start} sum to ${sum}, the pool is ${pool}` });
      continue;
    }
    if (total <= 0 || list.some((s) => s.score <= 0)) {
      report({ code: "patronage-split-mismatch", subject: start, expected: "positive scores", actual: list.map((s) => s.score), message: `period ${start} credits members without patronage` });
      continue;
    }
    const rows = list.map((s) => {
      const exact = BigInt(pool) * BigInt(s.score);
      return { s, base: exact / BigInt(total), rem: exact % BigInt(total) };
    });
    const extra = BigInt(pool) - rows.reduce((t, r) => t + r.base, 0n);
    const wrong = rows.filter((r) => BigInt(r.s.credited) !== r.base && BigInt(r.s.credited) !== r.base + 1n);
    const bumped = rows.filter((r) => BigInt(r.s.credited) === r.base + 1n);
    const ranked = [...rows].sort((a, b) => (a.rem === b.rem ? compareBytes(a.s.did, b.s.did) : a.rem > b.rem ? -1 : 1));
    const topRanked = new Set(ranked.slice(0, bumped.length).map((r) => r.s.did));
    if (wrong.length > 0 || BigInt(bumped.length) !== extra || bumped.some((r) => !topRanked.has(r.s.did))) {
      report({
        code: "patronage-split-mismatch",
        subject: start,
        expected: rows.map((r) => ({ did: r.s.did, floor: Number(r.base) })),
        actual: list.map((s) => ({ did: s.did, credited: s.credited })),
        message: `the period starting ${start} is not split by largest remainder`,
      });
    }
  }
}

/** Published shares against the pure ledger's distribution of the same periods. */
export function comparePatronage(shares: PublishedShare[], derived: PeriodResult[], report: Report): void {
  const published = new Map<string, PublishedShare>();
  for (const s of shares) {
    const key = `${s.start} ${s.did}`;
    if (published.has(key)) {
      report({ code: "patronage-unexpected", subject: s.rec.uri, expected: null, actual: s.credited, message: `a second tokenPatronage record for ${s.did} in the period starting ${s.start}` });
      continue;
    }
    published.set(key, s);
  }
  for (const p of derived) {
    for (const share of p.shares) {
      if (share.credited < 1) continue;
      const key = `${p.start} ${share.did}`;
      const s = published.get(key);
      published.delete(key);
      const expected = { tokensCredited: share.credited, patronageScore: share.score, totalPatronage: p.totalScore, treasuryBefore: p.treasuryBefore };
      if (!s) {
        report({ code: "patronage-missing", subject: p.start, expected: { recipient: share.did, ...expected }, actual: null, message: `no tokenPatronage record for ${share.did} in the period starting ${p.start}` });
        continue;
      }
      const actual = { tokensCredited: s.credited, patronageScore: s.score, totalPatronage: s.total, treasuryBefore: s.treasuryBefore };
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        report({ code: "patronage-mismatch", subject: s.rec.uri, expected, actual, message: `patronage for ${share.did} in the period starting ${p.start} differs from the rules` });
      }
    }
  }
  for (const s of published.values()) {
    report({ code: "patronage-unexpected", subject: s.rec.uri, expected: null, actual: s.credited, message: `tokenPatronage for ${s.did} in the period starting ${s.start}, which the rules do not credit` });
  }
}
