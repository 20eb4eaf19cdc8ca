// `cocore exchange simulate`, composed: the real exchange engine over the event stream
// (@cocore/exchange openSimulation), then the auditor over the records delivered plus those the
// exchange would publish, judged exactly as `cocore audit` judges a network.
import { auditRecords, type AuditRecord, type Discrepancy, type Warning } from "@cocore/auditor";
import { openSimulation } from "@cocore/exchange";
import { fromJsonRecord, recordCid, runSimulation, type SigningKey, type SimEvent } from "@cocore/protocol";

export interface SimulateResult {
  balances: Record<string, number>;
  treasury: number;
  receipts: { uri: string; status: string; codes: string[] }[];
  admissions: { job: string; ok: boolean; code?: string }[];
  published: { uri: string; value: Record<string, unknown> }[];
  audit: { ok: boolean; discrepancies: Discrepancy[]; warnings: Warning[] };
}

/** The latest version delivered of every record (deleted ones left out), in lex form. */
export function deliveredRecords(events: readonly SimEvent[]): AuditRecord[] {
  const latest = new Map<string, Record<string, unknown> | null>();
  for (const e of events) {
    if (e.type === "record") latest.set(e.uri, fromJsonRecord(e.value) as Record<string, unknown>);
    else if (e.type === "delete") latest.set(e.uri, null);
  }
  const out: AuditRecord[] = [];
  for (const [uri, value] of latest) if (value) out.push({ uri, cid: recordCid(value) ?? "", value });
  return out;
}

/** How long a receipt or a period may wait before its absence counts: `cocore audit`'s default. */
export const AUDIT_GRACE_MS = 10 * 60_000;

export async function simulate(events: readonly SimEvent[], policyValue: Record<string, unknown>, opts: { db?: string; keys?: SigningKey[]; auditGraceMs?: number } = {}): Promise<SimulateResult> {
  const sim = await openSimulation(policyValue, opts);
  try {
    const admissions = await runSimulation(events, sim.target, sim.policy.ledger.createdAt);
    const out = await sim.output();
    const ownUris = new Set(out.published.map((p) => p.uri));
    const records = [
      ...deliveredRecords(events).filter((r) => !ownUris.has(r.uri)),
      ...out.published.map((p) => {
        const value = fromJsonRecord(p.value) as Record<string, unknown>;
        return { uri: p.uri, cid: recordCid(value) ?? "", value };
      }),
    ];
    const audit = await auditRecords({
      exchangeDid: sim.policy.ledger.exchange,
      records,
      now: sim.ctx.now(),
      graceMs: opts.auditGraceMs ?? AUDIT_GRACE_MS,
      exchangePublicKey: sim.key.publicKey,
      statusOf: (uri) => sim.receiptStatus(uri),
      reportedBalances: out.balances,
    });
    return { ...out, admissions, audit: { ok: audit.discrepancies.length === 0, discrepancies: audit.discrepancies, warnings: audit.warnings } };
  } finally {
    await sim.close();
  }
}
