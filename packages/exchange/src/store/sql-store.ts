// The ledger machine's store over the exchange's tables, inside one write transaction: rows are
// loaded on demand (and in bulk where the engine knows what a batch will touch), changed in memory,
// and written back in a few multi-row statements at flush. SQL here only loads and stores; every
// rule is the machine's. On PostgreSQL the ledger_meta row is locked first, which serializes ledger
// transactions (each one starts by reading it).
import { fromJsonRecord, LedgerError, toJsonRecord, type AccountRow, type ClaimRow, type HoldRow, type LedgerStore, type MetaRow, type Movement, type PolicyRow, type PublishedRow, type ReceiptRow, type RecordRow } from "@cocore/protocol";
import { insertMany, insertNew, selectByKeys } from "../db/bulk.ts";
import type { LedgerDb, Tx } from "../db/open.ts";
import type { ReceiptsTable, RecordsTable, TransfersTable } from "../db/schema.ts";
import { toInt } from "../ints.ts";
import {
  accountOf,
  ACCOUNT_BY_DID,
  ACCOUNTS,
  BUDGETS,
  CLAIM_BY_KEY,
  CLAIMS,
  HOLD_BY_JOB,
  holdOf,
  HOLDS,
  iso,
  OUTBOX,
  OUTBOX_BY_KEY,
  RECEIPT_BY_URI,
  RECEIPT_COLUMNS,
  receiptCells,
  receiptOf,
  RECEIPTS,
  RECORD_BY_URI,
  recordOf,
  RECORDS,
  samePayload,
  SCORES,
  SETTLED_BY_JOB,
  TRANSFER_BY_KEY,
  TRANSFERS,
  WAITING_FOR,
  type HoldsRow,
} from "./tables.ts";

/**
 * Rows handed out are the cached objects themselves: the machine never changes a row it read (it
 * writes new ones), so no copy is made.
 */
export class SqlStore implements LedgerStore {
  private metaRow: MetaRow | undefined | null = null;
  private metaDirty = false;
  private policyRows: PolicyRow[] | undefined;
  private readonly newPolicies: PolicyRow[] = [];
  private readonly accounts = new Map<string, AccountRow | null>();
  private readonly dirtyAccounts = new Set<string>();
  private readonly records = new Map<string, RecordRow | null>();
  private readonly dirtyRecords = new Set<string>();
  /** JSON forms made ahead (check workers), by uri, used when the row is written. */
  private readonly jsonAhead = new Map<string, string>();
  private readonly receipts = new Map<string, ReceiptRow | null>();
  private readonly dirtyReceipts = new Set<string>();
  private readonly deletedReceipts = new Set<string>();
  private readonly claims = new Map<string, ClaimRow | null>();
  private readonly newClaims: ClaimRow[] = [];
  private readonly budgets = new Map<string, number>();
  private readonly dirtyBudgets = new Set<string>();
  private readonly holds = new Map<string, HoldRow | null>();
  private readonly dirtyHolds = new Set<string>();
  private readonly scoreDeltas = new Map<string, { periodStart: number; did: string; delta: number }>();
  private readonly movements: { m: Movement; ref: string | null }[] = [];
  private readonly movementKeys = new Set<string>();
  private readonly publishedRows = new Map<string, PublishedRow | null>();
  private readonly newPublished: PublishedRow[] = [];
  /** Requesters with a parked receipt (null until first needed): the others have none to retry. */
  private parkedRequesters: Set<string> | null = null;

  constructor(
    readonly tx: Tx,
    readonly ldb: LedgerDb,
  ) {}

  // --- meta, policies -------------------------------------------------------------------------

  async meta(): Promise<MetaRow | undefined> {
    if (this.metaRow === null) {
      let q = this.tx.selectFrom("ledger_meta").selectAll().where("id", "=", 1);
      if (this.ldb.dialect === "postgres") q = q.forUpdate();
      const r = await q.executeTakeFirst();
      const watermark = r ? toInt(r.watermark) : -1;
      this.metaRow = r && watermark >= 0 ? { watermark, decisionMs: toInt(r.decision_ms), decisionSeq: toInt(r.decision_seq), periodsClosed: toInt(r.periods_closed) } : undefined;
    }
    return this.metaRow ? { ...this.metaRow } : undefined;
  }

  putMeta(row: MetaRow): void {
    this.metaRow = { ...row };
    this.metaDirty = true;
  }

  async policies(): Promise<PolicyRow[]> {
    if (!this.policyRows) {
      const rows = await this.tx.selectFrom("policies").selectAll().execute();
      this.policyRows = rows.map((r) => ({ uri: r.uri, cid: r.cid, createdAt: toInt(r.created_at), value: fromJsonRecord(JSON.parse(r.value)) as Record<string, unknown> }));
    }
    return [...this.policyRows, ...this.newPolicies];
  }

  putPolicy(row: PolicyRow): void {
    this.newPolicies.push(row);
  }

  // --- accounts -------------------------------------------------------------------------------

  async loadAccounts(dids: Iterable<string>): Promise<void> {
    const missing = [...new Set(dids)].filter((d) => !this.accounts.has(d));
    for (const r of await selectByKeys<Parameters<typeof accountOf>[0]>(this.ldb, this.tx, ACCOUNT_BY_DID, missing.map((d) => [d]))) this.accounts.set(r.did, accountOf(r));
    for (const d of missing) if (!this.accounts.has(d)) this.accounts.set(d, null);
  }

  async account(did: string): Promise<AccountRow | undefined> {
    if (!this.accounts.has(did)) await this.loadAccounts([did]);
    const a = this.accounts.get(did);
    return a ?? undefined;
  }

  putAccount(row: AccountRow): void {
    this.accounts.set(row.did, { ...row });
    this.dirtyAccounts.add(row.did);
  }

  // --- records --------------------------------------------------------------------------------

  async loadRecords(uris: Iterable<string>): Promise<void> {
    const missing = [...new Set(uris)].filter((u) => u !== "" && !this.records.has(u));
    for (const r of await selectByKeys<RecordsTable>(this.ldb, this.tx, RECORD_BY_URI, missing.map((u) => [u]))) this.records.set(r.uri, recordOf(r));
    for (const u of missing) if (!this.records.has(u)) this.records.set(u, null);
  }

  async record(uri: string): Promise<RecordRow | undefined> {
    if (!this.records.has(uri)) await this.loadRecords([uri]);
    return this.records.get(uri) ?? undefined;
  }

  putRecord(row: RecordRow): void {
    this.records.set(row.uri, row);
    this.dirtyRecords.add(row.uri);
  }

  /** The JSON form of a record about to be written, made ahead of the transaction. */
  jsonFor(uri: string, json: string): void {
    this.jsonAhead.set(uri, json);
  }

  // --- receipts -------------------------------------------------------------------------------

  async loadReceipts(uris: Iterable<string>): Promise<void> {
    const missing = [...new Set(uris)].filter((u) => !this.receipts.has(u));
    for (const r of await selectByKeys<ReceiptsTable>(this.ldb, this.tx, RECEIPT_BY_URI, missing.map((u) => [u]))) {
      const row = receiptOf(r);
      this.receipts.set(r.uri, row);
      this.index(row);
    }
    for (const u of missing) if (!this.receipts.has(u)) this.receipts.set(u, null);
  }

  async receipt(uri: string): Promise<ReceiptRow | undefined> {
    if (!this.receipts.has(uri)) await this.loadReceipts([uri]);
    const r = this.receipts.get(uri);
    return r ?? undefined;
  }

  putReceipt(row: ReceiptRow): void {
    this.unindex(row.uri);
    this.receipts.set(row.uri, row);
    this.dirtyReceipts.add(row.uri);
    this.deletedReceipts.delete(row.uri);
    this.index(row);
  }

  deleteReceipt(uri: string): void {
    this.unindex(uri);
    this.receipts.set(uri, null);
    this.dirtyReceipts.delete(uri);
    this.deletedReceipts.add(uri);
  }

  // Cached queued and parked rows, indexed, so that the queries over them need not write the
  // batch's receipts first (most are decided in the transaction that queued them).
  private readonly cachedQueued = new Set<string>();
  private readonly cachedParked = new Map<string, Set<string>>();
  /** Settled receipts by job, as cached: a job's claim (see claim()). */
  private readonly cachedSettledJobs = new Map<string, string>();

  private index(row: ReceiptRow): void {
    if (row.status === "settled" && row.jobUri) this.cachedSettledJobs.set(row.jobUri, row.uri);
    if (row.status === "queued") this.cachedQueued.add(row.uri);
    else if (row.status === "parked" && row.requester) {
      this.parkedRequesters?.add(row.requester);
      let set = this.cachedParked.get(row.requester);
      if (!set) this.cachedParked.set(row.requester, (set = new Set()));
      set.add(row.uri);
    }
  }

  private unindex(uri: string): void {
    const prior = this.receipts.get(uri);
    if (!prior) return;
    this.cachedQueued.delete(uri);
    if (prior.requester) this.cachedParked.get(prior.requester)?.delete(uri);
  }

  /** Writes the receipts changed so far, so that queries over the table see them. */
  private async flushReceipts(): Promise<void> {
    if (this.deletedReceipts.size > 0) {
      const uris = [...this.deletedReceipts];
      for (let i = 0; i < uris.length; i += 500) await this.tx.deleteFrom("receipts").where("uri", "in", uris.slice(i, i + 500)).where("status", "<>", "settled").execute();
      this.deletedReceipts.clear();
    }
    if (this.dirtyReceipts.size === 0) return;
    const rows = [...this.dirtyReceipts].map((u) => this.receipts.get(u)!);
    this.dirtyReceipts.clear();
    await insertMany(this.ldb, this.tx, RECEIPTS, rows.map(receiptCells));
  }

  /**
   * Rows the query finds in the table, less those the cache holds (the cache is newer), plus the
   * cached rows `cached` names; in (eff, completedAt, uri) order.
   */
  private async receiptQuery(where: (q: ReturnType<SqlStore["receiptsFrom"]>) => ReturnType<SqlStore["receiptsFrom"]>, cached: Iterable<string>, keep: (r: ReceiptRow) => boolean): Promise<ReceiptRow[]> {
    const out: ReceiptRow[] = [];
    const seen = new Set<string>();
    for (const r of await where(this.receiptsFrom()).execute()) {
      if (this.receipts.has(r.uri)) continue;
      const row = receiptOf(r as ReceiptsTable);
      this.receipts.set(row.uri, row);
      this.index(row);
      seen.add(row.uri);
      out.push(row);
    }
    for (const uri of cached) {
      const row = this.receipts.get(uri);
      if (row && keep(row) && !seen.has(uri)) out.push(row);
    }
    return out.sort((a, b) => a.eff! - b.eff! || a.completedAt! - b.completedAt! || (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  }

  private receiptsFrom() {
    return this.tx.selectFrom("receipts").select(["uri", ...RECEIPT_COLUMNS]);
  }

  async waitingFor(uris: readonly string[]): Promise<string[]> {
    await this.flushReceipts();
    const rows = await selectByKeys<{ uri: string }>(this.ldb, this.tx, WAITING_FOR, [...new Set(uris)].map((u) => [u]));
    return [...new Set(rows.map((r) => r.uri))].sort();
  }

  async queuedBefore(beforeMs: number): Promise<ReceiptRow[]> {
    const rows = await this.receiptQuery(
      (q) => q.where("status", "=", "queued").where("eff", "<", beforeMs),
      [...this.cachedQueued],
      (r) => r.status === "queued" && r.eff! < beforeMs,
    );
    if (rows.length > 0) await this.prefetchDecisions(rows);
    return rows;
  }

  async parkedOf(requester: string): Promise<ReceiptRow[]> {
    if (this.parkedRequesters === null) {
      const rows = await this.tx.selectFrom("receipts").select("requester").distinct().where("status", "=", "parked").execute();
      this.parkedRequesters = new Set(rows.map((r) => r.requester).filter((r): r is string => r !== null));
      for (const [did, set] of this.cachedParked) if (set.size > 0) this.parkedRequesters.add(did);
    }
    if (!this.parkedRequesters.has(requester)) return [];
    return this.receiptQuery(
      (q) => q.where("status", "=", "parked").where("requester", "=", requester),
      [...(this.cachedParked.get(requester) ?? [])],
      (r) => r.status === "parked" && r.requester === requester,
    );
  }

  /** What deciding these receipts will read, loaded in a handful of statements. */
  private async prefetchDecisions(rows: readonly ReceiptRow[]): Promise<void> {
    await this.loadRecords(rows.map((r) => r.uri));
    const parts: string[] = [];
    for (const r of rows) {
      const v = this.records.get(r.uri)?.value;
      parts.push(r.jobUri, refUri(v, "attestation"));
    }
    await this.loadRecords(parts);
    await this.loadRecords(rows.map((r) => refUri(this.records.get(r.jobUri)?.value, "paymentAuthorization")));
    const keys = rows.map((r) => `job:${r.jobUri}`);
    for (const r of rows) {
      const auth = this.records.get(refUri(this.records.get(r.jobUri)?.value, "paymentAuthorization"));
      const nonce = auth?.value.nonce;
      if (typeof nonce === "string" && r.requester) keys.push(`nonce:${r.requester} ${nonce}`);
    }
    await this.loadClaims(keys);
    await this.loadHolds(rows.map((r) => r.jobUri));
    await this.loadAccounts(rows.flatMap((r) => (r.requester ? [r.requester, r.provider] : [r.provider])));
  }

  /** What storing and considering a batch will read. */
  async prefetchBatch(uris: readonly string[], values: ReadonlyMap<string, Record<string, unknown>>): Promise<void> {
    await this.loadRecords(uris);
    const receipts = uris.filter((u) => u.includes("/dev.cocore.compute.receipt/"));
    await this.loadReceipts(receipts);
    const parts: string[] = [];
    for (const u of receipts) {
      const v = values.get(u);
      parts.push(refUri(v, "job"), refUri(v, "attestation"));
    }
    await this.loadRecords(parts);
    const auths: string[] = [];
    for (const u of [...uris, ...parts]) {
      const v = values.get(u) ?? this.records.get(u)?.value;
      if (u.includes("/dev.cocore.compute.job/")) auths.push(refUri(v, "paymentAuthorization"));
    }
    await this.loadRecords(auths);
  }

  // --- claims, budgets, holds, scores -------------------------------------------------------------

  // A job's claim (`job:<uri>`) is not stored: its settled receipt row is the claim, found by the
  // receipts_job index. Nonce claims have their own table.
  private async loadClaims(keys: Iterable<string>): Promise<void> {
    const missing = [...new Set(keys)].filter((k) => !this.claims.has(k));
    const jobs = missing.filter((k) => k.startsWith("job:")).map((k) => k.slice(4));
    for (const r of await selectByKeys<{ uri: string; job_uri: string }>(this.ldb, this.tx, SETTLED_BY_JOB, jobs.map((j) => [j]))) {
      this.claims.set(`job:${r.job_uri}`, { key: `job:${r.job_uri}`, receipt: r.uri, authUri: null, jobUri: r.job_uri });
    }
    const nonces = missing.filter((k) => !k.startsWith("job:"));
    for (const c of await selectByKeys<{ key: string; receipt: string; auth_uri: string | null; job_uri: string }>(this.ldb, this.tx, CLAIM_BY_KEY, nonces.map((k) => [k]))) {
      this.claims.set(c.key, { key: c.key, receipt: c.receipt, authUri: c.auth_uri, jobUri: c.job_uri });
    }
    for (const k of missing) if (!this.claims.has(k)) this.claims.set(k, null);
  }

  async claim(key: string): Promise<ClaimRow | undefined> {
    if (key.startsWith("job:")) {
      const settled = this.cachedSettledJobs.get(key.slice(4));
      if (settled) return { key, receipt: settled, authUri: null, jobUri: key.slice(4) };
    }
    if (!this.claims.has(key)) await this.loadClaims([key]);
    const c = this.claims.get(key);
    return c ?? undefined;
  }

  putClaim(row: ClaimRow): void {
    this.claims.set(row.key, { ...row });
    if (!row.key.startsWith("job:")) this.newClaims.push({ ...row });
  }

  async budgetUsed(authUri: string): Promise<number> {
    if (!this.budgets.has(authUri)) {
      const r = await this.tx.selectFrom("budgets").select("used").where("auth_uri", "=", authUri).executeTakeFirst();
      this.budgets.set(authUri, r ? toInt(r.used) : 0);
    }
    return this.budgets.get(authUri)!;
  }

  putBudgetUsed(authUri: string, used: number): void {
    this.budgets.set(authUri, used);
    this.dirtyBudgets.add(authUri);
  }

  private async loadHolds(jobs: Iterable<string>): Promise<void> {
    const missing = [...new Set(jobs)].filter((j) => j !== "" && !this.holds.has(j));
    for (const h of await selectByKeys<HoldsRow>(this.ldb, this.tx, HOLD_BY_JOB, missing.map((j) => [j]))) this.holds.set(h.job_uri, holdOf(h));
    for (const j of missing) if (!this.holds.has(j)) this.holds.set(j, null);
  }

  async hold(job: string): Promise<HoldRow | undefined> {
    if (!this.holds.has(job)) await this.loadHolds([job]);
    const h = this.holds.get(job);
    return h ?? undefined;
  }

  putHold(row: HoldRow): void {
    this.holds.set(row.job, { ...row });
    this.dirtyHolds.add(row.job);
  }

  private async flushHolds(): Promise<void> {
    if (this.dirtyHolds.size === 0) return;
    const rows = [...this.dirtyHolds].map((j) => this.holds.get(j)!);
    this.dirtyHolds.clear();
    await insertMany(this.ldb, this.tx, HOLDS, rows.map((h) => [`hold:${h.job}`, h.job, h.requester, h.amount, iso(h.expiresAt), h.state, h.authUri, h.nonceKey, h.provider, h.machineKey]));
  }

  private async holdQuery(build: (q: ReturnType<SqlStore["holdsFrom"]>) => ReturnType<SqlStore["holdsFrom"]>): Promise<HoldRow[]> {
    await this.flushHolds();
    const rows = await build(this.holdsFrom()).execute();
    return rows.map((r) => {
      const h = holdOf(r as HoldsRow);
      this.holds.set(h.job, h);
      return { ...h };
    });
  }

  private holdsFrom() {
    return this.tx.selectFrom("holds").select(["job_uri", "requester", "amount", "expires_at", "state", "auth_uri", "nonce_key", "provider", "machine_key"]);
  }

  expiredHolds(atMs: number): Promise<HoldRow[]> {
    return this.holdQuery((q) => q.where("state", "=", "pending").where("expires_at", "<=", iso(atMs)).orderBy("expires_at").orderBy("job_uri"));
  }

  pendingHoldsOf(authUri: string): Promise<HoldRow[]> {
    return this.holdQuery((q) => q.where("state", "=", "pending").where("auth_uri", "=", authUri));
  }

  async reservation(nonceKey: string): Promise<HoldRow | undefined> {
    return (await this.holdQuery((q) => q.where("state", "=", "pending").where("nonce_key", "=", nonceKey).limit(1)))[0];
  }

  async scores(periodStart: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const r of await this.tx.selectFrom("scores").select(["did", "score"]).where("period_start", "=", periodStart).execute()) out.set(r.did, toInt(r.score));
    for (const d of this.scoreDeltas.values()) if (d.periodStart === periodStart) out.set(d.did, (out.get(d.did) ?? 0) + d.delta);
    return out;
  }

  addScore(periodStart: number, did: string, amount: number): void {
    const key = `${periodStart} ${did}`;
    const d = this.scoreDeltas.get(key);
    if (d) d.delta += amount;
    else this.scoreDeltas.set(key, { periodStart, did, delta: amount });
  }

  // --- movements, published records -------------------------------------------------------------

  movement(m: Movement, ref: string | null): void {
    if (this.movementKeys.has(m.key)) throw new LedgerError("idempotency-conflict", `movement ${m.key} produced twice in one batch`);
    this.movementKeys.add(m.key);
    this.movements.push({ m, ref });
  }

  async hasMovement(key: string): Promise<boolean> {
    if (this.movementKeys.has(key)) return true;
    return (await this.tx.selectFrom("transfers").select("key").where("key", "=", key).executeTakeFirst()) !== undefined;
  }

  async published(key: string): Promise<PublishedRow | undefined> {
    if (!this.publishedRows.has(key)) {
      const [r] = await selectByKeys<{ key: string; collection: string; rkey: string; record: string }>(this.ldb, this.tx, OUTBOX_BY_KEY, [[key]]);
      this.publishedRows.set(key, r ? { key: r.key, collection: r.collection, rkey: r.rkey, value: JSON.parse(r.record) as Record<string, unknown> } : null);
    }
    return this.publishedRows.get(key) ?? undefined;
  }

  publish(row: PublishedRow): void {
    this.publishedRows.set(row.key, row);
    this.newPublished.push(row);
  }

  // --- flush ----------------------------------------------------------------------------------

  async flush(): Promise<void> {
    const { ldb, tx } = this;
    const records = [...this.dirtyRecords].map((u) => this.records.get(u)!);
    await insertMany(
      ldb,
      tx,
      RECORDS,
      records.map((r) => [r.uri, r.did, r.collection, r.rkey, r.cid, this.jsonAhead.get(r.uri) ?? JSON.stringify(toJsonRecord(r.value)), r.status, r.reason, iso(r.firstSeen), r.rev]),
    );
    this.dirtyRecords.clear();
    await this.flushReceipts();
    await this.flushHolds();
    await insertMany(
      ldb,
      tx,
      ACCOUNTS,
      [...this.dirtyAccounts].map((d) => {
        const a = this.accounts.get(d)!;
        return [a.did, a.balance, a.held, a.grantAmount, a.grantedAt === null ? null : iso(a.grantedAt), a.lastRefreshAt === null ? null : iso(a.lastRefreshAt)];
      }),
    );
    this.dirtyAccounts.clear();
    await insertMany(ldb, tx, CLAIMS, this.newClaims.map((c) => [c.key, c.receipt, c.authUri, c.jobUri]));
    this.newClaims.length = 0;
    await insertMany(ldb, tx, BUDGETS, [...this.dirtyBudgets].map((a) => [a, this.budgets.get(a)!]));
    this.dirtyBudgets.clear();
    await insertMany(ldb, tx, SCORES, [...this.scoreDeltas.values()].map((d) => [d.periodStart, d.did, d.delta]));
    this.scoreDeltas.clear();
    await this.flushMovements();
    await this.flushOutbox();
    for (const p of this.newPolicies) {
      await tx.insertInto("policies").values({ uri: p.uri, cid: p.cid, created_at: p.createdAt, value: JSON.stringify(toJsonRecord(p.value)) }).onConflict((oc) => oc.column("uri").doNothing()).execute();
    }
    this.policyRows = [...(this.policyRows ?? []), ...this.newPolicies];
    this.newPolicies.length = 0;
    if (this.metaDirty && this.metaRow) {
      const m = this.metaRow;
      await tx.updateTable("ledger_meta").set({ watermark: m.watermark, decision_ms: m.decisionMs, decision_seq: m.decisionSeq, periods_closed: m.periodsClosed }).where("id", "=", 1).execute();
      this.metaDirty = false;
    }
  }

  private async flushMovements(): Promise<void> {
    const list = this.movements.splice(0);
    if (list.length === 0) return;
    // The database is the final idempotency check: a key already stored aborts the transaction.
    const skipped = await insertNew(this.ldb, this.tx, TRANSFERS, list.map(({ m, ref }) => [m.key, m.kind, m.from, m.to, m.amount, m.at, ref]));
    if (skipped.length === 0) return;
    const clashes = skipped.map((i) => list[i]!.m);
    const stored = new Map((await selectByKeys<TransfersTable>(this.ldb, this.tx, TRANSFER_BY_KEY, clashes.map((m) => [m.key]))).map((r) => [r.key, r]));
    for (const m of clashes) {
      const prior = stored.get(m.key);
      if (prior && !samePayload(prior, m)) throw new LedgerError("idempotency-conflict", `transfer ${m.key} already exists with another payload`);
    }
    throw new LedgerError("invariant", `transfer ${clashes[0]!.key} would be applied twice`);
  }

  private async flushOutbox(): Promise<void> {
    const rows = this.newPublished.splice(0);
    if (rows.length === 0) return;
    const maxRow = await this.tx.selectFrom("outbox").select((eb) => eb.fn.max("seq").as("m")).executeTakeFirst();
    let seq = maxRow?.m === null || maxRow?.m === undefined ? 0 : toInt(maxRow.m, "outbox seq");
    await insertMany(this.ldb, this.tx, OUTBOX, rows.map((r) => [r.key, ++seq, r.collection, r.rkey, JSON.stringify(r.value), null, null]));
  }
}

function refUri(v: Record<string, unknown> | undefined, field: string): string {
  const ref = v?.[field];
  const uri = ref && typeof ref === "object" ? (ref as { uri?: unknown }).uri : undefined;
  return typeof uri === "string" ? uri : "";
}
