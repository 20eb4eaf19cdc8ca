// The pure ledger rules the exchange applies, from @cocore/protocol (one import site, so the
// store never grows its own copy of a rule).
export {
  admit,
  distributePeriod,
  endedPeriodCount,
  grantKey,
  LedgerError,
  patronageKey,
  periodBounds,
  policyFromRecord,
  receiptMovements,
  refreshKey,
  splitLedgerReceipt,
  touchAccount,
  type AccountState,
  type LedgerPolicy,
  type Movement,
  type PeriodBounds,
} from "@cocore/protocol";
