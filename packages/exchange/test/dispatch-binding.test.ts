// A job dispatched to one machine is paid to that machine only. The attack: a job written without
// acceptedProviders (other cocore clients write such jobs) is admitted for provider P's machine; a
// provider X watching the firehose writes a receipt for it first — valid, signed, in time — and
// would be paid. The exchange's hold remembers where the job was sent, so X's receipt is rejected
// `not-dispatched-provider`, and P's settles. On SQLite and PostgreSQL, through the real engine.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { applyBatch, type EngineContext } from "../src/index.ts";
import { admitJob } from "../src/scheduler.ts";
import { type Backend, EXCHANGE_DID, freshEngines, MIN, opCountersignature, opJob, opMatchmaker, opProvider, opReceipt, pgSkip, T0, testDid } from "./support.ts";

const EXCHANGE = EXCHANGE_DID;
const did = testDid;

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`dispatch binding on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    const make = freshEngines(backend);
    const status = async (ctx: EngineContext, uri: string) => (await ctx.ldb.db.selectFrom("receipts").select(["status", "reason"]).where("uri", "=", uri).executeTakeFirst()) ?? undefined;

    test("a receipt from a provider the job was not dispatched to is rejected; the dispatched one is paid", async () => {
      const ctx = await make();
      const A = did("req-a");
      const P = opProvider(did("prov-p"));
      const X = opProvider(did("prov-x"));
      const j = opJob(EXCHANGE, A, 10_000, T0 + 5 * MIN);
      assert.equal((j.job.record!.acceptedProviders as unknown) ?? undefined, undefined, "the job names no provider");
      const M = opMatchmaker(did("matchmaker"));
      await applyBatch(ctx, [M.brokerageKey, P.att, X.att, j.auth, j.job]);
      const admitted = await admitJob(ctx, { job: { uri: j.job.uri, cid: j.job.cid! }, requester: A, provider: P.did, machineKey: P.key.publicKey }, ctx.clock.t);
      assert.equal(admitted.admitted, true, JSON.stringify(admitted));

      // X is quicker: its receipt is on the firehose before P's.
      const sniped = opReceipt(X, A, j, { in: 10, out: 20 }, ctx.clock.t + 1000);
      ctx.clock.t += 5000;
      await applyBatch(ctx, [sniped]);
      assert.deepEqual(await status(ctx, sniped.uri), { status: "rejected", reason: "not-dispatched-provider" });
      const honest = opReceipt(P, A, j, { in: 10, out: 20 }, ctx.clock.t + 1000, undefined, opCountersignature(M, j, P));
      ctx.clock.t += 5000;
      await applyBatch(ctx, [honest]);
      assert.equal((await status(ctx, honest.uri))?.status, "settled");

      // P's other machine (another key) is not the one the job went to either.
      const j2 = opJob(EXCHANGE, A, 10_000, ctx.clock.t);
      const P2 = { ...opProvider(P.did) };
      await applyBatch(ctx, [j2.auth, j2.job, P2.att]);
      assert.equal((await admitJob(ctx, { job: { uri: j2.job.uri, cid: j2.job.cid! }, requester: A, provider: P.did, machineKey: P.key.publicKey }, ctx.clock.t)).admitted, true);
      const otherMachine = opReceipt(P2, A, j2, { in: 1, out: 2 }, ctx.clock.t + 1000);
      ctx.clock.t += 5000;
      await applyBatch(ctx, [otherMachine]);
      assert.deepEqual(await status(ctx, otherMachine.uri), { status: "rejected", reason: "not-dispatched-provider" });
    });

    test("a job never admitted here binds nobody: the first valid receipt the requester can pay settles", async () => {
      const ctx = await make();
      const A = did("req-b");
      const X = opProvider(did("prov-y"));
      const j = opJob(EXCHANGE, A, 10_000, T0 + 5 * MIN);
      await applyBatch(ctx, [X.att, j.auth, j.job]);
      const r = opReceipt(X, A, j, { in: 10, out: 20 }, ctx.clock.t + 1000);
      ctx.clock.t += 5000;
      await applyBatch(ctx, [r]);
      assert.equal((await status(ctx, r.uri))?.status, "settled");
    });
  });
}
