// The exchange's tables. One schema for SQLite and PostgreSQL; integer columns are bigint on
// PostgreSQL (which `pg` returns as strings) and INTEGER on SQLite, so every read goes through
// `toInt` (ints.ts) before arithmetic.
type Int = number | string | bigint;

export interface RecordsTable {
  uri: string;
  did: string;
  collection: string;
  rkey: string;
  cid: string;
  /** atproto JSON form of the latest version seen. */
  value: string;
  /** accepted | rejected (schema-invalid) | deleted */
  status: string;
  reason: string | null;
  first_seen: string;
  /** The repo revision (TID) of the version stored; null when the op that brought it had none. */
  rev: string | null;
}

export interface TransfersTable {
  key: string;
  kind: string;
  /** null: minted (grant, refresh). */
  from_did: string | null;
  to_did: string;
  amount: Int;
  at: string;
  ref: string | null;
}

export interface AccountsTable {
  did: string;
  balance: Int;
  held: Int;
  grant_amount: Int | null;
  granted_at: string | null;
  last_refresh_at: string | null;
}

export interface HoldsTable {
  key: string;
  job_uri: string;
  requester: string;
  amount: Int;
  expires_at: string;
  /** pending | posted | released | expired */
  state: string;
  auth_uri: string | null;
  nonce_key: string | null;
  provider: string | null;
  machine_key: string | null;
}

export interface ReceiptsTable {
  uri: string;
  cid: string;
  job_uri: string;
  requester: string | null;
  provider: string;
  /** pending | queued | parked | settled | rejected | ignored */
  status: string;
  reason: string | null;
  /**
   * Pending receipts: the record (job, authorization, attestation) still missing. Rejected ones:
   * the record whose possibly stale version the rejection rests on (judged again on its next).
   */
  waiting_for: string | null;
  findings: string | null;
  completed_at: string | null;
  /** transfer | self-loop | pro-bono, once settled. */
  kind: string | null;
  settled_at: string | null;
  charged: Int | null;
  payout: Int | null;
  fee: Int | null;
  settlement_uri: string | null;
  /** Effective ledger time (ms) once queued. */
  eff: Int | null;
  /** JSON of the facts the receipt was decided on (parked, settled). */
  facts: string | null;
  /** The policy the settlement was made under. */
  policy_uri: string | null;
}

export interface ClaimsTable {
  key: string;
  receipt: string;
  auth_uri: string | null;
  job_uri: string;
}

export interface BudgetsTable {
  auth_uri: string;
  used: Int;
}

export interface ScoresTable {
  period_start: Int;
  did: string;
  score: Int;
}

export interface LedgerMetaTable {
  id: Int;
  watermark: Int;
  decision_ms: Int;
  decision_seq: Int;
  periods_closed: Int;
}

export interface PoliciesTable {
  uri: string;
  cid: string;
  created_at: Int;
  value: string;
}

export interface NoncesTable {
  requester: string;
  nonce: string;
  auth_uri: string;
  job_uri: string;
}

export interface OutboxTable {
  key: string;
  /** Publishing order; assigned by the store (transactions are serialized). */
  seq: Int;
  collection: string;
  rkey: string;
  record: string;
  published_uri: string | null;
  published_cid: string | null;
}

export interface CursorTable {
  source: string;
  seq: Int;
}

export interface ReposTable {
  did: string;
  backfilled_at: string;
}

export interface PeriodsTable {
  start: string;
  end: string;
  /** open | distributed */
  state: string;
  pool: Int | null;
}

/** A firehose commit that failed the same way repeatedly; the cursor moved past it (ingest.ts). */
export interface DeadLettersTable {
  source: string;
  seq: Int;
  did: string;
  /** The commit's ops, records in JSON form. */
  ops: string;
  error: string;
  attempts: Int;
  at: string;
  /** Set when a replay applied it. */
  replayed_at: string | null;
}

/** Our own settlement records read back from our repo, by the receipt they settle. */
export interface OwnSettlementsTable {
  receipt_uri: string;
  uri: string;
  cid: string;
  rkey: string;
}

/** A service-auth token id accepted once (`issuer jti`), remembered until `exp` (epoch seconds). */
export interface SeenJtisTable {
  jti: string;
  exp: Int;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface Database {
  records: RecordsTable;
  transfers: TransfersTable;
  accounts: AccountsTable;
  holds: HoldsTable;
  receipts: ReceiptsTable;
  nonces: NoncesTable;
  outbox: OutboxTable;
  cursor: CursorTable;
  repos: ReposTable;
  periods: PeriodsTable;
  meta: MetaTable;
  dead_letters: DeadLettersTable;
  own_settlements: OwnSettlementsTable;
  claims: ClaimsTable;
  budgets: BudgetsTable;
  scores: ScoresTable;
  ledger_meta: LedgerMetaTable;
  policies: PoliciesTable;
  seen_jtis: SeenJtisTable;
}
