// The ledger's transition function (README.md in this directory is its specification): one input
// at a time, every read and write through a LedgerStore, every movement and published record made
// here. The exchange, `ledger replay`, `exchange simulate` and the auditor all run this class.
import { NSID, validateRecord } from "../lexicon/index.ts";
import { verifyReceipt, type Finding } from "../verify-receipt.ts";
import { newAccount, touchRule } from "./accounts.ts";
import { admitJob } from "./admission.ts";
import { candidacy, judge, loadParts, repoOf, str, objOf, type ReceiptFacts, type Verify } from "./facts.ts";
import { emptyEffects, type Effects, type LedgerInput, type RecordOp } from "./inputs.ts";
import { applyLogRecord, LOG_COLLECTIONS } from "./log.ts";
import { distributePeriod, patronageKey } from "./patronage.ts";
import { decisionTid, mintRecord, patronageRecord, settlementKey, settlementRecord } from "./publish.ts";
import { receiptMovements, splitReceipt } from "./split.ts";
import type { AccountRow, LedgerStore, MetaRow, ReceiptRow } from "./store.ts";
import { policyAsPublished, Timeline, type PolicyEntry } from "./timeline.ts";
import { LedgerError, type Movement } from "./types.ts";
import { compareBytes, iso, safeAdd } from "./util.ts";

export interface MachineEnv {
  /** This exchange's DID. */
  exchange: string;
  /** Receipt verification (default verifyReceipt; the exchange passes one that reuses signature verdicts). */
  verify?: Verify;
  /** The policy history, when the caller keeps one across transitions (else read from the store). */
  timeline?: Timeline;
}

/** The receipt statuses nothing can change any more (README: "Settled is final"). */
const DECIDED = new Set(["settled", "parked", "ignored"]);

export class Ledger {
  private meta!: MetaRow;
  private metaDirty = false;
  private timeline!: Timeline;
  private fx: Effects = emptyEffects();
  /** DIDs credited in this transition, with the credit's time: their parked receipts are retried (FIFO). */
  private credited: { did: string; at: number }[] = [];
  private readonly verify: Verify;

  constructor(
    readonly store: LedgerStore,
    readonly env: MachineEnv,
  ) {
    this.verify = env.verify ?? verifyReceipt;
  }

  /** The policy history (loaded on first use). */
  async policies(): Promise<Timeline> {
    if (!this.timeline) this.timeline = this.env.timeline ?? new Timeline(await this.store.policies());
    return this.timeline;
  }

  async watermark(): Promise<number> {
    await this.begin();
    return this.meta.watermark;
  }

  /** One transition. Effects are returned; state changes went to the store. */
  async apply(input: LedgerInput): Promise<Effects> {
    await this.begin();
    this.fx = emptyEffects();
    switch (input.type) {
      case "records":
        await this.onRecords(input);
        break;
      case "advance":
        await this.advance(input.to, input.periodsTo ?? input.to);
        break;
      case "touch":
        await this.touch(input.did, this.meta.watermark);
        break;
      case "read":
        await this.touch(input.did, this.meta.watermark);
        break;
      case "receipt":
        await this.queueFacts(input.facts);
        break;
      case "admit":
        this.fx.admission = await admitJob(this, input);
        break;
      case "release":
        this.fx.release = await this.release(input.job, "released");
        break;
      case "expire": {
        const expired = await this.store.expiredHolds(input.at);
        for (const h of expired) await this.release(h.job, "expired");
        this.fx.releasedHolds = expired.length;
        break;
      }
    }
    await this.cascade();
    if (this.metaDirty) {
      this.store.putMeta(this.meta);
      this.metaDirty = false;
    }
    return this.fx;
  }

  private async begin(): Promise<void> {
    const timeline = await this.policies();
    if (this.meta) return;
    const stored = await this.store.meta();
    if (stored) {
      this.meta = stored;
      return;
    }
    // Ledger time begins at the first policy; before any is known nothing can be decided.
    this.meta = { watermark: timeline.size > 0 ? timeline.genesis : 0, decisionMs: 0, decisionSeq: 0, periodsClosed: 0 };
    this.metaDirty = timeline.size > 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Records

  /** Stores a batch, then considers every receipt it concerns (in uri order). */
  private async onRecords(input: Extract<LedgerInput, { type: "records" }>): Promise<void> {
    const receipts = new Set<string>();
    const parts: string[] = [];
    for (const op of input.ops) {
      const changed = op.action === "delete" ? await this.onDelete(op.uri, op.rev) : await this.onPut(op, input.seenAt, input.restoreLog === true);
      if (!changed) continue;
      if (changed === NSID.receipt) receipts.add(op.uri);
      else if (changed === NSID.job || changed === NSID.paymentAuthorization || changed === NSID.attestation) parts.push(op.uri);
    }
    if (parts.length > 0) for (const w of await this.store.waitingFor(parts)) receipts.add(w);
    for (const uri of [...receipts].sort(compareBytes)) await this.candidate(uri);
  }

  /** Stores one version; returns its collection when it is new, else undefined. */
  private async onPut(op: Extract<RecordOp, { action: "put" }>, seenAt: number, restoreLog: boolean): Promise<string | undefined> {
    const prev = await this.store.record(op.uri);
    // An older version replayed after a newer one (a backfill then the stream; sources out of order).
    if (op.rev && prev?.rev && op.rev < prev.rev) return undefined;
    const at = parseUri(op.uri);
    if (!at) return undefined;
    if (prev && prev.cid === op.cid && prev.status !== "deleted") {
      if (op.rev && (prev.rev === null || prev.rev < op.rev)) this.store.putRecord({ ...prev, rev: op.rev });
      return undefined;
    }
    const problem = op.schema !== undefined ? op.schema : schemaProblem(at.collection, op.value);
    const row = {
      uri: op.uri,
      did: at.did,
      collection: at.collection,
      rkey: at.rkey,
      cid: op.cid,
      value: op.value,
      status: problem ? ("rejected" as const) : ("accepted" as const),
      reason: problem,
      firstSeen: prev?.firstSeen ?? seenAt,
      rev: op.rev ?? null,
    };
    this.store.putRecord(row);
    if (at.did === this.env.exchange && !problem) {
      if (at.collection === NSID.exchangePolicy) await this.onPolicy(row.uri, row.cid, row.value);
      // Our own published log read back to rebuild: restored as it was decided.
      else if (restoreLog && LOG_COLLECTIONS.has(at.collection)) await applyLogRecord(this, { uri: row.uri, cid: row.cid, collection: at.collection, rkey: at.rkey, value: row.value }, { overdraw: true });
    }
    return at.collection;
  }

  private async onDelete(uri: string, rev?: string): Promise<undefined> {
    const prev = await this.store.record(uri);
    if (!prev || prev.status === "deleted") return;
    if (rev && prev.rev && rev < prev.rev) return;
    this.store.putRecord({ ...prev, status: "deleted", ...(rev ? { rev } : {}) });
    if (prev.collection !== NSID.receipt) return;
    // A receipt withdrawn before it was decided is forgotten; a decided one stands.
    const r = await this.store.receipt(uri);
    if (r && !DECIDED.has(r.status)) this.store.deleteReceipt(uri);
  }

  private async onPolicy(uri: string, cid: string, value: Record<string, unknown>): Promise<void> {
    const createdAt = Date.parse(str(value, "createdAt") ?? "");
    if (!Number.isSafeInteger(createdAt)) return;
    const timeline = await this.policies();
    if (timeline.byUri(uri)) return; // a later version (active flipped) is the same policy
    // Decisions already made stand: a policy dated before the watermark cannot govern them.
    if (timeline.size > 0 && createdAt < this.meta.watermark) return;
    if (str(value, "exchange") !== this.env.exchange) return;
    const first = policyAsPublished(value, cid);
    const row = { uri, cid: first.cid, createdAt, value: first.value };
    try {
      timeline.add(row);
    } catch (err) {
      if (err instanceof LedgerError) return; // an unusable policy governs nothing
      throw err;
    }
    this.store.putPolicy(row);
    // The first policies of a new ledger: ledger time begins at the earliest.
    if (timeline.size === 1 && this.meta.decisionMs === 0) {
      this.meta.watermark = timeline.genesis;
      this.metaDirty = true;
    }
  }

  /** Step 1 of a receipt's path: pending, ignored, rejected or queued at its effective time. */
  private async candidate(uri: string): Promise<void> {
    const rec = await this.store.record(uri);
    if (!rec || rec.status === "deleted") return;
    const prior = await this.store.receipt(uri);
    if (prior && DECIDED.has(prior.status)) {
      if (prior.status === "settled" && prior.facts === null && prior.cid === rec.cid) await this.restoreClaims(prior, rec.value);
      return;
    }
    if (prior && prior.status === "queued" && prior.cid === rec.cid) return;
    const parts = await loadParts(this.store, rec);
    const c = candidacy(parts, this.env.exchange);
    const base: ReceiptRow = {
      uri,
      cid: rec.cid,
      jobUri: parts.jobUri,
      requester: str(rec.value, "requester") ?? null,
      provider: rec.did,
      status: "pending",
      reason: null,
      waitingFor: null,
      findings: null,
      completedAt: null,
      eff: null,
      facts: null,
      settlement: null,
    };
    switch (c.kind) {
      case "pending":
        this.store.putReceipt({ ...base, reason: c.reason, waitingFor: c.waitingFor });
        return;
      case "ignored":
        this.store.putReceipt({ ...base, status: "ignored", reason: c.reason });
        return this.changed(uri, "ignored");
      case "rejected":
        return this.reject(base, c.findings, null);
      case "queued":
        this.store.putReceipt({ ...base, status: "queued", completedAt: c.completedAt, eff: Math.max(c.completedAt, this.meta.watermark) });
        return this.changed(uri, "queued");
    }
  }

  /** A replay's pre-verified receipt: queued as it is. */
  private async queueFacts(f: ReceiptFacts): Promise<void> {
    const prior = await this.store.receipt(f.uri);
    if (prior) {
      if (prior.facts && JSON.stringify(prior.facts) !== JSON.stringify(f)) throw new LedgerError("idempotency-conflict", `receipt ${f.uri} was already seen with a different payload`);
      return;
    }
    const policy = (await this.policies()).at(f.completedAt);
    const base: ReceiptRow = {
      uri: f.uri,
      cid: f.cid,
      jobUri: f.jobUri,
      requester: f.requester,
      provider: f.provider,
      status: "queued",
      reason: null,
      waitingFor: null,
      findings: null,
      completedAt: f.completedAt,
      eff: Math.max(f.completedAt, this.meta.watermark),
      facts: f,
      settlement: null,
    };
    if (f.currency !== policy.ledger.currency) {
      return this.reject(base, [{ code: "currency-mismatch", message: `price currency ${f.currency} is not the ledger currency ${policy.ledger.currency}` }], null);
    }
    this.store.putReceipt(base);
    this.changed(f.uri, "queued");
  }

  private reject(row: ReceiptRow, findings: Finding[], waitingFor: string | null): void {
    this.store.putReceipt({ ...row, status: "rejected", reason: findings.map((f) => f.code).join(","), findings, waitingFor, eff: null });
    this.changed(row.uri, "rejected", findings);
  }

  private changed(uri: string, status: ReceiptRow["status"], findings?: Finding[]): void {
    this.fx.receipts.push({ uri, status, ...(findings ? { findings } : {}) });
  }

  // ---------------------------------------------------------------------------------------------
  // Time

  /** Moves the watermark to `to`, deciding everything before it in ledger-time order. */
  private async advance(to: number, periodsTo: number): Promise<void> {
    const timeline = await this.policies();
    if (timeline.size === 0) return;
    const target = Math.max(this.meta.watermark, to);
    for (;;) {
      const period = timeline.period(this.meta.periodsClosed);
      const closes = period.end <= Math.max(this.meta.watermark, periodsTo);
      const bound = closes ? Math.min(period.end, target) : target;
      for (const row of await this.store.queuedBefore(bound)) {
        await this.decide(row);
        await this.cascade();
      }
      if (!closes) break;
      await this.closePeriod(period.index);
      await this.cascade();
    }
    if (target !== this.meta.watermark) {
      this.meta.watermark = target;
      this.metaDirty = true;
    }
  }

  /** The record key of the next decision at `ms` (the log never goes back in time). */
  stamp(ms: number): string {
    if (ms < this.meta.decisionMs) throw new LedgerError("invariant", `a decision at ${iso(ms)} after one at ${iso(this.meta.decisionMs)}`);
    if (ms > this.meta.decisionMs) {
      this.meta.decisionMs = ms;
      this.meta.decisionSeq = 0;
    }
    this.metaDirty = true;
    return decisionTid(ms, this.meta.decisionSeq++);
  }

  // ---------------------------------------------------------------------------------------------
  // Balances

  async account(did: string): Promise<AccountRow> {
    return (await this.store.account(did)) ?? newAccount(did);
  }

  /** Applies one movement; a debit that would overdraw is a broken invariant unless `overdraw`. */
  async move(m: Movement, ref: string | null, overdraw = false): Promise<void> {
    if (!Number.isSafeInteger(m.amount) || m.amount <= 0) throw new LedgerError("invariant", `movement ${m.key} has a bad amount ${m.amount}`);
    if (m.from !== null) {
      const from = await this.account(m.from);
      if (from.balance < m.amount && !overdraw) throw new LedgerError("invariant", `movement ${m.key} would overdraw ${m.from} (${from.balance} < ${m.amount})`);
      this.store.putAccount({ ...from, balance: from.balance - m.amount });
    }
    const to = await this.account(m.to);
    this.store.putAccount({ ...to, balance: safeAdd(to.balance, m.amount, `balance of ${m.to}`) });
    this.store.movement(m, ref);
    this.fx.movements.push(m);
    if (!this.credited.some((c) => c.did === m.to)) this.credited.push({ did: m.to, at: Date.parse(m.at) });
  }

  /** A touch at `atMs` (grant, refresh), published. */
  async touch(did: string, atMs: number): Promise<void> {
    const timeline = await this.policies();
    const policy = timeline.at(atMs);
    const prior = await this.account(did);
    const { next, mint } = touchRule(prior, atMs, policy.ledger);
    if (next !== prior) this.store.putAccount(next);
    if (mint) await this.mint(mint, policy);
  }

  /** Applies and publishes a grant or refresh the rules made. */
  async mint(m: Movement, policy: PolicyEntry): Promise<void> {
    await this.move(m, null);
    const kind = m.kind === "grant" ? "grant" : "refresh";
    this.publish(m.key, kind === "grant" ? NSID.tokenGrant : NSID.tokenRefresh, Date.parse(m.at), mintRecord(kind, this.env.exchange, m.to, m.amount, policy, Date.parse(m.at)));
  }

  publish(key: string, collection: string, atMs: number, value: Record<string, unknown>): void {
    const row = { key, collection, rkey: this.stamp(atMs), value };
    this.store.publish(row);
    this.fx.published.push(row);
  }

  // ---------------------------------------------------------------------------------------------
  // Decisions

  /** Steps 2–4 of a receipt's path, at its effective time. */
  private async decide(row: ReceiptRow): Promise<void> {
    const t = row.eff!;
    let facts = row.facts;
    if (!facts) {
      const rec = await this.store.record(row.uri);
      if (!rec || rec.status === "deleted") return this.store.deleteReceipt(row.uri);
      const j = judge(await loadParts(this.store, rec), this.env.exchange, await this.policies(), this.verify);
      if (!j.ok && "pending" in j) {
        this.store.putReceipt({ ...row, status: "pending", reason: j.pending.reason, waitingFor: j.pending.waitingFor, eff: null });
        return;
      }
      if (!j.ok) return j.findings.length === 0 ? this.store.putReceipt({ ...row, status: "ignored", reason: "other-exchange" }) : this.reject(row, j.findings, j.waitingFor);
      facts = j.facts;
    }
    const conflict = await this.claimConflict(facts);
    if (conflict) return this.reject({ ...row, facts }, [conflict], null);
    await this.touch(facts.requester, t);
    if (facts.provider !== facts.requester) await this.touch(facts.provider, t);
    const parked: ReceiptRow = { ...row, facts, status: "parked", reason: "insufficient-balance" };
    if (!(await this.trySettle(parked, t))) {
      this.store.putReceipt(parked);
      this.changed(row.uri, "parked");
    }
  }

  /** The claim a receipt would break by settling now (README step 2), if any. */
  async claimConflict(f: ReceiptFacts): Promise<Finding | null> {
    const job = await this.store.claim(`job:${f.jobUri}`);
    if (job && job.receipt !== f.uri) return { code: "nonce-reused", message: `job ${f.jobUri} was already settled by receipt ${job.receipt}` };
    if (!f.auth) return null;
    const nonce = await this.store.claim(nonceKey(f.requester, f.auth.nonce));
    if (nonce && (nonce.authUri !== f.auth.uri || (f.auth.scope !== "session" && nonce.jobUri !== f.jobUri))) {
      return { code: "nonce-reused", message: `authorization nonce ${f.auth.nonce} was already used by ${nonce.jobUri}` };
    }
    if (f.auth.scope === "session" && f.auth.sessionBudget !== null) {
      const policy = (await this.policies()).at(f.completedAt);
      const { charged } = splitReceipt(f, policy.ledger);
      const used = await this.store.budgetUsed(f.auth.uri);
      if (used + charged > f.auth.sessionBudget) {
        return { code: "session-budget-exceeded", message: `settling ${charged} would take the session's charges to ${used + charged}, over its budget ${f.auth.sessionBudget}` };
      }
    }
    return null;
  }

  /** Settles `row` at `t` if its requester can pay; returns whether it did. */
  private async trySettle(row: ReceiptRow, t: number): Promise<boolean> {
    const f = row.facts!;
    const policy = (await this.policies()).at(f.completedAt);
    const split = splitReceipt(f, policy.ledger);
    if (split.debit > (await this.account(f.requester)).balance) return false;
    await this.settle(row, f, split, policy, t);
    return true;
  }

  private async settle(row: ReceiptRow, f: ReceiptFacts, split: ReturnType<typeof splitReceipt>, policy: PolicyEntry, t: number): Promise<void> {
    for (const m of receiptMovements(f, split, policy.ledger.treasury, t)) await this.move(m, f.uri);
    this.store.putClaim({ key: `job:${f.jobUri}`, receipt: f.uri, authUri: f.auth?.uri ?? null, jobUri: f.jobUri });
    if (f.auth) {
      const key = nonceKey(f.requester, f.auth.nonce);
      if (!(await this.store.claim(key))) this.store.putClaim({ key, receipt: f.uri, authUri: f.auth.uri, jobUri: f.jobUri });
      if (f.auth.scope === "session") this.store.putBudgetUsed(f.auth.uri, (await this.store.budgetUsed(f.auth.uri)) + split.charged);
    }
    const hold = await this.store.hold(f.jobUri);
    if (hold && hold.state === "pending") {
      this.store.putHold({ ...hold, state: "posted" });
      const a = await this.account(hold.requester);
      this.store.putAccount({ ...a, held: a.held - hold.amount });
    }
    if (split.kind === "transfer") await this.score(t, f, split, policy.ledger.treasury);
    this.store.putReceipt({
      ...row,
      status: "settled",
      reason: null,
      waitingFor: null,
      findings: null,
      facts: f,
      settlement: { kind: split.kind, charged: split.charged, payout: split.payout, fee: split.fee, settledAt: t, policyUri: policy.uri },
    });
    this.changed(f.uri, "settled");
    if (f.auth) {
      const value = settlementRecord({ receipt: f, auth: f.auth, charged: split.charged, payout: split.payout, fee: split.fee, currency: f.currency, policy, settledAt: t });
      this.publish(settlementKey(f.uri), NSID.settlement, t, value);
    }
  }

  /** Patronage scores: the period open at `t` (README: "Patronage"). */
  private async score(t: number, f: ReceiptFacts, split: { charged: number; payout: number }, treasury: string): Promise<void> {
    const period = (await this.policies()).period(this.meta.periodsClosed);
    if (t < period.start || t >= period.end) throw new LedgerError("invariant", `a settlement at ${iso(t)} outside the open period [${iso(period.start)}, ${iso(period.end)})`);
    if (f.requester !== treasury && split.charged > 0) this.store.addScore(period.start, f.requester, split.charged);
    if (f.provider !== treasury && split.payout > 0) this.store.addScore(period.start, f.provider, split.payout);
  }

  /** Parked receipts of every DID credited so far, retried at the time of the credit. */
  private async cascade(): Promise<void> {
    while (this.credited.length > 0) {
      const { did, at: t } = this.credited.shift()!;
      let scan = true;
      while (scan) {
        scan = false;
        for (const p of await this.store.parkedOf(did)) {
          const f = p.facts!;
          const conflict = await this.claimConflict(f);
          if (conflict) {
            this.reject(p, [conflict], null);
            continue;
          }
          const policy = (await this.policies()).at(f.completedAt);
          const split = splitReceipt(f, policy.ledger);
          const balance = (await this.account(f.requester)).balance;
          if (split.debit > balance) continue;
          // Being a party to a settled receipt is a touch (PROTOCOL.md §6).
          await this.touch(f.requester, t);
          if (f.provider !== f.requester) await this.touch(f.provider, t);
          // A refresh due at that touch can make a receipt skipped above payable: the first payable
          // one must settle next (README step 5), so the scan starts over. Without a mint the
          // balance only falls, and everything skipped stays unpayable.
          scan = (await this.account(f.requester)).balance > balance;
          await this.settle(p, f, split, policy, t);
          if (scan) break;
        }
      }
    }
  }

  /** Distributes every open period that ends at or before `at` (the log's own order, log.ts). */
  async closePeriodsThrough(at: number): Promise<void> {
    const timeline = await this.policies();
    for (;;) {
      const period = timeline.period(this.meta.periodsClosed);
      if (!(period.end <= at)) return;
      await this.closePeriod(period.index);
      await this.cascade();
    }
  }

  /**
   * The auditor's check of one published settlement: the receipt judged at the version the
   * settlement pins, its claims, both parties touched at `t`, coverage, and — when all pass — the
   * settlement made exactly as the exchange's own decision makes it (its record is in effects).
   */
  async replaySettlement(uri: string, pinnedCid: string, t: number): Promise<
    | { kind: "settled" }
    | { kind: "changed"; current: string | null }
    | { kind: "invalid"; findings: Finding[] }
    | { kind: "unfunded"; debit: number; balance: number }
  > {
    const rec = await this.store.record(uri);
    if (!rec || rec.status === "deleted" || rec.cid !== pinnedCid) return { kind: "changed", current: rec && rec.status !== "deleted" ? rec.cid : null };
    const j = judge(await loadParts(this.store, rec), this.env.exchange, await this.policies(), this.verify);
    if (!j.ok) {
      if ("pending" in j) return { kind: "invalid", findings: [{ code: "schema-invalid", message: `cannot be verified: ${j.pending.reason}` }] };
      return { kind: "invalid", findings: j.findings.length > 0 ? j.findings : [{ code: "authorization-invalid", message: "the authorization names another exchange" }] };
    }
    const conflict = await this.claimConflict(j.facts);
    if (conflict) return { kind: "invalid", findings: [conflict] };
    const f = j.facts;
    await this.touch(f.requester, t);
    if (f.provider !== f.requester) await this.touch(f.provider, t);
    const policy = (await this.policies()).at(f.completedAt);
    const split = splitReceipt(f, policy.ledger);
    const balance = (await this.account(f.requester)).balance;
    if (split.debit > balance) return { kind: "unfunded", debit: split.debit, balance };
    const row: ReceiptRow = { uri, cid: rec.cid, jobUri: f.jobUri, requester: f.requester, provider: f.provider, status: "parked", reason: null, waitingFor: null, findings: null, completedAt: f.completedAt, eff: t, facts: f, settlement: null };
    await this.settle(row, f, split, policy, t);
    await this.cascade();
    return { kind: "settled" };
  }

  private async closePeriod(index: number): Promise<void> {
    const timeline = await this.policies();
    const period = timeline.period(index);
    this.meta.periodsClosed = index + 1;
    this.metaDirty = true;
    const policy = period.policy;
    if (!policy.ledger.patronage) return;
    const treasury = policy.ledger.treasury;
    const treasuryBalance = (await this.account(treasury)).balance;
    const { result, movements } = distributePeriod({ period, treasuryBefore: treasuryBalance, scores: await this.store.scores(period.start), available: treasuryBalance });
    for (const m of movements) await this.move(m, null);
    for (const s of result.shares) {
      if (s.credited < 1) continue;
      const value = patronageRecord({
        exchange: this.env.exchange,
        recipient: s.did,
        start: period.start,
        end: period.end,
        score: s.score,
        total: result.totalScore,
        credited: s.credited,
        treasuryBefore: treasuryBalance,
        policy,
      });
      this.publish(patronageKey(period.start, s.did), NSID.tokenPatronage, period.end, value);
    }
    this.fx.periods.push(result);
  }

  // ---------------------------------------------------------------------------------------------
  // Holds

  async release(job: string, state: "released" | "expired"): Promise<{ released: boolean; held: number; available: number }> {
    const hold = await this.store.hold(job);
    const requester = hold?.requester ?? repoOf(job) ?? "";
    const a = await this.account(requester);
    if (!hold || hold.state !== "pending") return { released: false, held: a.held, available: a.balance - a.held };
    this.store.putHold({ ...hold, state });
    const next = { ...a, held: a.held - hold.amount };
    this.store.putAccount(next);
    return { released: true, held: next.held, available: next.balance - next.held };
  }

  /** A receipt settled by our own published log (rebuild): its claims once its record is known. */
  private async restoreClaims(row: ReceiptRow, value: Record<string, unknown>): Promise<void> {
    const jobUri = str(objOf(value, "job"), "uri") ?? "";
    if (!jobUri || (await this.store.claim(`job:${jobUri}`))) return;
    this.store.putClaim({ key: `job:${jobUri}`, receipt: row.uri, authUri: null, jobUri });
    const job = await this.store.record(jobUri);
    const authUri = str(objOf(job?.value, "paymentAuthorization"), "uri");
    const auth = authUri ? await this.store.record(authUri) : undefined;
    const nonce = str(auth?.value, "nonce");
    if (auth && nonce && row.requester) {
      const key = nonceKey(row.requester, nonce);
      if (!(await this.store.claim(key))) this.store.putClaim({ key, receipt: row.uri, authUri: auth.uri, jobUri });
      if (str(auth.value, "scope") === "session" && row.settlement) this.store.putBudgetUsed(auth.uri, (await this.store.budgetUsed(auth.uri)) + row.settlement.charged);
    }
    this.store.putReceipt({ ...row, jobUri });
  }

  /** For the log replay (log.ts): the meta row, read and written through the machine. */
  get state(): MetaRow {
    return this.meta;
  }

  markMetaDirty(): void {
    this.metaDirty = true;
  }

  /** Effects of the transition in progress (log.ts adds to them). */
  get effects(): Effects {
    return this.fx;
  }
}

export function nonceKey(requester: string, nonce: string): string {
  return `nonce:${requester} ${nonce}`;
}

function parseUri(uri: string): { did: string; collection: string; rkey: string } | undefined {
  const m = /^at:\/\/([^/?#]+)\/([^/?#]+)\/([^/?#]+)$/.exec(uri);
  return m ? { did: m[1]!, collection: m[2]!, rkey: m[3]! } : undefined;
}

function schemaProblem(collection: string, value: Record<string, unknown>): string | null {
  if (!collection.startsWith("dev.cocore.")) return null;
  const v = validateRecord(collection, value);
  return v.ok ? null : v.message;
}
