// Decisions (README: "Ordering" and "A receipt's path", steps 2–5; "Patronage"): the watermark
// moved and everything before it decided in ledger-time order — receipts judged, claims checked,
// parties touched, settled or parked — parked receipts retried at each credit, patronage periods
// distributed at their ends; and the same decision run for the auditor at a published settlement.
import { NSID } from "../lexicon/index.ts";
import { dispatchFinding, sessionBudgetFinding, type Finding } from "../verify-receipt.ts";
import { judge, loadParts, repoOf, type ReceiptFacts } from "./facts.ts";
import { nonceKey, type Ledger } from "./machine.ts";
import { distributePeriod, patronageKey } from "./patronage.ts";
import { patronageRecord, settlementKey, settlementRecord } from "./publish.ts";
import { receiptMovements, splitReceipt } from "./split.ts";
import type { ReceiptRow } from "./store.ts";
import type { PolicyEntry } from "./timeline.ts";
import { LedgerError } from "./types.ts";
import { iso } from "./util.ts";

/** Moves the watermark to `to`, deciding everything before it in ledger-time order. */
export async function advance(l: Ledger, to: number, periodsTo: number): Promise<void> {
  const timeline = await l.policies();
  if (timeline.size === 0) return;
  const target = Math.max(l.meta.watermark, to);
  for (;;) {
    const period = timeline.period(l.meta.periodsClosed);
    const closes = period.end <= Math.max(l.meta.watermark, periodsTo);
    const bound = closes ? Math.min(period.end, target) : target;
    for (const row of await l.store.queuedBefore(bound)) {
      await decide(l, row);
      await cascade(l);
    }
    if (!closes) break;
    await closePeriod(l, period.index);
    await cascade(l);
  }
  if (target !== l.meta.watermark) {
    l.meta.watermark = target;
    l.metaDirty = true;
  }
}

/** Steps 2–4 of a receipt's path, at its effective time. */
export async function decide(l: Ledger, row: ReceiptRow): Promise<void> {
  const t = row.eff!;
  let facts = row.facts;
  if (!facts) {
    const rec = await l.store.record(row.uri);
    if (!rec || rec.status === "deleted") return l.store.deleteReceipt(row.uri);
    const j = judge(await loadParts(l.store, rec), l.env.exchange, await l.policies(), l.verifyFn);
    if (!j.ok && "pending" in j) {
      l.store.putReceipt({ ...row, status: "pending", reason: j.pending.reason, waitingFor: j.pending.waitingFor, eff: null });
      return;
    }
    if (!j.ok) return j.findings.length === 0 ? l.store.putReceipt({ ...row, status: "ignored", reason: "other-exchange" }) : l.reject(row, j.findings, j.waitingFor);
    facts = j.facts;
  }
  const conflict = (await dispatchConflict(l, facts)) ?? (await claimConflict(l, facts));
  if (conflict) return l.reject({ ...row, facts }, [conflict], null);
  await l.touch(facts.requester, t);
  if (facts.provider !== facts.requester) await l.touch(facts.provider, t);
  const parked: ReceiptRow = { ...row, facts, status: "parked", reason: "insufficient-balance" };
  if (!(await trySettle(l, parked, t))) {
    l.store.putReceipt(parked);
    l.changed(row.uri, "parked");
  }
}

/**
 * A job this exchange admitted for one machine is paid to that machine only: a receipt from any
 * other provider (or another machine of the same provider), or one without the matchmaker's
 * countersignature, is not the dispatched work. The binding
 * is the exchange's own (holds are private), so the auditor takes such a rejection on the
 * exchange's word (README: "Holds").
 */
async function dispatchConflict(l: Ledger, f: ReceiptFacts): Promise<Finding | null> {
  const hold = await l.store.hold(f.jobUri);
  if (!hold || hold.provider === null) return null;
  const wrong = dispatchFinding(f.jobUri, { provider: hold.provider, machineKey: hold.machineKey }, f.provider, f.machineKey);
  if (wrong) return wrong;
  // The matchmaker that bound the job countersigned the dispatch, and the agent copies that into
  // its receipt: a receipt without it is not the dispatched work as the public record states it.
  if (!f.countersignedBy) return { code: "countersignature-missing", message: `job ${f.jobUri} was dispatched with a brokerageCountersignature; the receipt carries none` };
  return null;
}

/** The claim a receipt would break by settling now (README step 2), if any. */
export async function claimConflict(l: Ledger, f: ReceiptFacts): Promise<Finding | null> {
  const job = await l.store.claim(`job:${f.jobUri}`);
  if (job && job.receipt !== f.uri) return { code: "nonce-reused", message: `job ${f.jobUri} was already settled by receipt ${job.receipt}` };
  if (!f.auth) return null;
  const nonce = await l.store.claim(nonceKey(f.requester, f.auth.nonce));
  if (nonce && (nonce.authUri !== f.auth.uri || (f.auth.scope !== "session" && nonce.jobUri !== f.jobUri))) {
    return { code: "nonce-reused", message: `authorization nonce ${f.auth.nonce} was already used by ${nonce.jobUri}` };
  }
  if (f.auth.scope === "session") {
    const { charged } = splitReceipt(f, (await l.policies()).at(f.completedAt).ledger);
    return sessionBudgetFinding(f.auth.sessionBudget, await l.store.budgetUsed(f.auth.uri), charged);
  }
  return null;
}

/** Settles `row` at `t` if its requester can pay; returns whether it did. */
export async function trySettle(l: Ledger, row: ReceiptRow, t: number): Promise<boolean> {
  const f = row.facts!;
  const policy = (await l.policies()).at(f.completedAt);
  const split = splitReceipt(f, policy.ledger);
  if (split.debit > (await l.account(f.requester)).balance) return false;
  await settle(l, row, f, split, policy, t);
  return true;
}

export async function settle(l: Ledger, row: ReceiptRow, f: ReceiptFacts, split: ReturnType<typeof splitReceipt>, policy: PolicyEntry, t: number): Promise<void> {
  for (const m of receiptMovements(f, split, policy.ledger.treasury, t)) await l.move(m, f.uri);
  l.store.putClaim({ key: `job:${f.jobUri}`, receipt: f.uri, authUri: f.auth?.uri ?? null, jobUri: f.jobUri });
  if (f.auth) {
    const key = nonceKey(f.requester, f.auth.nonce);
    if (!(await l.store.claim(key))) l.store.putClaim({ key, receipt: f.uri, authUri: f.auth.uri, jobUri: f.jobUri });
    if (f.auth.scope === "session") l.store.putBudgetUsed(f.auth.uri, (await l.store.budgetUsed(f.auth.uri)) + split.charged);
  }
  const hold = await l.store.hold(f.jobUri);
  if (hold && hold.state === "pending") {
    l.store.putHold({ ...hold, state: "posted" });
    const a = await l.account(hold.requester);
    l.putAccount({ ...a, held: a.held - hold.amount });
  }
  if (split.kind === "transfer") await score(l, t, f, split, policy.ledger.treasury);
  l.store.putReceipt({
    ...row,
    status: "settled",
    reason: null,
    waitingFor: null,
    findings: null,
    facts: f,
    settlement: { kind: split.kind, charged: split.charged, payout: split.payout, fee: split.fee, settledAt: t, policyUri: policy.uri },
  });
  l.changed(f.uri, "settled");
  if (f.auth) {
    const value = settlementRecord({ receipt: f, auth: f.auth, charged: split.charged, payout: split.payout, fee: split.fee, currency: f.currency, policy, settledAt: t });
    l.publish(settlementKey(f.uri), NSID.settlement, t, value);
  }
}

/** Patronage scores: the period open at `t` (README: "Patronage"). */
export async function score(l: Ledger, t: number, f: ReceiptFacts, split: { charged: number; payout: number }, treasury: string): Promise<void> {
  const period = (await l.policies()).period(l.meta.periodsClosed);
  if (t < period.start || t >= period.end) throw new LedgerError("invariant", `a settlement at ${iso(t)} outside the open period [${iso(period.start)}, ${iso(period.end)})`);
  if (f.requester !== treasury && split.charged > 0) l.store.addScore(period.start, f.requester, split.charged);
  if (f.provider !== treasury && split.payout > 0) l.store.addScore(period.start, f.provider, split.payout);
}

/** Parked receipts of every DID credited so far, retried at the time of the credit. */
export async function cascade(l: Ledger): Promise<void> {
  while (l.credited.length > 0) {
    const { did, at: t } = l.credited.shift()!;
    let scan = true;
    while (scan) {
      scan = false;
      for (const p of await l.store.parkedOf(did)) {
        const f = p.facts!;
        const conflict = await claimConflict(l, f);
        if (conflict) {
          l.reject(p, [conflict], null);
          continue;
        }
        const policy = (await l.policies()).at(f.completedAt);
        const split = splitReceipt(f, policy.ledger);
        const balance = (await l.account(f.requester)).balance;
        if (split.debit > balance) continue;
        // Being a party to a settled receipt is a touch (PROTOCOL.md §6).
        await l.touch(f.requester, t);
        if (f.provider !== f.requester) await l.touch(f.provider, t);
        // A refresh due at that touch can make a receipt skipped above payable: the first payable
        // one must settle next (README step 5), so the scan starts over. Without a mint the
        // balance only falls, and everything skipped stays unpayable.
        scan = (await l.account(f.requester)).balance > balance;
        await settle(l, p, f, split, policy, t);
        if (scan) break;
      }
    }
  }
}

/** Distributes every open period that ends at or before `at` (the log's own order, log.ts). */
export async function closePeriodsThrough(l: Ledger, at: number): Promise<void> {
  const timeline = await l.policies();
  for (;;) {
    const period = timeline.period(l.meta.periodsClosed);
    if (!(period.end <= at)) return;
    await closePeriod(l, period.index);
    await cascade(l);
  }
}

/**
 * The auditor's check of one published settlement: the receipt judged at the version the
 * settlement pins, its claims, both parties touched at `t`, coverage, and — when all pass — the
 * settlement made exactly as the exchange's own decision makes it (its record is in effects).
 */
export async function replaySettlement(l: Ledger, uri: string, pinnedCid: string, t: number): Promise<
  | { kind: "settled" }
  | { kind: "changed"; current: string | null }
  | { kind: "invalid"; findings: Finding[] }
  | { kind: "unfunded"; debit: number; balance: number }
> {
  const rec = await l.store.record(uri);
  if (!rec || rec.status === "deleted" || rec.cid !== pinnedCid) return { kind: "changed", current: rec && rec.status !== "deleted" ? rec.cid : null };
  const j = judge(await loadParts(l.store, rec), l.env.exchange, await l.policies(), l.verifyFn);
  if (!j.ok) {
    if ("pending" in j) return { kind: "invalid", findings: [{ code: "schema-invalid", message: `cannot be verified: ${j.pending.reason}` }] };
    return { kind: "invalid", findings: j.findings.length > 0 ? j.findings : [{ code: "authorization-invalid", message: "the authorization names another exchange" }] };
  }
  const conflict = await claimConflict(l, j.facts);
  if (conflict) return { kind: "invalid", findings: [conflict] };
  const f = j.facts;
  await l.touch(f.requester, t);
  if (f.provider !== f.requester) await l.touch(f.provider, t);
  const policy = (await l.policies()).at(f.completedAt);
  const split = splitReceipt(f, policy.ledger);
  const balance = (await l.account(f.requester)).balance;
  if (split.debit > balance) return { kind: "unfunded", debit: split.debit, balance };
  const row: ReceiptRow = { uri, cid: rec.cid, jobUri: f.jobUri, requester: f.requester, provider: f.provider, status: "parked", reason: null, waitingFor: null, findings: null, completedAt: f.completedAt, eff: t, facts: f, settlement: null };
  await settle(l, row, f, split, policy, t);
  await cascade(l);
  return { kind: "settled" };
}

export async function closePeriod(l: Ledger, index: number): Promise<void> {
  const timeline = await l.policies();
  const period = timeline.period(index);
  l.meta.periodsClosed = index + 1;
  l.metaDirty = true;
  const policy = period.policy;
  if (!policy.ledger.patronage) return;
  const treasury = policy.ledger.treasury;
  const treasuryBalance = (await l.account(treasury)).balance;
  const { result, movements } = distributePeriod({ period, treasuryBefore: treasuryBalance, scores: await l.store.scores(period.start), available: treasuryBalance });
  for (const m of movements) await l.move(m, null);
  for (const s of result.shares) {
    if (s.credited < 1) continue;
    const value = patronageRecord({
      exchange: l.env.exchange,
      recipient: s.did,
      start: period.start,
      end: period.end,
      score: s.score,
      total: result.totalScore,
      credited: s.credited,
      treasuryBefore: treasuryBalance,
      policy,
    });
    l.publish(patronageKey(period.start, s.did), NSID.tokenPatronage, period.end, value);
  }
  l.fx.periods.push(result);
}

export async function release(l: Ledger, job: string, state: "released" | "expired"): Promise<{ released: boolean; held: number; available: number }> {
  const hold = await l.store.hold(job);
  const requester = hold?.requester ?? repoOf(job) ?? "";
  const a = await l.account(requester);
  if (!hold || hold.state !== "pending") return { released: false, held: a.held, available: a.balance - a.held };
  l.store.putHold({ ...hold, state });
  const next = { ...a, held: a.held - hold.amount };
  l.putAccount(next);
  return { released: true, held: next.held, available: next.balance - next.held };
}
