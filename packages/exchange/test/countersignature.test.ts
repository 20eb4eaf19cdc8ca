// The matchmaker's brokerageCountersignature, checked by the exchange against the key the
// matchmaker publishes in its own repo (dev.cocore.compute.brokerageKey). The attacks: the
// dispatched provider strips the countersignature (its receipt is not the dispatched work as the
// public record states it), and anyone forges one with a key of their own. Through the real
// engine, on SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateSigningKey } from "@cocore/protocol";
import { applyBatch, type EngineContext } from "../src/index.ts";
import { admitJob } from "../src/scheduler.ts";
import { type Backend, type ClockedContext, EXCHANGE_DID, freshEngines, MIN, opCountersignature, opJob, opMatchmaker, opProvider, opReceipt, pgSkip, T0, testDid } from "./support.ts";

const EXCHANGE = EXCHANGE_DID;
const did = testDid;

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`brokerage countersignatures on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    const make = freshEngines(backend);
    type Ctx = ClockedContext;
    const row = async (ctx: EngineContext, uri: string) => ctx.ldb.db.selectFrom("receipts").select(["status", "reason"]).where("uri", "=", uri).executeTakeFirst();
    const deliver = async (ctx: Ctx, ops: Parameters<typeof applyBatch>[1]) => {
      ctx.clock.t += 5000;
      await applyBatch(ctx, ops);
    };

    test("a job dispatched through the matchmaker: a receipt without its countersignature is not paid, one with it is", async () => {
      const ctx = await make();
      const A = did("req-a");
      const P = opProvider(did("prov-p"));
      const M = opMatchmaker(did("matchmaker"));
      const j = opJob(EXCHANGE, A, 10_000, T0 + 5 * MIN);
      await applyBatch(ctx, [M.brokerageKey, P.att, j.auth, j.job]);
      assert.equal((await admitJob(ctx, { job: { uri: j.job.uri, cid: j.job.cid! }, requester: A, provider: P.did, machineKey: P.key.publicKey }, ctx.clock.t)).admitted, true);
      const stripped = opReceipt(P, A, j, { in: 10, out: 20 }, ctx.clock.t + 1000);
      await deliver(ctx, [stripped]);
      assert.deepEqual(await row(ctx, stripped.uri), { status: "rejected", reason: "countersignature-missing" });
      const honest = opReceipt(P, A, j, { in: 10, out: 20 }, ctx.clock.t + 1000, undefined, opCountersignature(M, j, P));
      await deliver(ctx, [honest]);
      assert.equal((await row(ctx, honest.uri))?.status, "settled");
    });

    test("a forged countersignature (a key the matchmaker never published) is rejected, admitted here or not", async () => {
      const ctx = await make();
      const A = did("req-b");
      const P = opProvider(did("prov-q"));
      const M = opMatchmaker(did("matchmaker"));
      const forger = generateSigningKey();
      // Bound to P by the hold: P forges rather than strips.
      const bound = opJob(EXCHANGE, A, 10_000, T0 + 5 * MIN);
      // Never admitted here: the countersignature is still checked, because it is there.
      const loose = opJob(EXCHANGE, A, 10_000, T0 + 5 * MIN);
      await applyBatch(ctx, [M.brokerageKey, P.att, bound.auth, bound.job, loose.auth, loose.job]);
      assert.equal((await admitJob(ctx, { job: { uri: bound.job.uri, cid: bound.job.cid! }, requester: A, provider: P.did, machineKey: P.key.publicKey }, ctx.clock.t)).admitted, true);
      const forgedBound = opReceipt(P, A, bound, { in: 1, out: 2 }, ctx.clock.t + 1000, undefined, opCountersignature(M, bound, P, forger));
      const forgedLoose = opReceipt(P, A, loose, { in: 1, out: 2 }, ctx.clock.t + 1000, undefined, opCountersignature(M, loose, P, forger));
      // A genuine countersignature of another job, pasted onto this one, does not transfer either.
      const pasted = opReceipt(P, A, loose, { in: 1, out: 2 }, ctx.clock.t + 1000, undefined, opCountersignature(M, bound, P));
      await deliver(ctx, [forgedBound, forgedLoose, pasted]);
      for (const r of [forgedBound, forgedLoose, pasted]) assert.deepEqual(await row(ctx, r.uri), { status: "rejected", reason: "countersignature-invalid" }, r.uri);
    });

    test("a countersignature names its authority's published key: until that record is seen the receipt waits", async () => {
      const ctx = await make();
      const A = did("req-c");
      const P = opProvider(did("prov-r"));
      const M = opMatchmaker(did("matchmaker2"));
      const j = opJob(EXCHANGE, A, 10_000, T0 + 5 * MIN);
      await applyBatch(ctx, [P.att, j.auth, j.job]);
      const r = opReceipt(P, A, j, { in: 1, out: 2 }, ctx.clock.t + 1000, undefined, opCountersignature(M, j, P));
      await deliver(ctx, [r]);
      assert.equal((await row(ctx, r.uri))?.status, "pending");
      await deliver(ctx, [M.brokerageKey]);
      assert.equal((await row(ctx, r.uri))?.status, "settled");
    });
  });
}
