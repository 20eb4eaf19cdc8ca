// The exchange-clock inputs of the ledger machine (admissions, hold releases, member balance reads,
// the scheduler's tick), each in one write transaction. The only place the exchange's own clock
// enters the ledger; every rule is the machine's (@cocore/protocol ledger/).
import { fromJsonRecord, Ledger, NSID, type AdmissionResult, type FetchedRecord } from "@cocore/protocol";
import { objOf, str } from "./fields.ts";
import type { BatchResult, EngineContext } from "./context.ts";
import { machineEnv, resultOf, watermarkTarget } from "./engine.ts";
import { SqlStore } from "./store/sql-store.ts";

export interface TickResult {
  holdsReleased: number;
  periodsDistributed: number;
  settled: string[];
}

/** One ledger transition (or a few) in one transaction. */
async function transact<T>(ctx: EngineContext, fn: (ledger: Ledger, store: SqlStore) => Promise<T>): Promise<T> {
  return ctx.ldb.write(async (tx) => {
    const store = new SqlStore(tx, ctx.ldb);
    await store.meta(); // the ledger lock before any read (the machine reads the policies first)
    const out = await fn(new Ledger(store, machineEnv(ctx)), store);
    await store.flush();
    return out;
  });
}

/** Holds past their job's expiry are given back; the watermark moves to what ingestion allows. */
export async function tick(ctx: EngineContext, nowMs: number): Promise<TickResult> {
  return transact(ctx, async (ledger) => {
    const expired = await ledger.apply({ type: "expire", at: nowMs });
    const advanced = await ledger.apply({ type: "advance", to: watermarkTarget({ ...ctx, now: () => nowMs }) });
    return { holdsReleased: expired.releasedHolds ?? 0, periodsDistributed: advanced.periods.length, settled: resultOf(advanced).settled };
  });
}

/** Moves the watermark only (the engine's timer: queued receipts settle without new commits). */
export async function advance(ctx: EngineContext): Promise<BatchResult> {
  return transact(ctx, async (ledger) => resultOf(await ledger.apply({ type: "advance", to: watermarkTarget(ctx) })));
}

export interface AdmitInput {
  /** Strong-ref of the job record; its priceCeiling and expiresAt are what is held. */
  job: { uri: string; cid: string };
  requester: string;
  /** What the matchmaker read; ignored (the indexed or fetched job record wins). */
  priceCeiling?: { amount: number; currency: string };
  expiresAt?: string;
  /** The provider and machine the matchmaker dispatches to: only their receipt is paid. */
  provider?: string;
  machineKey?: string;
}

export type AdmitOutput = AdmissionResult;

export class AdmissionInputError extends Error {
  override readonly name = "AdmissionInputError";
}

const AT_URI = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/;

/** A record at exactly `ref.cid`, from the index or (not indexed at that version yet) its PDS. */
async function recordFor(ctx: EngineContext, ref: { uri: string; cid: string }): Promise<FetchedRecord | undefined> {
  const row = await ctx.ldb.db.selectFrom("records").select(["cid", "value", "status"]).where("uri", "=", ref.uri).executeTakeFirst();
  if (row && row.cid === ref.cid && row.status !== "deleted") return { cid: row.cid, value: fromJsonRecord(JSON.parse(row.value)) as Record<string, unknown> };
  if (!ctx.fetchRecord) return undefined;
  try {
    return (await ctx.fetchRecord(ref.uri)) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The admission checks of the ledger machine (job, authorization, nonce, session budget, floor)
 * and, if they pass, the touch, hold and nonce reservation. The job and its authorization are read
 * before the write transaction: a PDS round trip must not hold the ledger's lock.
 */
export async function admitJob(ctx: EngineContext, input: AdmitInput, nowMs: number): Promise<AdmitOutput> {
  const m = AT_URI.exec(input.job?.uri ?? "");
  if (!m || m[2] !== NSID.job) throw new AdmissionInputError(`job ${input.job?.uri} is not a ${NSID.job} record`);
  if (m[1] !== input.requester) throw new AdmissionInputError(`job ${input.job.uri} is not in ${input.requester}'s repo`);
  if (typeof input.job.cid !== "string" || input.job.cid === "") throw new AdmissionInputError("job.cid is required");
  const job = await recordFor(ctx, input.job);
  const authRef = objOf(job?.value, "paymentAuthorization");
  const authUri = str(authRef, "uri");
  const authCid = str(authRef, "cid");
  const auth = authUri && authCid ? await recordFor(ctx, { uri: authUri, cid: authCid }) : undefined;
  const fetched = { ...(job ? { job } : {}), ...(auth ? { auth } : {}) };
  if (input.provider !== undefined && !/^did:[a-z]+:[a-zA-Z0-9._:%-]+$/.test(input.provider)) throw new AdmissionInputError(`provider ${input.provider} is not a DID`);
  const dispatchedTo = input.provider ? { provider: input.provider, ...(typeof input.machineKey === "string" ? { machineKey: input.machineKey } : {}) } : undefined;
  return transact(ctx, async (ledger) => (await ledger.apply({ type: "admit", job: { uri: input.job.uri, cid: input.job.cid }, at: nowMs, fetched, ...(dispatchedTo ? { dispatchedTo } : {}) })).admission!);
}

export interface ReleaseInput {
  job: { uri: string; cid: string };
  holdKey?: string;
  reason: string;
}

export interface ReleaseOutput {
  released: boolean;
  held: number;
  available: number;
}

/** Gives back the pending hold of a job that ended without a receipt (a posted one stays posted). */
export async function releaseHold(ctx: EngineContext, input: ReleaseInput, nowMs = ctx.now()): Promise<ReleaseOutput> {
  const m = AT_URI.exec(input.job?.uri ?? "");
  if (!m || m[2] !== NSID.job) throw new AdmissionInputError(`job ${input.job?.uri} is not a ${NSID.job} record`);
  if (input.holdKey !== undefined && input.holdKey !== `hold:${input.job.uri}`) throw new AdmissionInputError(`holdKey ${input.holdKey} is not the hold of job ${input.job.uri}`);
  if (typeof input.reason !== "string" || input.reason.length > 64) throw new AdmissionInputError("reason must be a string of at most 64 characters");
  return transact(ctx, async (ledger) => (await ledger.apply({ type: "release", job: input.job.uri, at: nowMs })).release!);
}

/** A balance read by the member itself: a touch at the watermark. */
export async function touchMember(ctx: EngineContext, did: string, nowMs: number): Promise<void> {
  await transact(ctx, async (ledger) => {
    await ledger.apply({ type: "read", did, at: nowMs });
  });
}
