// The clock-driven part of the ledger (the only place the exchange's own clock moves tokens):
// releasing holds whose job expired unsettled, admissions and releases of holds, balance-read
// touches, and patronage periods that have ended. Time is injected.
import { NSID } from "@cocore/protocol";
import { sql } from "kysely";
import { mintRecord, strongRef, type BatchResult, type EngineContext } from "./context.ts";
import { toInt } from "./ints.ts";
import { admit, distributePeriod, endedPeriodCount, periodBounds } from "./ledger.ts";
import { RecordCache } from "./records.ts";
import { retryParked } from "./settle.ts";
import { UnitOfWork } from "./uow.ts";
import { jobForAdmission } from "./admission-job.ts";

const iso = (ms: number) => new Date(ms).toISOString();

export interface TickResult {
  holdsReleased: number;
  periodsDistributed: number;
  settled: string[];
}

/** How far past a period's end ingestion must have reached before the period is distributed. */
export const PATRONAGE_GRACE_MS = 5 * 60_000;

export interface TickOptions {
  /**
   * Exchange time up to which the firehose is known to have been ingested (exchange.ts: now when
   * ingestion is live, else when it last was). Default: nowMs (tests, the bench).
   */
  ingestedThroughMs?: number;
}

export async function tick(ctx: EngineContext, nowMs: number, opts: TickOptions = {}): Promise<TickResult> {
  const out: TickResult = { holdsReleased: 0, periodsDistributed: 0, settled: [] };
  await ctx.ldb.write(async (tx) => {
    const u = new UnitOfWork(tx, ctx.ldb, ctx.policy.ledger);
    const expiredHolds = () =>
      tx.selectFrom("holds").selectAll().where("state", "=", "pending").where("expires_at", "<=", iso(nowMs)).execute();
    let expired = await expiredHolds();
    if (expired.length > 0) {
      await u.loadAccounts(expired.map((h) => h.requester));
      // Read again under the account locks: a receipt or a release that committed between the
      // first read and the lock has already taken its hold out of `held` (PostgreSQL only;
      // SQLite's writer lock makes the two reads identical).
      const requesters = new Set(expired.map((h) => h.requester));
      expired = (await expiredHolds()).filter((h) => requesters.has(h.requester));
      for (const h of expired) {
        const a = u.account(h.requester);
        a.held -= toInt(h.amount, "hold");
        u.markDirty(h.requester);
        u.holdUpdates.set(h.key, "released");
        // Available went up: a receipt of theirs parked behind this hold may settle now.
        u.credited.add(h.requester);
      }
      out.holdsReleased = expired.length;
    }
    const policy = ctx.policy.ledger;
    // A period is shared out only once what was published up to its end (plus a grace margin
    // for receipts written just after completion) has been ingested: a receipt arriving after
    // its period was distributed does not re-open it.
    const due = endedPeriodCount(policy, Math.min(nowMs, opts.ingestedThroughMs ?? nowMs) - PATRONAGE_GRACE_MS);
    if (due > 0 && policy.patronage) {
      const done = new Set((await tx.selectFrom("periods").select("start").where("state", "=", "distributed").execute()).map((p) => p.start));
      for (let i = 0; i < due; i++) {
        const period = periodBounds(policy, i);
        const start = iso(period.start);
        const end = iso(period.end);
        if (done.has(start)) continue;
        const treasury = policy.treasury;
        await u.loadAccounts([treasury]);
        const t = await tx
          .selectFrom("transfers")
          .select([
            sql<string>`coalesce(sum(case when to_did = ${treasury} then amount else 0 end), 0)`.as("inflow"),
            sql<string>`coalesce(sum(case when from_did = ${treasury} then amount else 0 end), 0)`.as("outflow"),
          ])
          .where("at", "<", end)
          .where((eb) => eb.or([eb("to_did", "=", treasury), eb("from_did", "=", treasury)]))
          .executeTakeFirstOrThrow();
        const treasuryBefore = toInt(t.inflow, "treasury inflow") - toInt(t.outflow, "treasury outflow");
        const rows = await tx
          .selectFrom("receipts")
          .select(["requester", "provider", "charged", "payout"])
          .where("status", "=", "settled")
          .where("kind", "=", "transfer")
          .where("settled_at", ">=", start)
          .where("settled_at", "<", end)
          .execute();
        const scores = new Map<string, number>();
        const add = (did: string | null, n: number) => {
          if (!did || did === treasury || n <= 0) return;
          scores.set(did, (scores.get(did) ?? 0) + n);
        };
        for (const r of rows) {
          add(r.requester, toInt(r.charged ?? 0, "charged"));
          add(r.provider, toInt(r.payout ?? 0, "payout"));
        }
        await u.loadAccounts([...scores.keys()]);
        const { result, movements } = distributePeriod({ policy, period, treasuryBefore, scores, available: u.account(treasury).balance });
        for (const m of movements) u.apply(m);
        for (const s of result.shares) {
          if (s.credited < 1) continue;
          const key = `patronage:${start}:${s.did}`;
          u.outbox.push({
            key,
            collection: NSID.tokenPatronage,
            atMs: period.end,
            record: {
              $type: NSID.tokenPatronage,
              exchange: ctx.did,
              recipient: s.did,
              period: { start, end },
              patronageScore: s.score,
              totalPatronage: result.totalScore,
              tokensCredited: s.credited,
              treasuryBefore,
              policy: strongRef(ctx.policy),
              createdAt: end,
            },
          });
        }
        await tx
          .insertInto("periods")
          .values({ start, end, state: "distributed", pool: result.pool })
          .onConflict((oc) => oc.column("start").doUpdateSet({ state: "distributed", pool: result.pool }))
          .execute();
        out.periodsDistributed += 1;
      }
    }
    const res: BatchResult = { settled: [], rejected: [] };
    await retryParked(ctx, u, new RecordCache(tx, ctx.ldb), res);
    out.settled = res.settled;
    await u.flush();
  });
  return out;
}

export interface AdmitInput {
  /** Strong-ref of the job record; its priceCeiling and expiresAt are what is held. */
  job: { uri: string; cid: string };
  requester: string;
  /** What the matchmaker read; ignored (the indexed or fetched job record wins). */
  priceCeiling?: { amount: number; currency: string };
  expiresAt?: string;
}

export interface AdmitOutput {
  admitted: boolean;
  code?: string;
  message?: string;
  holdKey?: string;
  balance: number;
  available: number;
}

export class AdmissionInputError extends Error {
  override readonly name = "AdmissionInputError";
}

/**
 * Floor check and hold for one job; serialized with every other write on the requester. The
 * hold is the job record's own priceCeiling (admission-job.ts), so a caller cannot hold less than
 * the job may cost and let its receipt eat into what other jobs' holds protect.
 */
export async function admitJob(ctx: EngineContext, input: AdmitInput, nowMs: number): Promise<AdmitOutput> {
  const m = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(input.job?.uri ?? "");
  if (!m || m[2] !== NSID.job) throw new AdmissionInputError(`job ${input.job?.uri} is not a ${NSID.job} record`);
  if (m[1] !== input.requester) throw new AdmissionInputError(`job ${input.job.uri} is not in ${input.requester}'s repo`);
  if (typeof input.job.cid !== "string" || input.job.cid === "") throw new AdmissionInputError("job.cid is required");
  const holdKey = `hold:${input.job.uri}`;
  // Read before the write transaction: a PDS round trip must not hold the requester's lock.
  const found = await jobForAdmission(ctx, input.job);
  return ctx.ldb.write(async (tx) => {
    const u = new UnitOfWork(tx, ctx.ldb, ctx.policy.ledger);
    await u.loadAccounts([input.requester]);
    const a = u.account(input.requester);
    const refuse = (code: string, message: string): AdmitOutput => ({ admitted: false, code, message, balance: a.balance, available: a.balance - a.held });
    const prior = await tx.selectFrom("holds").selectAll().where("key", "=", holdKey).executeTakeFirst();
    if (prior) {
      // Asking again for the same job is answered, not held twice.
      const admitted = prior.state === "pending";
      return {
        admitted,
        ...(admitted ? { holdKey } : { code: "already_settled", message: `the hold for this job is ${prior.state}` }),
        balance: a.balance,
        available: a.balance - a.held,
      };
    }
    // Each job settles at most once: a job with a settled receipt is not run (and held) again.
    const settled = await tx.selectFrom("receipts").select("uri").where("job_uri", "=", input.job.uri).where("status", "=", "settled").executeTakeFirst();
    if (settled) return refuse("job_already_settled", `job ${input.job.uri} was already settled by ${settled.uri}`);
    if (!found.ok) return refuse(found.code, found.message);
    const job = found.job;
    // An admitted dispatch is a touch (grant, refresh): counted in the balance it is judged on,
    // and kept only if the job is admitted.
    u.touch(input.requester, nowMs, (mv) => mintRecord(ctx, mv));
    const verdict = admit({ balance: a.balance, held: a.held, ceiling: job.ceiling, floor: ctx.policy.ledger.tokenFloor });
    if (!verdict.ok) return refuse(verdict.code, verdict.message);
    u.holdInserts.push({ key: holdKey, job_uri: input.job.uri, requester: input.requester, amount: job.ceiling, expires_at: iso(Date.parse(job.expiresAt)) });
    a.held += job.ceiling;
    u.markDirty(input.requester);
    await u.flush();
    return { admitted: true, holdKey, balance: a.balance, available: a.balance - a.held };
  });
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

/**
 * Gives back the pending hold of a job that ended without a receipt. Only a pending hold moves:
 * a released or expired one is answered as it stands, and a posted one (a receipt settled against
 * it) is never undone. The hold is read after the requester's account is locked, so a settlement
 * running at the same time either posted it first or sees it released.
 */
export async function releaseHold(ctx: EngineContext, input: ReleaseInput): Promise<ReleaseOutput> {
  const m = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(input.job.uri);
  if (!m || m[2] !== NSID.job) throw new AdmissionInputError(`job ${input.job.uri} is not a ${NSID.job} record`);
  const holdKey = `hold:${input.job.uri}`;
  if (input.holdKey !== undefined && input.holdKey !== holdKey) throw new AdmissionInputError(`holdKey ${input.holdKey} is not the hold of job ${input.job.uri}`);
  if (typeof input.reason !== "string" || input.reason.length > 64) throw new AdmissionInputError("reason must be a string of at most 64 characters");
  // admitJob holds only jobs in the requester's own repo, so the job's repo names the account.
  const requester = m[1]!;
  return ctx.ldb.write(async (tx) => {
    const u = new UnitOfWork(tx, ctx.ldb, ctx.policy.ledger);
    await u.loadAccounts([requester]);
    const a = u.account(requester);
    const hold = await tx.selectFrom("holds").selectAll().where("key", "=", holdKey).executeTakeFirst();
    if (!hold || hold.state !== "pending" || hold.requester !== requester) return { released: false, held: a.held, available: a.balance - a.held };
    a.held -= toInt(hold.amount, "hold");
    u.markDirty(requester);
    u.holdUpdates.set(holdKey, "released");
    // Available went up: parked receipts of the requester are retried in this transaction.
    u.credited.add(requester);
    await retryParked(ctx, u, new RecordCache(tx, ctx.ldb), { settled: [], rejected: [] });
    await u.flush();
    return { released: true, held: a.held, available: a.balance - a.held };
  });
}

/** A balance read by the member itself: a touch at `nowMs`. */
export async function touchMember(ctx: EngineContext, did: string, nowMs: number): Promise<void> {
  await ctx.ldb.write(async (tx) => {
    const u = new UnitOfWork(tx, ctx.ldb, ctx.policy.ledger);
    await u.loadAccounts([did]);
    u.touch(did, nowMs, (m) => mintRecord(ctx, m));
    const res: BatchResult = { settled: [], rejected: [] };
    await retryParked(ctx, u, new RecordCache(tx, ctx.ldb), res);
    await u.flush();
  });
}
