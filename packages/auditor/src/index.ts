// @cocore/auditor: anyone's check of an exchange against public records (ARCHITECTURE.md step 10).
export { audit, AuditInputError, type AuditOptions, type AuditReport, type AuditStats } from "./audit.ts";
export { DISCREPANCY_CODES, type Discrepancy, type DiscrepancyCode } from "./codes.ts";
