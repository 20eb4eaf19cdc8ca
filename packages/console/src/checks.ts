// What receipt verification checks, in words: each check is the set of verifyReceipt finding
// codes that would break it, so a verdict from @cocore/protocol reads as a list of ticks. Every
// finding code belongs to exactly one check (the test holds this list to FINDING_CODES).
import type { Finding, FindingCode } from "@cocore/protocol";

export interface CheckDef {
  label: string;
  codes: readonly FindingCode[];
}

export const RECEIPT_CHECKS: readonly CheckDef[] = [
  { label: "Receipt, job and authorization are valid records", codes: ["schema-invalid", "canonical-invalid", "cid-mismatch", "policy-invalid"] },
  { label: "Signed by the provider's attested machine key", codes: ["bad-signature", "attestation-invalid", "attestation-expired", "trust-level-unmet"] },
  { label: "About this job, for this requester", codes: ["job-mismatch", "requester-mismatch"] },
  { label: "Run as the job asked (model parameters, tools, output schema)", codes: ["params-mismatch"] },
  { label: "Input and output commitments match what was sent and received", codes: ["commitment-mismatch"] },
  { label: "Price is the exchange's token rate, within the ceiling", codes: ["price-mismatch", "price-over-ceiling", "currency-mismatch", "pro-bono-nonzero", "tokens-over-max"] },
  { label: "Payment authorized for this exchange, nonce unused, budget kept", codes: ["authorization-invalid", "nonce-reused", "exchange-not-accepted", "session-budget-exceeded"] },
  { label: "Provider accepted by the job, and the one the matchmaker dispatched to", codes: ["provider-not-accepted", "not-dispatched-provider", "countersignature-invalid", "countersignature-missing"] },
  { label: "Done in time: after the job began, before it expired", codes: ["expired", "completed-in-future", "started-before-job", "completed-before-start"] },
];

export interface CheckResult {
  label: string;
  ok: boolean;
  findings: Finding[];
}

export function receiptChecks(findings: readonly Finding[]): CheckResult[] {
  return RECEIPT_CHECKS.map((c) => {
    const hit = findings.filter((f) => c.codes.includes(f.code));
    return { label: c.label, ok: hit.length === 0, findings: hit };
  });
}
