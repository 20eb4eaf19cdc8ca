// A unit of work over one write transaction: rows are loaded in bulk, the pure ledger rules run
// over the in-memory copies, and every change is written back in a few multi-row statements at
// flush. This keeps a firehose batch (or a bench batch of thousands of receipts) to a handful of
// queries, and it is where the ledger's invariants are enforced against the database: a
// transfer key already present with another payload is an `idempotency-conflict`; the same key
// with the same payload means the caller's state checks failed, and aborts the transaction.
import type { LedgerDb, Tx } from "./db/open.ts";
import { insertMany, insertNew, selectByKeys, type BulkSpec, type LookupSpec } from "./db/bulk.ts";
import { deterministicTid } from "./tid.ts";
import { toInt } from "./ints.ts";
import type { ReceiptsTable, TransfersTable } from "./db/schema.ts";
import { LedgerError, touchAccount, type AccountState, type LedgerPolicy, type Movement } from "./ledger.ts";

export interface Account {
  did: string;
  balance: number;
  held: number;
  grant: { amount: number; at: number } | null;
  lastRefreshAt: number | null;
}

export interface TransferRow extends Movement {
  ref: string | null;
}

/** A receipts row as the engine writes it: amounts as numbers; settlement_uri is not its to set. */
export type ReceiptRowUpdate = Omit<ReceiptsTable, "charged" | "payout" | "fee" | "settlement_uri"> & {
  charged: number | null;
  payout: number | null;
  fee: number | null;
};

export interface OutboxInsert {
  key: string;
  collection: string;
  /** Ledger time (ms) the rkey is derived from. */
  atMs: number;
  record: Record<string, unknown>;
}

const CHUNK = 400;

const TRANSFER_BY_KEY: LookupSpec = { table: "transfers", columns: ["key", "kind", "from_did", "to_did", "amount", "at"], keys: ["key"] };
const OUTBOX_BY_KEY: LookupSpec = { table: "outbox", columns: ["key"], keys: ["key"] };
const OUTBOX_BY_RKEY: LookupSpec = { table: "outbox", columns: ["collection", "rkey"], keys: ["collection", "rkey"] };
const OWN_SETTLEMENT_BY_RECEIPT: LookupSpec = { table: "own_settlements", columns: ["receipt_uri", "uri", "cid", "rkey"], keys: ["receipt_uri"] };
const RECORD_BY_URI: LookupSpec = { table: "records", columns: ["uri", "cid", "collection", "rkey", "status"], keys: ["uri"] };

const TRANSFERS: BulkSpec = {
  table: "transfers",
  columns: [["key", "text"], ["kind", "text"], ["from_did", "text"], ["to_did", "text"], ["amount", "int8"], ["at", "text"], ["ref", "text"]],
  // A key already present is detected from the insert itself (insertNew), then judged below.
  conflict: { target: ["key"] },
};
const ACCOUNTS: BulkSpec = {
  table: "accounts",
  columns: [["did", "text"], ["balance", "int8"], ["held", "int8"], ["grant_amount", "int8"], ["granted_at", "text"], ["last_refresh_at", "text"]],
  conflict: { target: ["did"], update: ["balance", "held", "grant_amount", "granted_at", "last_refresh_at"] },
};
const RECEIPT_COLUMNS = ["cid", "job_uri", "requester", "provider", "status", "reason", "waiting_for", "findings", "completed_at", "kind", "settled_at", "charged", "payout", "fee"] as const;
const RECEIPTS: BulkSpec = {
  table: "receipts",
  columns: [["uri", "text"], ...RECEIPT_COLUMNS.map((c) => [c, c === "charged" || c === "payout" || c === "fee" ? "int8" : "text"] as const), ["settlement_uri", "text"]],
  // Settled is final: whatever a transaction judged from a status it read, it never overwrites a
  // settlement (the transfers of a settled receipt exist exactly once).
  conflict: { target: ["uri"], update: RECEIPT_COLUMNS, where: `"receipts"."status" <> 'settled'` },
};
const NONCES: BulkSpec = {
  table: "nonces",
  columns: [["requester", "text"], ["nonce", "text"], ["auth_uri", "text"], ["job_uri", "text"]],
  conflict: { target: ["requester", "nonce"] },
};
const OUTBOX: BulkSpec = {
  table: "outbox",
  columns: [["key", "text"], ["seq", "int8"], ["collection", "text"], ["rkey", "text"], ["record", "text"], ["published_uri", "text"], ["published_cid", "text"]],
};

export function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Whether a stored transfer row carries the same movement (the key aside). */
function samePayload(row: Pick<TransfersTable, "kind" | "from_did" | "to_did" | "amount" | "at">, m: Movement): boolean {
  return row.kind === m.kind && row.from_did === m.from && row.to_did === m.to && toInt(row.amount, "amount") === m.amount && row.at === m.at;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export class UnitOfWork {
  readonly accounts = new Map<string, Account>();
  private readonly dirty = new Set<string>();
  readonly transfers: TransferRow[] = [];
  readonly receipts = new Map<string, ReceiptRowUpdate>();
  readonly outbox: OutboxInsert[] = [];
  readonly nonces: { requester: string; nonce: string; auth_uri: string; job_uri: string }[] = [];
  readonly holdUpdates = new Map<string, string>();
  readonly holdInserts: { key: string; job_uri: string; requester: string; amount: number; expires_at: string }[] = [];
  /** DIDs whose balance went up in this unit (parked receipts of theirs may now settle). */
  readonly credited = new Set<string>();

  constructor(
    readonly tx: Tx,
    readonly ldb: LedgerDb,
    readonly policy: LedgerPolicy,
  ) {}

  /** Loads (and on PostgreSQL locks) the accounts of `dids` not loaded yet. */
  async loadAccounts(dids: Iterable<string>): Promise<void> {
    const missing = [...new Set(dids)].filter((d) => !this.accounts.has(d));
    if (missing.length === 0) return;
    await this.ldb.lockAccounts(this.tx, missing);
    for (const chunk of chunks(missing)) {
      const rows = await this.tx.selectFrom("accounts").selectAll().where("did", "in", chunk).execute();
      for (const r of rows) {
        this.accounts.set(r.did, {
          did: r.did,
          balance: toInt(r.balance, "balance"),
          held: toInt(r.held, "held"),
          grant: r.granted_at === null ? null : { amount: toInt(r.grant_amount ?? 0, "grant"), at: Date.parse(r.granted_at) },
          lastRefreshAt: r.last_refresh_at === null ? null : Date.parse(r.last_refresh_at),
        });
      }
    }
    for (const did of missing) {
      if (!this.accounts.has(did)) this.accounts.set(did, { did, balance: 0, held: 0, grant: null, lastRefreshAt: null });
    }
  }

  account(did: string): Account {
    const a = this.accounts.get(did);
    if (!a) throw new Error(`account ${did} was not loaded`);
    return a;
  }

  markDirty(did: string): void {
    this.dirty.add(did);
  }

  /**
   * Applies one movement to the loaded balances and queues its transfer row. `allowOverdraw` is
   * for facts read back from our own repo during a rebuild: a patronage record may arrive before
   * the fees that funded it.
   */
  apply(m: Movement, ref: string | null = null, allowOverdraw = false): void {
    if (!Number.isSafeInteger(m.amount) || m.amount < 0) throw new LedgerError("invariant", `movement ${m.key} has a bad amount`);
    const to = this.account(m.to);
    if (m.from !== null && m.amount > 0) {
      const from = this.account(m.from);
      if (from.balance < m.amount && !allowOverdraw) throw new LedgerError("invariant", `movement ${m.key} would overdraw ${m.from}`);
      from.balance -= m.amount;
      this.dirty.add(m.from);
    }
    to.balance += m.amount;
    if (!Number.isSafeInteger(to.balance)) throw new LedgerError("overflow", `balance of ${m.to} exceeds 2^53−1`);
    if (m.amount > 0) this.credited.add(m.to);
    this.dirty.add(m.to);
    this.transfers.push({ ...m, ref });
  }

  /**
   * A touch of `did` at `atMs` through the ledger's touchAccount: grant or refresh movements are
   * applied and published (one tokenGrant / tokenRefresh record each).
   */
  touch(did: string, atMs: number, makeRecord: (m: Movement) => OutboxInsert): Movement[] {
    const a = this.account(did);
    const prior: AccountState = { balance: a.balance, grant: a.grant, lastRefreshAt: a.lastRefreshAt };
    const { account: next, movements } = touchAccount(prior, did, atMs, this.policy);
    for (const m of movements) {
      this.apply(m);
      this.outbox.push(makeRecord(m));
    }
    if (next.grant !== a.grant || next.lastRefreshAt !== a.lastRefreshAt) {
      a.grant = next.grant;
      a.lastRefreshAt = next.lastRefreshAt;
      this.dirty.add(did);
    }
    return movements;
  }

  setReceipt(row: ReceiptRowUpdate): void {
    this.receipts.set(row.uri, row);
  }

  async flush(): Promise<void> {
    const tx = this.tx;
    // Transfers: the database is the final idempotency check.
    const seen = new Set<string>();
    for (const t of this.transfers) {
      if (seen.has(t.key)) throw new LedgerError("idempotency-conflict", `movement ${t.key} produced twice in one batch`);
      seen.add(t.key);
    }
    // Throwing aborts the whole transaction, so the rows inserted before a conflict go too.
    const skipped = await insertNew(this.ldb, tx, TRANSFERS, this.transfers.map((t) => [t.key, t.kind, t.from, t.to, t.amount, t.at, t.ref]));
    if (skipped.length > 0) {
      const clashes = skipped.map((i) => this.transfers[i]!);
      const stored = await selectByKeys<TransfersTable>(this.ldb, tx, TRANSFER_BY_KEY, clashes.map((t) => [t.key]));
      const byKey = new Map(stored.map((r) => [r.key, r]));
      for (const t of clashes) {
        const prior = byKey.get(t.key);
        if (prior && !samePayload(prior, t)) throw new LedgerError("idempotency-conflict", `transfer ${t.key} already exists with another payload`);
      }
      throw new LedgerError("invariant", `transfer ${clashes[0]!.key} would be applied twice`);
    }
    const dirty = [...this.dirty].map((d) => this.account(d));
    await insertMany(
      this.ldb,
      tx,
      ACCOUNTS,
      dirty.map((a) => [a.did, a.balance, a.held, a.grant?.amount ?? null, a.grant ? iso(a.grant.at) : null, a.lastRefreshAt === null ? null : iso(a.lastRefreshAt)]),
    );
    await insertMany(
      this.ldb,
      tx,
      RECEIPTS,
      [...this.receipts.values()].map((r) => [r.uri, ...RECEIPT_COLUMNS.map((c) => r[c]), null]),
    );
    await insertMany(this.ldb, tx, NONCES, this.nonces.map((n) => [n.requester, n.nonce, n.auth_uri, n.job_uri]));
    for (const chunk of chunks(this.holdInserts)) {
      await tx.insertInto("holds").values(chunk.map((h) => ({ ...h, state: "pending" }))).execute();
    }
    for (const [key, state] of this.holdUpdates) {
      await tx.updateTable("holds").set({ state }).where("key", "=", key).execute();
    }
    await this.flushOutbox();
  }

  private async flushOutbox(): Promise<void> {
    if (this.outbox.length === 0) return;
    const tx = this.tx;
    const keys = this.outbox.map((o) => o.key);
    const already = new Set<string>();
    for (const r of await selectByKeys<{ key: string }>(this.ldb, tx, OUTBOX_BY_KEY, keys.map((k) => [k]))) already.add(r.key);
    const maxRow = await tx.selectFrom("outbox").select((eb) => eb.fn.max("seq").as("m")).executeTakeFirst();
    let seq = maxRow?.m === null || maxRow?.m === undefined ? 0 : toInt(maxRow.m, "outbox seq");
    const fresh = this.outbox.filter((o) => !already.has(o.key));
    // A settlement we already published (read back from our repo) keeps its record and rkey.
    const ownSettlements = new Map<string, { uri: string; cid: string; rkey: string }>();
    const settlementReceipts = fresh.filter((o) => o.key.startsWith("settlement:")).map((o) => [o.key.slice("settlement:".length)]);
    for (const h of await selectByKeys<{ receipt_uri: string; uri: string; cid: string; rkey: string }>(this.ldb, tx, OWN_SETTLEMENT_BY_RECEIPT, settlementReceipts)) {
      ownSettlements.set(`settlement:${h.receipt_uri}`, h);
    }
    const rows = fresh.map((o) => ({ o, rkey: ownSettlements.get(o.key)?.rkey ?? deterministicTid(o.key, o.atMs) }));
    // An rkey already taken by another fact (astronomically rare) gets a salted one instead.
    const taken = new Set<string>();
    for (const h of await selectByKeys<{ collection: string; rkey: string }>(this.ldb, tx, OUTBOX_BY_RKEY, rows.map((r) => [r.o.collection, r.rkey]))) {
      taken.add(`${h.collection}/${h.rkey}`);
    }
    for (const r of rows) {
      if (ownSettlements.has(r.o.key)) continue;
      let salt = 0;
      while (taken.has(`${r.o.collection}/${r.rkey}`)) r.rkey = deterministicTid(r.o.key, r.o.atMs, ++salt);
      taken.add(`${r.o.collection}/${r.rkey}`);
    }
    // A record we published before a crash (or before a rebuild) is already in our repo.
    const published = new Map<string, { uri: string; cid: string }>();
    const own = rows.map((r) => [`at://${this.policy.exchange}/${r.o.collection}/${r.rkey}`]);
    for (const h of await selectByKeys<{ uri: string; cid: string; collection: string; rkey: string; status: string }>(this.ldb, tx, RECORD_BY_URI, own)) {
      if (h.status !== "deleted") published.set(`${h.collection}/${h.rkey}`, { uri: h.uri, cid: h.cid });
    }
    await insertMany(
      this.ldb,
      tx,
      OUTBOX,
      rows.map((r) => {
        const pub = ownSettlements.get(r.o.key) ?? published.get(`${r.o.collection}/${r.rkey}`);
        return [r.o.key, ++seq, r.o.collection, r.rkey, JSON.stringify(r.o.record), pub?.uri ?? null, pub?.cid ?? null];
      }),
    );
  }
}
