// What goes into the ledger machine and what comes out of one transition (README: "Inputs and
// outputs").
import type { Finding } from "../verify-receipt.ts";
import type { ReceiptFacts } from "./facts.ts";
import type { PublishedRow, ReceiptStatus } from "./store.ts";
import type { Movement, PeriodResult } from "./types.ts";

export interface FetchedRecord {
  cid: string;
  value: Record<string, unknown>;
}

/** A record version from a verified commit or export (its CID is trusted), or a deletion. */
export type RecordOp =
  | { action: "put"; uri: string; cid: string; value: Record<string, unknown>; rev?: string; schema?: string | null }
  | { action: "delete"; uri: string; rev?: string };

export type LedgerInput =
  /**
   * One delivery batch (a firehose commit, a backfilled repo slice, a simulation's records between
   * two clock events), seen at exchange time `seenAt`. Every record is stored first, then every
   * receipt it concerns is considered, so the order inside a batch never matters.
   */
  | {
      type: "records";
      ops: RecordOp[];
      seenAt: number;
      /**
       * The batch is the exchange's own repo read back to rebuild: its published records it does
       * not know are restored as the log they are (log.ts). Elsewhere such a record — one the
       * exchange did not decide — is stored and changes nothing.
       */
      restoreLog?: boolean;
    }
  /**
   * The matchmaker asks to admit a job. `fetched` carries the job and its authorization as read
   * from the requester's PDS when they are not indexed yet (their CIDs are recomputed and checked).
   */
  | {
      type: "admit";
      job: { uri: string; cid: string };
      at: number;
      fetched?: { job?: FetchedRecord; auth?: FetchedRecord };
      /** The provider and machine (its attested signing key) the matchmaker dispatches the job to. */
      dispatchedTo?: { provider: string; machineKey?: string };
    }
  | { type: "release"; job: string; at: number }
  | { type: "read"; did: string; at: number }
  | { type: "expire"; at: number }
  /** Decide everything with eff < to; distribute periods ending ≤ periodsTo (default: to). */
  | { type: "advance"; to: number; periodsTo?: number }
  /** `ledger replay`'s short forms: a receipt already verified, a touch at the watermark. */
  | { type: "receipt"; facts: ReceiptFacts }
  | { type: "touch"; did: string };

export type AdmissionCode =
  | "job_not_found"
  | "job_mismatch"
  | "job_invalid"
  | "job_expired"
  | "job_already_settled"
  | "authorization_not_found"
  | "authorization_mismatch"
  | "authorization_invalid"
  | "authorization_other_exchange"
  | "exchange_not_accepted"
  | "authorization_ceiling_too_low"
  | "authorization_expires_first"
  | "authorization_nonce_used"
  | "authorization_nonce_reserved"
  | "session_budget_exceeded"
  | "below_floor";

export interface AdmissionResult {
  admitted: boolean;
  code?: AdmissionCode;
  message?: string;
  holdKey?: string;
  balance: number;
  available: number;
}

export interface ReleaseResult {
  released: boolean;
  held: number;
  available: number;
}

export interface ReceiptChange {
  uri: string;
  status: ReceiptStatus;
  findings?: Finding[];
}

export interface Effects {
  /** Movements that changed a balance, in the order applied. */
  movements: Movement[];
  /** Records to publish, in decision order. */
  published: PublishedRow[];
  /** Receipts whose status this transition set, in the order it set them. */
  receipts: ReceiptChange[];
  periods: PeriodResult[];
  admission?: AdmissionResult;
  release?: ReleaseResult;
  /** Holds an `expire` gave back. */
  releasedHolds?: number;
}

export function emptyEffects(): Effects {
  return { movements: [], published: [], receipts: [], periods: [] };
}
