// The exchange's tables as the ledger machine's rows: the bulk statement specs, and the mapping
// between a table row and a machine row (JSON columns, ISO times, bigints through toInt).
import { fromJsonRecord, type AccountRow, type HoldRow, type Movement, type ReceiptRow, type RecordRow } from "@cocore/protocol";
import type { BulkSpec, LookupSpec } from "../db/bulk.ts";
import type { ReceiptsTable, RecordsTable, TransfersTable } from "../db/schema.ts";
import { toInt } from "../ints.ts";

export const iso = (ms: number) => new Date(ms).toISOString();
const ms = (t: string | null) => (t === null ? null : Date.parse(t));
const intOrNull = (v: number | string | bigint | null) => (v === null ? null : toInt(v));

export const RECORDS: BulkSpec = {
  table: "records",
  columns: [["uri", "text"], ["did", "text"], ["collection", "text"], ["rkey", "text"], ["cid", "text"], ["value", "text"], ["status", "text"], ["reason", "text"], ["first_seen", "text"], ["rev", "text"]],
  conflict: { target: ["uri"], update: ["cid", "value", "status", "reason", "rev"] },
};
export const RECORD_BY_URI: LookupSpec = { table: "records", columns: ["uri", "did", "collection", "rkey", "cid", "value", "status", "reason", "first_seen", "rev"], keys: ["uri"] };

export const RECEIPT_COLUMNS = ["cid", "job_uri", "requester", "provider", "status", "reason", "waiting_for", "findings", "completed_at", "kind", "settled_at", "charged", "payout", "fee", "eff", "facts", "policy_uri"] as const;
const INT_COLUMNS = new Set(["charged", "payout", "fee", "eff"]);
export const RECEIPTS: BulkSpec = {
  table: "receipts",
  columns: [["uri", "text"], ...RECEIPT_COLUMNS.map((c) => [c, INT_COLUMNS.has(c) ? "int8" : "text"] as const)],
  // Settled is final: a settled row changes only into another settled row (its claims restored).
  conflict: { target: ["uri"], update: RECEIPT_COLUMNS, where: `"receipts"."status" <> 'settled' or excluded."status" = 'settled'` },
};
export const RECEIPT_BY_URI: LookupSpec = { table: "receipts", columns: ["uri", ...RECEIPT_COLUMNS], keys: ["uri"] };
export const WAITING_FOR: LookupSpec = { table: "receipts", columns: ["uri", "waiting_for", "status"], keys: ["waiting_for"], where: "status in ('pending', 'rejected')" };

export const ACCOUNTS: BulkSpec = {
  table: "accounts",
  columns: [["did", "text"], ["balance", "int8"], ["held", "int8"], ["grant_amount", "int8"], ["granted_at", "text"], ["last_refresh_at", "text"]],
  conflict: { target: ["did"], update: ["balance", "held", "grant_amount", "granted_at", "last_refresh_at"] },
};
export const ACCOUNT_BY_DID: LookupSpec = { table: "accounts", columns: ["did", "balance", "held", "grant_amount", "granted_at", "last_refresh_at"], keys: ["did"] };

export const CLAIMS: BulkSpec = { table: "claims", columns: [["key", "text"], ["receipt", "text"], ["auth_uri", "text"], ["job_uri", "text"]], conflict: { target: ["key"] } };
/** A job's claim is its settled receipt (the receipts row is the claim; nothing else is stored). */
export const SETTLED_BY_JOB: LookupSpec = { table: "receipts", columns: ["uri", "job_uri"], keys: ["job_uri"], where: "status = 'settled'" };
export const CLAIM_BY_KEY: LookupSpec = { table: "claims", columns: ["key", "receipt", "auth_uri", "job_uri"], keys: ["key"] };
export const SCORES: BulkSpec = { table: "scores", columns: [["period_start", "int8"], ["did", "text"], ["score", "int8"]], conflict: { target: ["period_start", "did"], add: ["score"] } };
export const BUDGETS: BulkSpec = { table: "budgets", columns: [["auth_uri", "text"], ["used", "int8"]], conflict: { target: ["auth_uri"], update: ["used"] } };
export const HOLDS: BulkSpec = {
  table: "holds",
  columns: [["key", "text"], ["job_uri", "text"], ["requester", "text"], ["amount", "int8"], ["expires_at", "text"], ["state", "text"], ["auth_uri", "text"], ["nonce_key", "text"], ["provider", "text"], ["machine_key", "text"]],
  conflict: { target: ["key"], update: ["requester", "amount", "expires_at", "state", "auth_uri", "nonce_key", "provider", "machine_key"] },
};
export const HOLD_BY_JOB: LookupSpec = { table: "holds", columns: ["job_uri", "requester", "amount", "expires_at", "state", "auth_uri", "nonce_key", "provider", "machine_key"], keys: ["job_uri"] };
export const TRANSFERS: BulkSpec = {
  table: "transfers",
  columns: [["key", "text"], ["kind", "text"], ["from_did", "text"], ["to_did", "text"], ["amount", "int8"], ["at", "text"], ["ref", "text"]],
  conflict: { target: ["key"] },
};
export const TRANSFER_BY_KEY: LookupSpec = { table: "transfers", columns: ["key", "kind", "from_did", "to_did", "amount", "at"], keys: ["key"] };
export const OUTBOX: BulkSpec = {
  table: "outbox",
  columns: [["key", "text"], ["seq", "int8"], ["collection", "text"], ["rkey", "text"], ["record", "text"], ["published_uri", "text"], ["published_cid", "text"]],
};
export const OUTBOX_BY_KEY: LookupSpec = { table: "outbox", columns: ["key", "collection", "rkey", "record"], keys: ["key"] };

export type HoldsRow = {
  job_uri: string;
  requester: string;
  amount: number | string;
  expires_at: string;
  state: string;
  auth_uri: string | null;
  nonce_key: string | null;
  provider?: string | null;
  machine_key?: string | null;
};

export function holdOf(r: HoldsRow): HoldRow {
  return {
    job: r.job_uri,
    requester: r.requester,
    amount: toInt(r.amount, "hold"),
    expiresAt: Date.parse(r.expires_at),
    state: r.state as HoldRow["state"],
    authUri: r.auth_uri,
    nonceKey: r.nonce_key,
    provider: r.provider ?? null,
    machineKey: r.machine_key ?? null,
  };
}

export function receiptOf(r: Pick<ReceiptsTable, "uri" | (typeof RECEIPT_COLUMNS)[number]>): ReceiptRow {
  return {
    uri: r.uri,
    cid: r.cid,
    jobUri: r.job_uri,
    requester: r.requester,
    provider: r.provider,
    status: r.status as ReceiptRow["status"],
    reason: r.reason,
    waitingFor: r.waiting_for,
    findings: r.findings ? (JSON.parse(r.findings) as ReceiptRow["findings"]) : null,
    completedAt: ms(r.completed_at),
    eff: intOrNull(r.eff),
    facts: r.facts ? (JSON.parse(r.facts) as ReceiptRow["facts"]) : null,
    settlement:
      r.status === "settled" && r.kind !== null && r.settled_at !== null
        ? { kind: r.kind as "transfer", charged: toInt(r.charged ?? 0), payout: toInt(r.payout ?? 0), fee: toInt(r.fee ?? 0), settledAt: Date.parse(r.settled_at), policyUri: r.policy_uri ?? "" }
        : null,
  };
}

export function receiptCells(r: ReceiptRow): (string | number | null)[] {
  const s = r.settlement;
  return [
    r.uri,
    r.cid,
    r.jobUri,
    r.requester,
    r.provider,
    r.status,
    r.reason,
    r.waitingFor,
    r.findings ? JSON.stringify(r.findings) : null,
    r.completedAt === null ? null : iso(r.completedAt),
    s?.kind ?? null,
    s ? iso(s.settledAt) : null,
    s?.charged ?? null,
    s?.payout ?? null,
    s?.fee ?? null,
    r.eff,
    // A settled receipt's facts are in its own columns and its settlement; parked and queued ones
    // need theirs when they are decided.
    r.facts && r.status !== "settled" ? JSON.stringify(r.facts) : null,
    s?.policyUri ?? null,
  ];
}

export function recordOf(r: RecordsTable): RecordRow {
  return {
    uri: r.uri,
    did: r.did,
    collection: r.collection,
    rkey: r.rkey,
    cid: r.cid,
    value: fromJsonRecord(JSON.parse(r.value)) as Record<string, unknown>,
    status: r.status as RecordRow["status"],
    reason: r.reason,
    firstSeen: Date.parse(r.first_seen),
    rev: r.rev,
  };
}

export function accountOf(r: { did: string; balance: number | string; held: number | string; grant_amount: number | string | null; granted_at: string | null; last_refresh_at: string | null }): AccountRow {
  return {
    did: r.did,
    balance: toInt(r.balance, "balance"),
    held: toInt(r.held, "held"),
    grantedAt: ms(r.granted_at),
    grantAmount: intOrNull(r.grant_amount),
    lastRefreshAt: ms(r.last_refresh_at),
  };
}

export function samePayload(row: Pick<TransfersTable, "kind" | "from_did" | "to_did" | "amount" | "at">, m: Movement): boolean {
  return row.kind === m.kind && row.from_did === m.from && row.to_did === m.to && toInt(row.amount, "amount") === m.amount && row.at === m.at;
}

