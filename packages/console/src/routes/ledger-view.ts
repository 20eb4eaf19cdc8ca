// The exchange's answers reshaped for people: its movements grouped into one row per job (what
// the member paid, was paid, and the fee), and the balance after each movement for the chart.
// Nothing here decides an amount: every number is one the exchange's ledger returned.
import { policyFromRecord } from "@cocore/protocol";
import type { HistoryRow, PolicySummary } from "../../web/types.ts";

export interface Movement {
  key: string;
  kind: string;
  from?: string;
  to?: string;
  amount: number;
  at: string;
  ref?: string;
  record?: string;
}

export function historyRows(did: string, movements: readonly Movement[]): HistoryRow[] {
  const rows: HistoryRow[] = [];
  const jobs = new Map<string, HistoryRow>();
  for (const m of movements) {
    if (m.ref && (m.kind === "charge" || m.kind === "payout" || m.kind === "fee")) {
      let row = jobs.get(m.ref);
      if (!row) {
        row = { kind: "job", at: m.at, spent: 0, earned: 0, fee: 0, receipt: m.ref, ...(m.record ? { record: m.record } : {}) };
        jobs.set(m.ref, row);
        rows.push(row);
      }
      if (m.from === did) {
        row.spent! += m.amount;
        if (m.key.endsWith(":fee")) row.fee! += m.amount;
      } else if (m.to === did) row.earned! += m.amount;
      continue;
    }
    if (m.kind === "grant" || m.kind === "refresh" || m.kind === "patronage") {
      rows.push({ kind: m.kind, at: m.at, amount: m.amount, ...(m.record ? { record: m.record } : {}) });
    }
  }
  return rows;
}

/** The balance after each movement, oldest first, walking back from the balance now. */
export function balanceSeries(did: string, balanceNow: number, newestFirst: readonly Movement[]): Array<{ at: string; balance: number }> {
  const out: Array<{ at: string; balance: number }> = [];
  let b = balanceNow;
  for (const m of newestFirst) {
    out.push({ at: m.at, balance: b });
    if (m.to === did) b -= m.amount;
    if (m.from === did) b += m.amount;
  }
  return out.reverse();
}

export function policySummary(p: { uri: string; value: Record<string, unknown> }): PolicySummary {
  const l = policyFromRecord(p.value);
  return {
    uri: p.uri,
    exchange: l.exchange,
    currency: l.currency,
    feeBps: l.feeBps,
    feeMinMinor: l.feeMinMinor,
    tokenGrant: l.tokenGrant,
    tokenFloor: l.tokenFloor,
    ...(l.refresh ? { refresh: l.refresh } : {}),
    ...(l.patronage ? { patronage: l.patronage } : {}),
    selfLoopFeeWaived: l.selfLoopFeeWaived,
    treasury: l.treasury,
    ...(typeof p.value.termsVersion === "string" ? { termsVersion: p.value.termsVersion } : {}),
    ...(typeof p.value.termsUri === "string" ? { termsUri: p.value.termsUri } : {}),
  };
}
