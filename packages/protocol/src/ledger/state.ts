// The ledger's explicit state. Everything the rules remember lives here, in the same shape an
// exchange keeps in its tables (accounts, movements by key, receipts by uri, distributed periods),
// so the rules can run over an in-memory copy or over rows loaded inside a transaction.
import { LedgerError, type Movement, type SettlementKind } from "./types.ts";
import { compareBytes, safeAdd } from "./util.ts";

export interface AccountState {
  balance: number;
  /** The one grant this DID ever received (derived at its first touch, or read back as a fact). */
  grant: { amount: number; at: number } | null;
  /** ms of the last refresh, or of the grant: the refresh clock starts at the grant. */
  lastRefreshAt: number | null;
}

/** A movement as remembered under its key, with its time as ms for period arithmetic. */
export interface StoredMovement extends Movement {
  atMs: number;
}

export interface ReceiptEntry {
  uri: string;
  /** Identity of the event's payload: the same uri with another fingerprint is a conflict. */
  fingerprint: string;
  requester: string;
  provider: string;
  price: number;
  proBono: boolean;
  completedAt: number;
  status: "parked" | "settled" | "rejected";
  reason?: string;
  settlement?: { kind: SettlementKind; charged: number; payout: number; fee: number; settledAt: number };
}

export interface LedgerState {
  accounts: Map<string, AccountState>;
  /** Idempotency index: every movement ever applied (zero amounts included), by key. */
  movements: Map<string, StoredMovement>;
  receipts: Map<string, ReceiptEntry>;
  /** Receipts waiting for their requester's balance: requester → uris in (completedAt, uri) order. */
  parked: Map<string, string[]>;
  /**
   * DIDs credited, or given a new receipt, since the last settlement pass. Every other parked
   * receipt was unpayable at that pass and its requester has only lost balance since, so the pass
   * looks at these DIDs' receipts alone. Empty between batches.
   */
  dirty: Set<string>;
  /** Patronage periods [0, periodsDistributed) have been distributed. */
  periodsDistributed: number;
}

export function emptyState(): LedgerState {
  return { accounts: new Map(), movements: new Map(), receipts: new Map(), parked: new Map(), dirty: new Set(), periodsDistributed: 0 };
}

/** A deep copy, so callers of the non-mutating API keep their input intact. */
export function cloneState(state: LedgerState): LedgerState {
  return structuredClone(state);
}

export function newAccount(): AccountState {
  return { balance: 0, grant: null, lastRefreshAt: null };
}

export function account(state: LedgerState, did: string): AccountState {
  let a = state.accounts.get(did);
  if (!a) {
    a = newAccount();
    state.accounts.set(did, a);
  }
  return a;
}

export function balanceOf(state: LedgerState, did: string): number {
  return state.accounts.get(did)?.balance ?? 0;
}

function samePayload(a: Movement, b: Movement): boolean {
  return a.kind === b.kind && a.from === b.from && a.to === b.to && a.amount === b.amount && a.at === b.at;
}

/**
 * Applies one movement in place. Returns false when the same movement (same key, same payload)
 * was already applied; throws `idempotency-conflict` when the key was used for something else.
 * A movement never takes a balance below zero: callers check funds first, so a shortfall here is
 * a broken invariant, not a business outcome.
 */
export function applyMovement(state: LedgerState, m: Movement, atMs: number): boolean {
  const prior = state.movements.get(m.key);
  if (prior) {
    if (samePayload(prior, m)) return false;
    throw new LedgerError(
      "idempotency-conflict",
      `movement ${m.key} already applied as ${prior.from ?? "mint"}→${prior.to} ${prior.amount} at ${prior.at}, now ${m.from ?? "mint"}→${m.to} ${m.amount} at ${m.at}`,
    );
  }
  if (!Number.isSafeInteger(m.amount) || m.amount < 0) throw new LedgerError("invariant", `movement ${m.key} has a bad amount`);
  if (m.from !== null && m.amount > 0) {
    const from = account(state, m.from);
    if (from.balance < m.amount) {
      throw new LedgerError("invariant", `movement ${m.key} would overdraw ${m.from} (${from.balance} < ${m.amount})`);
    }
    from.balance -= m.amount;
  }
  const to = account(state, m.to);
  to.balance = safeAdd(to.balance, m.amount, `balance of ${m.to}`);
  if (m.amount > 0) state.dirty.add(m.to);
  state.movements.set(m.key, { ...m, atMs });
  return true;
}

function receiptOrder(state: LedgerState, a: string, b: string): number {
  const x = state.receipts.get(a)!;
  const y = state.receipts.get(b)!;
  return x.completedAt - y.completedAt || compareBytes(x.uri, y.uri);
}

/** Marks a registered receipt as waiting for its requester's balance. */
export function parkReceipt(state: LedgerState, entry: ReceiptEntry): void {
  entry.status = "parked";
  entry.reason = "insufficient-balance";
  const list = state.parked.get(entry.requester) ?? [];
  if (list.includes(entry.uri)) return;
  list.push(entry.uri);
  list.sort((a, b) => receiptOrder(state, a, b));
  state.parked.set(entry.requester, list);
  state.dirty.add(entry.requester);
}

export function unparkReceipt(state: LedgerState, entry: ReceiptEntry): void {
  const list = state.parked.get(entry.requester);
  if (!list) return;
  const i = list.indexOf(entry.uri);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) state.parked.delete(entry.requester);
}

/** Σ of `did`'s movements with time strictly before `endMs`: its balance as of `endMs`. */
export function balanceAt(state: LedgerState, did: string, endMs: number): number {
  let total = 0;
  for (const m of state.movements.values()) {
    if (m.atMs >= endMs || m.amount === 0 || m.from === m.to) continue;
    if (m.to === did) total = safeAdd(total, m.amount, "historic balance");
    if (m.from === did) total -= m.amount;
  }
  return total;
}
