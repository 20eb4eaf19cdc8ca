// Grant, refresh and receipt settlement (PROTOCOL.md §5.1–5.3, §6). The pure core functions take
// exactly the rows they need and return movements; the `*InState` variants apply them to a
// LedgerState in place for the replay driver.
import { ledgerFee, MS_PER_MINUTE, type LedgerPolicy } from "./policy.ts";
import { account, applyMovement, newAccount, unparkReceipt, type AccountState, type LedgerState, type ReceiptEntry } from "./state.ts";
import type { Movement, SettlementKind } from "./types.ts";
import { iso } from "./util.ts";

export function grantKey(did: string): string {
  return `grant:${did}`;
}

export function refreshKey(did: string, atMs: number): string {
  return `refresh:${did}:${iso(atMs)}`;
}

/**
 * A touch of `did` at `atMs`: the first touch ever grants `tokenGrant` and starts the refresh
 * clock; a later touch refreshes once when a full cadence has passed since the last refresh
 * (no catch-up). Returns the new account row and the minted movements (zero amounts included,
 * so the caller records the key; they change no balance).
 */
export function touchAccount(
  prior: AccountState | undefined,
  did: string,
  atMs: number,
  policy: LedgerPolicy,
): { account: AccountState; movements: Movement[] } {
  const next: AccountState = prior ? { ...prior } : newAccount();
  const at = iso(atMs);
  if (next.grant === null) {
    next.grant = { amount: policy.tokenGrant, at: atMs };
    next.lastRefreshAt = atMs;
    return { account: next, movements: [{ key: grantKey(did), kind: "grant", from: null, to: did, amount: policy.tokenGrant, at }] };
  }
  const r = policy.refresh;
  if (!r) return { account: next, movements: [] };
  const last = next.lastRefreshAt ?? next.grant.at;
  if (atMs - last < r.cadenceMinutes * MS_PER_MINUTE) return { account: next, movements: [] };
  next.lastRefreshAt = atMs;
  return { account: next, movements: [{ key: refreshKey(did, atMs), kind: "refresh", from: null, to: did, amount: r.amountPerDid, at }] };
}

/** touchAccount applied to the state; returns the movements that changed a balance. */
export function touchInState(state: LedgerState, did: string, atMs: number, policy: LedgerPolicy): Movement[] {
  const { account: next, movements } = touchAccount(state.accounts.get(did), did, atMs, policy);
  const applied: Movement[] = [];
  for (const m of movements) if (applyMovement(state, m, atMs) && m.amount > 0) applied.push(m);
  // Balance comes from the movements just applied; everything else from the rule's new row.
  const row = account(state, did);
  row.grant = next.grant;
  row.lastRefreshAt = next.lastRefreshAt;
  return applied;
}

/**
 * A published grant or refresh record read back. It is applied as the fact it is — even where the
 * rules would not have derived it — and a later derivation of the same key is a no-op.
 */
export function applyFactInState(
  state: LedgerState,
  fact: { type: "grant" | "refresh"; did: string; amount: number },
  atMs: number,
): Movement[] {
  const key = fact.type === "grant" ? grantKey(fact.did) : refreshKey(fact.did, atMs);
  const m: Movement = { key, kind: fact.type, from: null, to: fact.did, amount: fact.amount, at: iso(atMs) };
  const changed = applyMovement(state, m, atMs);
  if (changed) {
    const row = account(state, fact.did);
    if (fact.type === "grant") row.grant = { amount: fact.amount, at: atMs };
    row.lastRefreshAt = Math.max(row.lastRefreshAt ?? atMs, atMs);
  }
  return changed && m.amount > 0 ? [m] : [];
}

export interface ReceiptSplit {
  kind: SettlementKind;
  /** What leaves the requester's balance (and what it must hold): payout + fee. */
  charged: number;
  payout: number;
  fee: number;
}

/**
 * How a receipt's price divides. Pro bono and a fee-waived self-loop move nothing. A self-loop
 * whose fee is not waived is charged like any receipt, with the self-loop rule's own minMinor (when
 * set) as the fee floor.
 */
export function splitReceipt(
  r: { requester: string; provider: string; price: number; proBono: boolean },
  policy: LedgerPolicy,
): ReceiptSplit {
  if (r.proBono) return { kind: "pro-bono", charged: 0, payout: 0, fee: 0 };
  const selfLoop = r.requester === r.provider;
  if (selfLoop && policy.selfLoopFeeWaived) return { kind: "self-loop", charged: 0, payout: 0, fee: 0 };
  const minMinor = selfLoop ? (policy.selfLoopMinMinor ?? policy.feeMinMinor) : policy.feeMinMinor;
  const fee = ledgerFee(r.price, policy.feeBps, minMinor);
  return { kind: selfLoop ? "self-loop" : "transfer", charged: r.price, payout: r.price - fee, fee };
}

/**
 * The movements settling one receipt at `atMs`. Zero amounts and self-to-self transfers change
 * nothing and are left out.
 */
export function receiptMovements(
  r: { uri: string; requester: string; provider: string },
  split: ReceiptSplit,
  policy: LedgerPolicy,
  atMs: number,
): Movement[] {
  const at = iso(atMs);
  const out: Movement[] = [];
  if (split.payout > 0 && r.requester !== r.provider) {
    out.push({ key: `rcpt:${r.uri}:payout`, kind: "payout", from: r.requester, to: r.provider, amount: split.payout, at });
  }
  if (split.fee > 0 && r.requester !== policy.treasury) {
    out.push({ key: `rcpt:${r.uri}:fee`, kind: "fee", from: r.requester, to: policy.treasury, amount: split.fee, at });
  }
  return out;
}

/** Whether the requester's balance now covers what the receipt would charge. */
export function canPay(state: LedgerState, entry: ReceiptEntry, policy: LedgerPolicy): boolean {
  // splitReceipt(...).charged without the fee arithmetic: this runs on every retry scan.
  const free = entry.proBono || (entry.requester === entry.provider && policy.selfLoopFeeWaived);
  return (free ? 0 : entry.price) <= (state.accounts.get(entry.requester)?.balance ?? 0);
}

/**
 * Settles a parked receipt at `atMs` if the requester can pay. Returns the applied movements, or
 * null (and no change) when it must keep waiting.
 */
export function trySettleInState(state: LedgerState, entry: ReceiptEntry, policy: LedgerPolicy, atMs: number): Movement[] | null {
  if (!canPay(state, entry, policy)) return null;
  const split = splitReceipt(entry, policy);
  const movements = receiptMovements(entry, split, policy, atMs);
  for (const m of movements) applyMovement(state, m, atMs);
  unparkReceipt(state, entry);
  entry.status = "settled";
  delete entry.reason;
  entry.settlement = { kind: split.kind, charged: split.charged, payout: split.payout, fee: split.fee, settledAt: atMs };
  return movements;
}
