// The state the machine reads and writes, as rows, behind one interface. `MemoryStore` keeps them
// in maps (replay, simulate's checks, the auditor); the exchange implements the same interface over
// its tables inside a transaction, loading rows on demand and writing back what changed. The
// machine only ever sees this interface, so every implementation runs the same rules.
import type { Finding } from "../verify-receipt.ts";
import type { ReceiptFacts } from "./facts.ts";
import { LedgerError, type Movement, type SettlementKind } from "./types.ts";
import { compareBytes } from "./util.ts";

export interface AccountRow {
  did: string;
  balance: number;
  /** Σ of the account's pending holds (private; admission only). */
  held: number;
  /** ms of the grant; null until the first touch. */
  grantedAt: number | null;
  grantAmount: number | null;
  /** ms of the last refresh (the grant starts the clock). */
  lastRefreshAt: number | null;
}

export type RecordStatus = "accepted" | "rejected" | "deleted";

export interface RecordRow {
  uri: string;
  did: string;
  collection: string;
  rkey: string;
  cid: string;
  /** Lex form (bytes as Uint8Array). */
  value: Record<string, unknown>;
  status: RecordStatus;
  /** Why the lexicon refused it (status rejected). */
  reason: string | null;
  /** Exchange time the uri was first seen (ms). */
  firstSeen: number;
  /** Repo revision of this version, when known. */
  rev: string | null;
}

export type ReceiptStatus = "pending" | "queued" | "parked" | "settled" | "rejected" | "ignored";

export interface ReceiptRow {
  uri: string;
  /** The version judged (or to be judged). */
  cid: string;
  jobUri: string;
  requester: string | null;
  provider: string;
  status: ReceiptStatus;
  reason: string | null;
  /** pending: the missing record; rejected: the record whose next version re-judges it. */
  waitingFor: string | null;
  findings: Finding[] | null;
  completedAt: number | null;
  /** Effective ledger time once queued. */
  eff: number | null;
  /** Facts fixed at decision (parked, settled), or given up front by a replay's receipt event. */
  facts: ReceiptFacts | null;
  /** Once settled. */
  settlement: { kind: SettlementKind; charged: number; payout: number; fee: number; settledAt: number; policyUri: string } | null;
}

export interface HoldRow {
  job: string;
  requester: string;
  amount: number;
  expiresAt: number;
  state: "pending" | "posted" | "released" | "expired";
  /** The authorization and nonce the admission reserved. */
  authUri: string | null;
  nonceKey: string | null;
  /** The provider (and its machine's signing key) the matchmaker dispatched the job to, when it said. */
  provider: string | null;
  machineKey: string | null;
}

/** A claim made by a settled receipt: its job, or its authorization's nonce. */
export interface ClaimRow {
  key: string;
  receipt: string;
  authUri: string | null;
  jobUri: string;
}

export interface PolicyRow {
  uri: string;
  cid: string;
  createdAt: number;
  value: Record<string, unknown>;
}

export interface MetaRow {
  /** Everything before this ledger time is decided. */
  watermark: number;
  /** Ledger time of the last decision and how many decisions that millisecond has seen. */
  decisionMs: number;
  decisionSeq: number;
  /** Patronage periods [0, periodsClosed) are distributed. */
  periodsClosed: number;
}

export interface PublishedRow {
  /** The ledger key of the fact (settlement:<receipt>, grant:<did>, …): one record per key. */
  key: string;
  collection: string;
  rkey: string;
  /** atproto JSON form (bytes as {"$bytes"}), unsigned. */
  value: Record<string, unknown>;
}

export interface LedgerStore {
  meta(): Promise<MetaRow | undefined>;
  putMeta(row: MetaRow): void;

  policies(): Promise<PolicyRow[]>;
  putPolicy(row: PolicyRow): void;

  account(did: string): Promise<AccountRow | undefined>;
  putAccount(row: AccountRow): void;

  record(uri: string): Promise<RecordRow | undefined>;
  putRecord(row: RecordRow): void;

  receipt(uri: string): Promise<ReceiptRow | undefined>;
  putReceipt(row: ReceiptRow): void;
  deleteReceipt(uri: string): void;
  /** Receipts pending or rejected that wait for a new version of one of `uris`. */
  waitingFor(uris: readonly string[]): Promise<string[]>;
  /** Queued receipts with eff < beforeMs, in (eff, completedAt, uri) order. */
  queuedBefore(beforeMs: number): Promise<ReceiptRow[]>;
  /** Parked receipts of `requester`, in (eff, completedAt, uri) order. */
  parkedOf(requester: string): Promise<ReceiptRow[]>;

  claim(key: string): Promise<ClaimRow | undefined>;
  putClaim(row: ClaimRow): void;
  /** Σ charged of settled receipts under a session authorization. */
  budgetUsed(authUri: string): Promise<number>;
  putBudgetUsed(authUri: string, used: number): void;

  hold(job: string): Promise<HoldRow | undefined>;
  putHold(row: HoldRow): void;
  /** Pending holds whose expiresAt ≤ atMs. */
  expiredHolds(atMs: number): Promise<HoldRow[]>;
  /** Pending holds under an authorization (session budgets, nonce reservations). */
  pendingHoldsOf(authUri: string): Promise<HoldRow[]>;
  /** The pending hold, if any, that reserves a nonce key. */
  reservation(nonceKey: string): Promise<HoldRow | undefined>;

  scores(periodStart: number): Promise<Map<string, number>>;
  addScore(periodStart: number, did: string, amount: number): void;

  /** Appends a movement (the transfers log); a key used before is an idempotency conflict (now or at commit). */
  movement(m: Movement, ref: string | null): void;
  /** Whether a movement key exists (a fact read back in a rebuild may already be applied). */
  hasMovement(key: string): Promise<boolean>;

  published(key: string): Promise<PublishedRow | undefined>;
  publish(row: PublishedRow): void;
}

const byQueueOrder = (a: ReceiptRow, b: ReceiptRow) => a.eff! - b.eff! || a.completedAt! - b.completedAt! || compareBytes(a.uri, b.uri);

/** Everything in maps. Reads return copies, so a caller's row is never aliased into the store. */
export class MemoryStore implements LedgerStore {
  private metaRow: MetaRow | undefined;
  readonly accounts = new Map<string, AccountRow>();
  readonly records = new Map<string, RecordRow>();
  readonly receipts = new Map<string, ReceiptRow>();
  readonly claims = new Map<string, ClaimRow>();
  readonly budgets = new Map<string, number>();
  readonly holds = new Map<string, HoldRow>();
  readonly scoreRows = new Map<number, Map<string, number>>();
  readonly movements: (Movement & { ref: string | null })[] = [];
  private readonly movementKeys = new Set<string>();
  readonly publishedRows = new Map<string, PublishedRow>();
  /** Publication order of the keys (a rebuild reuses a key; the first publication stands). */
  readonly publishOrder: string[] = [];
  private readonly policyRows = new Map<string, PolicyRow>();

  async meta() {
    return this.metaRow ? { ...this.metaRow } : undefined;
  }
  putMeta(row: MetaRow) {
    this.metaRow = { ...row };
  }
  async policies() {
    return [...this.policyRows.values()].map((p) => ({ ...p }));
  }
  putPolicy(row: PolicyRow) {
    this.policyRows.set(row.uri, { ...row });
  }
  async account(did: string) {
    const a = this.accounts.get(did);
    return a ? { ...a } : undefined;
  }
  putAccount(row: AccountRow) {
    this.accounts.set(row.did, { ...row });
  }
  async record(uri: string) {
    const r = this.records.get(uri);
    return r ? { ...r } : undefined;
  }
  putRecord(row: RecordRow) {
    this.records.set(row.uri, { ...row });
  }
  async receipt(uri: string) {
    const r = this.receipts.get(uri);
    return r ? structuredClone(r) : undefined;
  }
  putReceipt(row: ReceiptRow) {
    this.receipts.set(row.uri, structuredClone(row));
  }
  deleteReceipt(uri: string) {
    this.receipts.delete(uri);
  }
  async waitingFor(uris: readonly string[]) {
    const want = new Set(uris);
    const out: string[] = [];
    for (const r of this.receipts.values()) if (r.waitingFor !== null && want.has(r.waitingFor) && (r.status === "pending" || r.status === "rejected")) out.push(r.uri);
    return out.sort(compareBytes);
  }
  async queuedBefore(beforeMs: number) {
    return [...this.receipts.values()]
      .filter((r) => r.status === "queued" && r.eff! < beforeMs)
      .sort(byQueueOrder)
      .map((r) => structuredClone(r));
  }
  async parkedOf(requester: string) {
    return [...this.receipts.values()]
      .filter((r) => r.status === "parked" && r.requester === requester)
      .sort(byQueueOrder)
      .map((r) => structuredClone(r));
  }
  async claim(key: string) {
    const c = this.claims.get(key);
    return c ? { ...c } : undefined;
  }
  putClaim(row: ClaimRow) {
    this.claims.set(row.key, { ...row });
  }
  async budgetUsed(authUri: string) {
    return this.budgets.get(authUri) ?? 0;
  }
  putBudgetUsed(authUri: string, used: number) {
    this.budgets.set(authUri, used);
  }
  async hold(job: string) {
    const h = this.holds.get(job);
    return h ? { ...h } : undefined;
  }
  putHold(row: HoldRow) {
    this.holds.set(row.job, { ...row });
  }
  async expiredHolds(atMs: number) {
    return [...this.holds.values()]
      .filter((h) => h.state === "pending" && h.expiresAt <= atMs)
      .sort((a, b) => a.expiresAt - b.expiresAt || compareBytes(a.job, b.job))
      .map((h) => ({ ...h }));
  }
  async pendingHoldsOf(authUri: string) {
    return [...this.holds.values()].filter((h) => h.state === "pending" && h.authUri === authUri).map((h) => ({ ...h }));
  }
  async reservation(nonceKey: string) {
    for (const h of this.holds.values()) if (h.state === "pending" && h.nonceKey === nonceKey) return { ...h };
    return undefined;
  }
  async scores(periodStart: number) {
    return new Map(this.scoreRows.get(periodStart) ?? []);
  }
  addScore(periodStart: number, did: string, amount: number) {
    let m = this.scoreRows.get(periodStart);
    if (!m) this.scoreRows.set(periodStart, (m = new Map()));
    m.set(did, (m.get(did) ?? 0) + amount);
  }
  movement(m: Movement, ref: string | null) {
    if (this.movementKeys.has(m.key)) throw new LedgerError("idempotency-conflict", `movement ${m.key} would be applied twice`);
    this.movements.push({ ...m, ref });
    this.movementKeys.add(m.key);
  }
  async hasMovement(key: string) {
    return this.movementKeys.has(key);
  }
  async published(key: string) {
    const p = this.publishedRows.get(key);
    return p ? structuredClone(p) : undefined;
  }
  publish(row: PublishedRow) {
    if (!this.publishedRows.has(row.key)) this.publishOrder.push(row.key);
    this.publishedRows.set(row.key, structuredClone(row));
  }
}
