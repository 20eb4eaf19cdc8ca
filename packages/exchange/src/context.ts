// What the ledger engine works with: the record operations it is fed, the policy and verifier in
// use, and the records it mints itself. Shared by record intake (engine.ts), receipt settlement
// (settle.ts), rebuilt facts (facts.ts) and the scheduler.
import { nextTid } from "@cocore/atproto";
import { NSID, recordCid, type ReceiptBundle, type VerifyResult } from "@cocore/protocol";
import type { LedgerDb } from "./db/open.ts";
import type { LedgerPolicy, Movement } from "./ledger.ts";
import type { PreparedChecks, PrepareOp } from "./verifier.ts";
import type { OutboxInsert } from "./uow.ts";

export interface IngestOp {
  action: "create" | "update" | "delete";
  uri: string;
  /** Absent for deletes. */
  cid?: string;
  /** Lex form; absent for deletes. */
  record?: Record<string, unknown>;
  /**
   * The repo revision (TID) of the commit or export that carried the op. An op with a rev lower
   * than the stored row's is an older version replayed, and is ignored; without one (ops built by
   * hand) the op is applied as it comes.
   */
  rev?: string;
}

/** A create of `value` (typed as `collection`) with its real CID, as the firehose delivers one; for tests, benches and tools. */
export function createOp(repo: string, collection: string, value: Record<string, unknown>, rkey = nextTid()): IngestOp {
  const record = { $type: collection, ...value };
  return { action: "create", uri: `at://${repo}/${collection}/${rkey}`, cid: recordCid(record)!, record };
}

export interface PolicyInUse {
  uri: string;
  cid: string;
  value: Record<string, unknown>;
  ledger: LedgerPolicy;
}

export interface Verifier {
  /**
   * The verdict on one bundle. `trusted` carries what the engine already knows about these exact
   * records (CIDs from verified commits, ingestion-time schema results).
   */
  verify(bundle: ReceiptBundle, exchange: string, trusted?: { cids?: boolean; schema?: Partial<Record<BundlePart, string | null>> }): VerifyResult;
  /** The per-record checks of a batch, done ahead of its transaction (see verifier.ts). */
  prepare?(ops: PrepareOp[]): Promise<PreparedChecks>;
  /** An attestation read from the database, for checking later receipts ahead. */
  noteAttestation?(uri: string, value: Record<string, unknown> | undefined): void;
}

/** The records of a receipt bundle, as the verifier names them. */
export type BundlePart = "receipt" | "job" | "attestation" | "paymentAuthorization" | "policy";

export interface EngineContext {
  ldb: LedgerDb;
  did: string;
  policy: PolicyInUse;
  verifier: Verifier;
  /** Exchange clock, for first_seen bookkeeping only (never for ledger time). */
  now(): number;
  /**
   * Reads a record from its repo's PDS (lex form and the CID the PDS states), null when it does
   * not exist; used by admissions for a job the firehose has not brought yet. Absent: no fetch.
   */
  fetchRecord?(uri: string): Promise<{ cid: string; value: Record<string, unknown> } | null>;
}

export interface BatchResult {
  settled: string[];
  rejected: string[];
}

export function strongRef(p: { uri: string; cid: string }): { uri: string; cid: string } {
  return { uri: p.uri, cid: p.cid };
}

/** The record published for a grant or refresh movement. */
export function mintRecord(ctx: EngineContext, m: Movement): OutboxInsert {
  const collection = m.kind === "grant" ? NSID.tokenGrant : NSID.tokenRefresh;
  return {
    key: m.key,
    collection,
    atMs: Date.parse(m.at),
    record: { $type: collection, exchange: ctx.did, recipient: m.to, amount: m.amount, policy: strongRef(ctx.policy), createdAt: m.at },
  };
}

export function settlementKey(receiptUri: string): string {
  return `settlement:${receiptUri}`;
}
