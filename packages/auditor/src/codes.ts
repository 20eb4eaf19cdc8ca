// Discrepancy codes: a contract like verifyReceipt's FINDING_CODES — never renamed, only added
// to. Each names one way the exchange's published records disagree with what the public records
// (and the pure ledger rules) say; the README documents them.

export const DISCREPANCY_CODES = [
  // Repositories and the exchange's own records
  "repo-unavailable",
  "record-invalid",
  "policy-missing",
  // Settlements
  "settlement-receipt-missing",
  "settlement-ref-mismatch",
  "receipt-invalid",
  "receipt-settled-twice",
  "job-settled-twice",
  "settlement-unbalanced",
  "settlement-amount-mismatch",
  "settlement-time-mismatch",
  "settlement-unfunded",
  "settlement-bad-signature",
  "receipt-unsettled",
  // Grants and refreshes
  "grant-duplicate",
  "grant-amount-mismatch",
  "grant-missing",
  "refresh-duplicate",
  "refresh-amount-mismatch",
  "refresh-early",
  "refresh-missing",
  // Patronage
  "patronage-sum-mismatch",
  "patronage-split-mismatch",
  "patronage-mismatch",
  "patronage-missing",
  "patronage-unexpected",
  // Balances
  "ledger-conflict",
  "balance-mismatch",
  // The log's order (record keys are decision keys: ledger/README.md in @cocore/protocol)
  "log-order-invalid",
] as const;

export type DiscrepancyCode = (typeof DISCREPANCY_CODES)[number];

export interface Discrepancy {
  code: DiscrepancyCode;
  /** What it is about: a record at-uri, a DID, or a patronage period start. */
  subject: string;
  /** What the public records and the rules say (null when there is nothing to expect). */
  expected: unknown;
  /** What the exchange published or reported (null when it published nothing). */
  actual: unknown;
  message: string;
}

/**
 * Not discrepancies: what the auditor cannot judge from public records, said so that nobody
 * mistakes silence for a check. Codes are a contract too.
 */
export const WARNING_CODES = [
  // A settled receipt edited or deleted afterwards: its settlement is taken as published.
  "record-changed-after-settlement",
  // An unsettled receipt the exchange rejected for a reason only it could observe.
  "receipt-rejected-unverifiable",
] as const;

export type WarningCode = (typeof WARNING_CODES)[number];

export interface Warning {
  code: WarningCode;
  subject: string;
  message: string;
}
