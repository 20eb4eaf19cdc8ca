// The ledger's transition function (README.md in this directory is its specification): one input
// at a time, every read and write through a LedgerStore, every movement and published record made
// here — record intake in intake.ts, decisions in decisions.ts, admission in admission.ts, the
// published log read back in log.ts. The exchange, `ledger replay`, `exchange simulate` and the
// auditor all run this class. Its invariants are checked at the end of every transition.
import { NSID } from "../lexicon/index.ts";
import { verifyReceipt, type Finding } from "../verify-receipt.ts";
import { newAccount, touchRule } from "./accounts.ts";
import { admitJob } from "./admission.ts";
import { advance, cascade, claimConflict, closePeriodsThrough, release, replaySettlement } from "./decisions.ts";
import type { ReceiptFacts, Verify } from "./facts.ts";
import { emptyEffects, type Effects, type LedgerInput } from "./inputs.ts";
import { onRecords, queueFacts } from "./intake.ts";
import { decisionTid, mintRecord } from "./publish.ts";
import type { AccountRow, LedgerStore, MetaRow, ReceiptRow } from "./store.ts";
import { Timeline, type PolicyEntry } from "./timeline.ts";
import { LedgerError, type Movement } from "./types.ts";
import { iso, safeAdd } from "./util.ts";

export interface MachineEnv {
  /** This exchange's DID. */
  exchange: string;
  /** Receipt verification (default verifyReceipt; the exchange passes one that reuses signature verdicts). */
  verify?: Verify;
  /** The policy history, when the caller keeps one across transitions (else read from the store). */
  timeline?: Timeline;
}

export function nonceKey(requester: string, nonce: string): string {
  return `nonce:${requester} ${nonce}`;
}

export class Ledger {
  // The state below is the ledger module's own (intake.ts, decisions.ts, admission.ts, log.ts).
  meta!: MetaRow;
  metaDirty = false;
  fx: Effects = emptyEffects();
  /** DIDs credited in this transition, with the credit's time: their parked receipts are retried (FIFO). */
  credited: { did: string; at: number }[] = [];
  readonly verifyFn: Verify;
  private timeline!: Timeline;
  /** Balances as this transition found them and as it leaves them, for the invariant checks. */
  private opening = new Map<string, number>();
  private closing = new Map<string, AccountRow>();
  private minted = 0;
  /** Accounts a published log entry took below zero (a rebuild or an audit applies facts as they are). */
  private overdrawn = new Set<string>();

  constructor(
    readonly store: LedgerStore,
    readonly env: MachineEnv,
  ) {
    this.verifyFn = env.verify ?? verifyReceipt;
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
    this.opening = new Map();
    this.closing = new Map();
    this.minted = 0;
    switch (input.type) {
      case "records":
        await onRecords(this, input);
        break;
      case "advance":
        await advance(this, input.to, input.periodsTo ?? input.to);
        break;
      case "touch":
      case "read":
        await this.touch(input.did, this.meta.watermark);
        break;
      case "receipt":
        await queueFacts(this, input.facts);
        break;
      case "admit":
        this.fx.admission = await admitJob(this, input);
        break;
      case "release":
        this.fx.release = await release(this, input.job, "released");
        break;
      case "expire": {
        const expired = await this.store.expiredHolds(input.at);
        for (const h of expired) await release(this, h.job, "expired");
        this.fx.releasedHolds = expired.length;
        break;
      }
    }
    await cascade(this);
    this.checkInvariants(input.type);
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

  /**
   * What must hold after every transition (README: "Invariants"): tokens are only minted by grants
   * and refreshes (Σ balance changes = Σ minted), no balance or held amount is below zero (but
   * where a published log entry was applied as the fact it is), the log never goes back in time.
   */
  private checkInvariants(what: string): void {
    let delta = 0;
    for (const [did, row] of this.closing) {
      delta += row.balance - (this.opening.get(did) ?? 0);
      if ((row.balance < 0 && !this.overdrawn.has(did)) || row.held < 0) {
        throw new LedgerError("invariant", `after ${what}: ${did} has balance ${row.balance}, held ${row.held}`);
      }
    }
    if (delta !== this.minted) throw new LedgerError("invariant", `after ${what}: balances moved by ${delta} but ${this.minted} was minted`);
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

  markMetaDirty(): void {
    this.metaDirty = true;
  }

  /** For the log replay (log.ts): the meta row, read and written through the machine. */
  get state(): MetaRow {
    return this.meta;
  }

  /** Effects of the transition in progress (log.ts and the auditor read them). */
  get effects(): Effects {
    return this.fx;
  }

  // ---------------------------------------------------------------------------------------------
  // Balances

  async account(did: string): Promise<AccountRow> {
    const a = (await this.store.account(did)) ?? newAccount(did);
    if (!this.opening.has(did)) this.opening.set(did, a.balance);
    return a;
  }

  /** Every account write goes through here, so the transition's invariants can be checked. */
  putAccount(row: AccountRow): void {
    if (!this.opening.has(row.did)) throw new LedgerError("invariant", `account ${row.did} written before it was read`);
    this.closing.set(row.did, row);
    this.store.putAccount(row);
  }

  /** Applies one movement; a debit that would overdraw is a broken invariant unless `overdraw`. */
  async move(m: Movement, ref: string | null, overdraw = false): Promise<void> {
    if (!Number.isSafeInteger(m.amount) || m.amount <= 0) throw new LedgerError("invariant", `movement ${m.key} has a bad amount ${m.amount}`);
    if (m.from === null) {
      if (m.kind !== "grant" && m.kind !== "refresh") throw new LedgerError("invariant", `movement ${m.key} mints tokens but is a ${m.kind}`);
      this.minted += m.amount;
    } else {
      const from = await this.account(m.from);
      if (from.balance < m.amount) {
        if (!overdraw) throw new LedgerError("invariant", `movement ${m.key} would overdraw ${m.from} (${from.balance} < ${m.amount})`);
        this.overdrawn.add(m.from);
      }
      this.putAccount({ ...from, balance: from.balance - m.amount });
    }
    const to = await this.account(m.to);
    this.putAccount({ ...to, balance: safeAdd(to.balance, m.amount, `balance of ${m.to}`) });
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
    if (next !== prior) this.putAccount(next);
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
  // Receipt statuses

  reject(row: ReceiptRow, findings: Finding[], waitingFor: string | null): void {
    this.store.putReceipt({ ...row, status: "rejected", reason: findings.map((f) => f.code).join(","), findings, waitingFor, eff: null });
    this.changed(row.uri, "rejected", findings);
  }

  changed(uri: string, status: ReceiptRow["status"], findings?: Finding[]): void {
    this.fx.receipts.push({ uri, status, ...(findings ? { findings } : {}) });
  }

  // ---------------------------------------------------------------------------------------------
  // For the auditor and the log replay (decisions.ts)

  claimConflict(f: ReceiptFacts): Promise<Finding | null> {
    return claimConflict(this, f);
  }

  closePeriodsThrough(at: number): Promise<void> {
    return closePeriodsThrough(this, at);
  }

  replaySettlement(uri: string, pinnedCid: string, t: number): ReturnType<typeof replaySettlement> {
    return replaySettlement(this, uri, pinnedCid, t);
  }
}
