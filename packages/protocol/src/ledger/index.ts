// The exchange's ledger as one state machine (README.md here): pure, no I/O, no clock.
export { grantKey, newAccount, refreshKey, touchRule } from "./accounts.ts";
export { admitsAboveFloor, holdKey } from "./admission.ts";
export { candidacy, FUTURE_TOLERANCE_MS, judge, loadParts, type Candidacy, type Judgement, type ReceiptFacts, type ReceiptParts, type Verify } from "./facts.ts";
export { emptyEffects, type AdmissionCode, type AdmissionResult, type Effects, type FetchedRecord, type LedgerInput, type ReceiptChange, type RecordOp, type ReleaseResult } from "./inputs.ts";
export { applyLogRecord, LOG_COLLECTIONS, logKey, logTime, sortLog, type LogRecord } from "./log.ts";
export { Ledger, nonceKey, type MachineEnv } from "./machine.ts";
export { distributePeriod, patronageKey, patronagePool, splitPool } from "./patronage.ts";
export { ledgerFee, MS_PER_DAY, MS_PER_MINUTE, policyFromRecord, type LedgerPolicy } from "./policy.ts";
export { decisionOf, decisionTid, mintRecord, patronageRecord, settlementKey, settlementRecord, strongRef } from "./publish.ts";
export {
  isSimulationStream,
  normalizeEvent,
  orderEvents,
  replay,
  replaySimulation,
  resultOf,
  storeWithPolicy,
  type NormalizedEvent,
  type PolicyInput,
  type ReplayResult,
} from "./replay.ts";
export { MemoryTarget, parseSimEvent, runSimulation, SIM_EVENT_TYPES, type SimEvent, type SimOp, type SimTarget } from "./simulation.ts";
export { receiptMovements, splitReceipt, type ReceiptSplit } from "./split.ts";
export {
  MemoryStore,
  type AccountRow,
  type ClaimRow,
  type HoldRow,
  type LedgerStore,
  type MetaRow,
  type PolicyRow,
  type PublishedRow,
  type ReceiptRow,
  type ReceiptStatus,
  type RecordRow,
  type RecordStatus,
} from "./store.ts";
export { policyAsPublished, Timeline, type PeriodBounds, type PolicyEntry } from "./timeline.ts";
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
export { compareBytes, iso, parseTime } from "./util.ts";
