// The job record an admission is judged on: the hold is the record's priceCeiling until the
// record's expiresAt, whatever the caller says. The indexed record (a point lookup) is used when
// it is the version the matchmaker names; a job the firehose has not brought yet is read from the
// requester's PDS and checked against the CID the matchmaker gave (recomputed, not trusted).
import { fromJsonRecord, NSID, recordCid } from "@cocore/protocol";
import type { EngineContext } from "./context.ts";
import { intOf, objOf, str } from "./fields.ts";
import { schemaCheck } from "./records.ts";

export interface AdmissionJob {
  ceiling: number;
  currency: string;
  expiresAt: string;
}

export type JobLookup = { ok: true; job: AdmissionJob } | { ok: false; code: string; message: string };

export async function jobForAdmission(ctx: EngineContext, ref: { uri: string; cid: string }): Promise<JobLookup> {
  const row = await ctx.ldb.db.selectFrom("records").select(["cid", "value", "status", "reason"]).where("uri", "=", ref.uri).executeTakeFirst();
  let value: Record<string, unknown> | undefined;
  if (row && row.cid === ref.cid && row.status !== "deleted") {
    if (row.status !== "accepted") return { ok: false, code: "job_invalid", message: `job ${ref.uri} failed validation: ${row.reason ?? "schema-invalid"}` };
    value = fromJsonRecord(JSON.parse(row.value)) as Record<string, unknown>;
  } else {
    if (!ctx.fetchRecord) return { ok: false, code: "job_not_found", message: `job ${ref.uri} (cid ${ref.cid}) is not indexed yet` };
    let fetched: { cid: string; value: Record<string, unknown> } | null;
    try {
      fetched = await ctx.fetchRecord(ref.uri);
    } catch (err) {
      return { ok: false, code: "job_not_found", message: `job ${ref.uri} could not be read: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (!fetched) return { ok: false, code: "job_not_found", message: `job ${ref.uri} does not exist` };
    if (fetched.cid !== ref.cid || recordCid(fetched.value) !== ref.cid) {
      return { ok: false, code: "job_mismatch", message: `job ${ref.uri} is not at cid ${ref.cid}` };
    }
    const problem = schemaCheck(NSID.job, fetched.value);
    if (problem) return { ok: false, code: "job_invalid", message: `job ${ref.uri} failed validation: ${problem}` };
    value = fetched.value;
  }
  const ceiling = objOf(value, "priceCeiling");
  const amount = intOf(ceiling, "amount");
  const currency = str(ceiling, "currency");
  const expiresAt = str(value, "expiresAt");
  if (amount === undefined || amount < 0 || !currency || !expiresAt || Number.isNaN(Date.parse(expiresAt))) {
    return { ok: false, code: "job_invalid", message: `job ${ref.uri} has no usable priceCeiling/expiresAt` };
  }
  if (currency !== ctx.policy.ledger.currency) return { ok: false, code: "job_invalid", message: `job ${ref.uri} is priced in ${currency}, not ${ctx.policy.ledger.currency}` };
  return { ok: true, job: { ceiling: amount, currency, expiresAt } };
}
