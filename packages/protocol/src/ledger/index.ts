// The exchange's ledger rules (PROTOCOL.md §5–6) as pure functions: no I/O, no clock.
export { admit, type AdmissionInput, type AdmissionResult } from "./admission.ts";
export {
  distributePeriod,
  endedPeriodCount,
  patronageKey,
  patronagePool,
  periodBounds,
  periodScores,
  splitPool,
  type PeriodBounds,
} from "./patronage.ts";
export { ledgerFee, MS_PER_DAY, MS_PER_MINUTE, policyFromRecord, type LedgerPolicy } from "./policy.ts";
export {
  applyEvents,
  applyEventsInPlace,
  balancesOf,
  normalizeEvent,
  orderEvents,
  parkedReceipts,
  replay,
  type EventOutcome,
  type NormalizedEvent,
  type ReplayResult,
} from "./replay.ts";
export {
  applyFactInState,
  canPay,
  grantKey,
  receiptMovements,
  refreshKey,
  splitReceipt as splitLedgerReceipt,
  touchAccount,
  touchInState,
  trySettleInState,
  type ReceiptSplit as LedgerReceiptSplit,
} from "./rules.ts";
export {
  applyMovement,
  balanceAt,
  balanceOf,
  cloneState,
  emptyState,
  parkReceipt,
  unparkReceipt,
  type AccountState,
  type LedgerState,
  type ReceiptEntry,
  type StoredMovement,
} from "./state.ts";
export {
  LedgerError,
  type GrantFactEvent,
  type LedgerErrorCode,
  type LedgerEvent,
  type Money,
  type Movement,
  type MovementKind,
  type ParkedReceipt,
  type PatronageShare,
  type PeriodResult,
  type ReceiptEvent,
  type RefreshFactEvent,
  type RejectedReceipt,
  type Settlement,
  type SettlementKind,
  type TickEvent,
  type TokenCounts,
  type TouchEvent,
} from "./types.ts";
export { compareBytes } from "./util.ts";
