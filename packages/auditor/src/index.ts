// @cocore/auditor: anyone's check of an exchange against public records (ARCHITECTURE.md step 10).
export { audit, AuditInputError, type AuditOptions, type AuditReport, type AuditStats } from "./audit.ts";
export { auditRecords, type AuditRecord, type AuditRecordsInput, type AuditRecordsResult } from "./replay.ts";
export { DISCREPANCY_CODES, WARNING_CODES, type Discrepancy, type DiscrepancyCode, type Warning, type WarningCode } from "./codes.ts";
