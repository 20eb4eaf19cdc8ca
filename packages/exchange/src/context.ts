// What the exchange's engine works with: the record operations it is fed, the policy and verifier
// in use, the clock and the watermark's inputs. Shared by record intake (engine.ts) and the
// scheduler's inputs (scheduler.ts).
import { nextTid } from "@cocore/atproto";
import { recordCid, type LedgerPolicy, type ReceiptBundle, type VerifyResult } from "@cocore/protocol";
import type { LedgerDb } from "./db/open.ts";
import type { PreparedChecks, PrepareOp } from "./verifier.ts";

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
  /** The newest policy (what admissions and the XRPC getPolicy answer with). */
  policy: PolicyInUse;
  verifier: Verifier;
  /** Exchange clock: first-seen times, admissions, hold expiry, the watermark. */
  now(): number;
  /** How far the watermark stays behind ingestion (ms; default 0). */
  graceMs?: number;
  /** Exchange time up to which the firehose is known to be ingested (default: now). */
  ingestedThrough?(nowMs: number): number;
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

