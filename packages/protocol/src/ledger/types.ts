// Shared shapes of the ledger rules (PROTOCOL.md §5–6). Times inside the rules are milliseconds
// since the epoch taken from the events themselves; times leaving the rules are ISO strings.

export type LedgerErrorCode =
  | "invalid-event"
  | "invalid-policy"
  | "invalid-input"
  | "idempotency-conflict"
  | "overflow"
  | "invariant";

/** Every failure of the ledger rules. `code` is stable; `message` is for humans. */
export class LedgerError extends Error {
  override readonly name = "LedgerError";
  constructor(
    readonly code: LedgerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type MovementKind = "grant" | "refresh" | "payout" | "fee" | "patronage";

/**
 * One balance change. `from: null` means minted (grants and refreshes are the only sources of
 * new tokens). `key` is the idempotency key: a movement with the same key and the same payload is
 * the same movement; the same key with a different payload is a conflict.
 */
export interface Movement {
  key: string;
  kind: MovementKind;
  from: string | null;
  to: string;
  amount: number;
  /** Ledger time of the movement (ISO 8601, UTC, millisecond precision). */
  at: string;
}

export interface TokenCounts {
  in: number;
  out: number;
}

export interface Money {
  amount: number;
  currency: string;
}

export interface TouchEvent {
  type: "touch";
  did: string;
  at: string;
}

export interface ReceiptEvent {
  type: "receipt";
  uri: string;
  requester: string;
  provider: string;
  tokens: TokenCounts;
  price: Money;
  proBono?: boolean;
  /** The receipt's completedAt. */
  at: string;
}

export interface TickEvent {
  type: "tick";
  at: string;
}

/** A published tokenGrant record read back (exchange rebuild, audit). */
export interface GrantFactEvent {
  type: "grant";
  did: string;
  amount: number;
  at: string;
}

/** A published tokenRefresh record read back (exchange rebuild, audit). */
export interface RefreshFactEvent {
  type: "refresh";
  did: string;
  amount: number;
  at: string;
}

export type LedgerEvent = TouchEvent | ReceiptEvent | TickEvent | GrantFactEvent | RefreshFactEvent;

export interface ParkedReceipt {
  uri: string;
  reason: "insufficient-balance";
  requester: string;
  price: number;
  /** The receipt's completedAt. */
  at: string;
}

export interface RejectedReceipt {
  uri: string;
  reason: "currency-mismatch";
  message: string;
}

export type SettlementKind = "transfer" | "self-loop" | "pro-bono";

/** What the exchange writes a settlement record from. charged = payout + fee. */
export interface Settlement {
  uri: string;
  requester: string;
  provider: string;
  kind: SettlementKind;
  charged: number;
  payout: number;
  fee: number;
  /** Ledger time the receipt settled: its completedAt, or later if it was parked first. */
  settledAt: string;
}

export interface PatronageShare {
  did: string;
  score: number;
  credited: number;
}

/** One distributed patronage period: what tokenPatronage records are written from. */
export interface PeriodResult {
  start: string;
  end: string;
  pool: number;
  totalScore: number;
  treasuryBefore: number;
  shares: PatronageShare[];
}
