// The exchange running the ledger machine (@cocore/protocol ledger/README.md) inside its own
// transactions, on SQLite and PostgreSQL without a network: settled rows are final, firehose
// commits are never dropped, admission checks the job and its authorization, holds never change
// which receipt settles, receipts take effect at max(completedAt, watermark) and parked ones at
// the credit that covers them, record keys are decision keys and a rebuild from the published log
// reaches the same ledger, patronage waits for the watermark, and concurrent transactions serialize.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decisionOf, fromJsonRecord, generateSigningKey, NSID, type ReceiptRow, recordCid, signRecord } from "@cocore/protocol";
import { advance, applyBatch, commitBatch, consistencyCheck, createOp, type EngineContext, type IngestOp, prepareBatch, settlementKey, signSettlement, SqlStore } from "../src/index.ts";
import { admitJob, releaseHold, tick, touchMember } from "../src/scheduler.ts";
import { applyCommitDurably, listDeadLetters, replayDeadLetters } from "../src/ingest.ts";
import { type Backend, type ClockedContext, DAY, EXCHANGE_DID, freshEngines, gateLedgerLock, iso, MIN, opJob, type OpJob, type OpJobOptions, opProvider, type OpProvider, opReceipt, pgSkip, T0, TEST_POLICY, testDid } from "./support.ts";

const EXCHANGE = EXCHANGE_DID;
const OTHER_EXCHANGE = "did:plc:otherexchange00000000000";
const did = testDid;
const policy = TEST_POLICY;
const periodEnd = policy.ledger.createdAt + policy.ledger.patronage!.cadenceDays * DAY;

const provider = (name: string, asDid = did(name)): OpProvider => opProvider(asDid);
type Job = OpJob;
const job = (req: string, ceiling: number, t: number, o: OpJobOptions = {}): Job => opJob(EXCHANGE, req, ceiling, t, o);
const receipt = opReceipt;
const ref = (op: IngestOp) => ({ uri: op.uri, cid: op.cid! });

type Ctx = ClockedContext;

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`ledger engine on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    const fresh = freshEngines(backend);
    const row = async (ctx: EngineContext, uri: string) => ctx.ldb.db.selectFrom("receipts").selectAll().where("uri", "=", uri).executeTakeFirst();
    const status = async (ctx: EngineContext, uri: string) => (await row(ctx, uri))?.status;
    const settledAt = async (ctx: EngineContext, uri: string) => (await row(ctx, uri))?.settled_at;
    const account = async (ctx: EngineContext, d: string) => {
      const r = await ctx.ldb.db.selectFrom("accounts").selectAll().where("did", "=", d).executeTakeFirst();
      return { balance: Number(r?.balance ?? 0), held: Number(r?.held ?? 0) };
    };
    const watermark = async (ctx: EngineContext) => Number((await ctx.ldb.db.selectFrom("ledger_meta").select("watermark").where("id", "=", 1).executeTakeFirstOrThrow()).watermark);
    const assertConsistent = async (ctx: EngineContext) => {
      const check = await consistencyCheck(ctx.ldb);
      assert.equal(check.ok, true, check.problems.join("; "));
    };

    test("a settled receipt row is never overwritten by a stale judgement", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j = job(A, 10_000, T0);
      const r = receipt(P, A, j, { in: 10, out: 20 }, T0 + MIN);
      await applyBatch(ctx, [P.att, j.auth, j.job, r]);
      const settled = await row(ctx, r.uri);
      assert.equal(settled?.status, "settled");
      for (const stale of ["parked", "queued"] as const) {
        await ctx.ldb.write(async (tx) => {
          const store = new SqlStore(tx, ctx.ldb);
          const base: ReceiptRow = { uri: r.uri, cid: r.cid!, jobUri: j.job.uri, requester: A, provider: P.did, status: stale, reason: null, waitingFor: null, findings: null, completedAt: T0 + MIN, eff: T0 + MIN, facts: null, settlement: null };
          store.putReceipt(stale === "parked" ? { ...base, reason: "insufficient-balance" } : base);
          await store.flush();
        });
        assert.deepEqual(await row(ctx, r.uri), settled, `a ${stale} row written over it`);
      }
      await assertConsistent(ctx);
    });

    test("a firehose commit is retried until applied, or dead-lettered with the cursor, never dropped", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j = job(A, 10_000, T0);
      const r = receipt(P, A, j, { in: 10, out: 20 }, T0 + MIN);
      const cursor = async () => (await ctx.ldb.db.selectFrom("cursor").select("seq").where("source", "=", "src").executeTakeFirst())?.seq;
      const failing = (times: number, error: () => Error) => {
        let n = 0;
        return (c: EngineContext, ops: IngestOp[], cur: { source: string; seq: number }) => {
          if (n++ < times) return Promise.reject(error());
          return applyBatch(c, ops, cur);
        };
      };
      const opts = { log: () => {}, stopping: () => false, sleep: async () => {} };
      // Transient errors (the database away): retried past any count.
      const transient = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
      assert.equal(await applyCommitDurably(ctx, [P.att, j.auth, j.job], { source: "src", seq: 7, did: A }, { ...opts, apply: failing(12, transient) }), "applied");
      assert.equal(Number(await cursor()), 7);
      // Varying errors are not deterministic yet: retried.
      let k = 0;
      const varying = () => new Error(`flaky ${k++}`);
      assert.equal(await applyCommitDurably(ctx, [], { source: "src", seq: 8, did: A }, { ...opts, apply: failing(6, varying) }), "applied");
      assert.equal(Number(await cursor()), 8);
      // The same error five times: dead-lettered together with the cursor, and reported.
      const same = () => new Error("idempotency-conflict: transfer x already exists with another payload");
      assert.equal(await applyCommitDurably(ctx, [r], { source: "src", seq: 9, did: P.did }, { ...opts, apply: failing(100, same) }), "dead-lettered");
      assert.equal(Number(await cursor()), 9);
      assert.equal(await status(ctx, r.uri), undefined, "nothing of the failed commit applied");
      const dead = await listDeadLetters(ctx);
      assert.deepEqual(dead.map((d) => [d.source, d.seq, d.did, d.ops.map((o) => o.uri)]), [["src", 9, P.did, [r.uri]]]);
      assert.deepEqual(dead[0]!.ops[0]!.record, r.record, "the commit's records survive the round trip");
      const report = await consistencyCheck(ctx.ldb);
      assert.equal(report.deadLetters, 1);
      assert.equal(report.ok, false);
      // Replayed once the cause is gone.
      assert.deepEqual(await replayDeadLetters(ctx), { replayed: 1, failed: 0 });
      assert.equal(await status(ctx, r.uri), "settled");
      assert.equal((await listDeadLetters(ctx)).length, 0);
      await assertConsistent(ctx);
      // Closing mid-retry leaves the cursor before the commit.
      let calls = 0;
      const outcome = await applyCommitDurably(ctx, [], { source: "src", seq: 10, did: A }, {
        ...opts,
        stopping: () => calls > 2,
        apply: () => {
          calls++;
          return Promise.reject(transient());
        },
      });
      assert.equal(outcome, "stopped");
      assert.equal(Number(await cursor()), 9);
    });

    test("admission holds the job record's ceiling, needs the job, and refuses a settled job", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j1 = job(A, 800_000, T0);
      const j2 = job(A, 800_000, T0);
      await applyBatch(ctx, [P.att, j1.auth, j1.job, j2.auth, j2.job]);
      const a1 = await admitJob(ctx, { job: ref(j1.job), requester: A, priceCeiling: { amount: 1, currency: "TOK" }, expiresAt: iso(T0 + 3_600_000) }, ctx.clock.t);
      assert.equal(a1.admitted, true, a1.message);
      assert.deepEqual(await account(ctx, A), { balance: 1_000_000, held: 800_000 }, "the record's ceiling, not the caller's");
      const a2 = await admitJob(ctx, { job: ref(j2.job), requester: A, priceCeiling: { amount: 800_000, currency: "TOK" } }, ctx.clock.t);
      assert.deepEqual([a2.admitted, a2.code], [false, "below_floor"]);
      // A job the exchange has not indexed: read from the requester's PDS and checked by CID.
      const j3 = job(A, 50_000, T0);
      const notIndexed = await admitJob(ctx, { job: ref(j3.job), requester: A }, ctx.clock.t);
      assert.deepEqual([notIndexed.admitted, notIndexed.code], [false, "job_not_found"]);
      const pds = new Map([j3.job, j3.auth].map((o) => [o.uri, { cid: o.cid!, value: o.record! }]));
      const fetching: EngineContext = { ...ctx, fetchRecord: async (uri) => pds.get(uri) ?? null };
      assert.equal((await admitJob(fetching, { job: { uri: j3.job.uri, cid: j1.job.cid! }, requester: A }, ctx.clock.t)).code, "job_mismatch");
      const a3 = await admitJob(fetching, { job: ref(j3.job), requester: A }, ctx.clock.t);
      assert.equal(a3.admitted, true, a3.message);
      assert.equal((await account(ctx, A)).held, 850_000);
      // J1 settles (posting its hold); asking again for J1 is refused, by the posted hold or the claim.
      const r1 = receipt(P, A, j1, { in: 400_000, out: 400_000 }, T0 + MIN);
      await applyBatch(ctx, [r1]);
      assert.equal(await status(ctx, r1.uri), "settled");
      assert.deepEqual(await account(ctx, A), { balance: 200_000, held: 50_000 });
      const again = await admitJob(ctx, { job: ref(j1.job), requester: A }, ctx.clock.t);
      assert.deepEqual([again.admitted, again.code], [false, "job_already_settled"]);
      await ctx.ldb.db.deleteFrom("holds").where("job_uri", "=", j1.job.uri).execute();
      const noHold = await admitJob(ctx, { job: ref(j1.job), requester: A }, ctx.clock.t);
      assert.deepEqual([noHold.admitted, noHold.code], [false, "job_already_settled"]);
      await assertConsistent(ctx);
    });

    test("admission checks the payment authorization and the job's expiry; refusals leave no hold and no grant", async () => {
      const ctx = await fresh();
      const at = ctx.clock.t;
      // One singleJob authorization named by two jobs: the nonce is reserved by the first admitted.
      const A = did("req-a");
      const j1 = job(A, 100_000, T0);
      const j2 = job(A, 100_000, T0, { auth: j1.auth });
      await applyBatch(ctx, [j1.auth, j1.job, j2.job]);
      assert.equal((await admitJob(ctx, { job: ref(j1.job), requester: A }, at)).admitted, true);
      const second = await admitJob(ctx, { job: ref(j2.job), requester: A }, at);
      assert.deepEqual([second.admitted, second.code], [false, "authorization_nonce_reserved"]);
      assert.deepEqual(await account(ctx, A), { balance: 1_000_000, held: 100_000 });
      assert.equal((await releaseHold(ctx, { job: ref(j1.job), reason: "provider_lost" }, at)).released, true);
      const freed = await admitJob(ctx, { job: ref(j2.job), requester: A }, at);
      assert.equal(freed.admitted, true, freed.message);
      assert.deepEqual(await account(ctx, A), { balance: 1_000_000, held: 100_000 });
      const reserved = await admitJob(ctx, { job: ref(j1.job), requester: A }, at);
      assert.deepEqual([reserved.admitted, reserved.code], [false, "authorization_nonce_reserved"], "now the second job holds the nonce");

      // Each refusal for a requester never touched before: no hold, no account, no grant.
      const cases: { name: string; code: string; make: (req: string) => Job; at?: number }[] = [
        { name: "other-exchange", code: "authorization_other_exchange", make: (req) => job(req, 10_000, T0, { authExchange: OTHER_EXCHANGE }) },
        { name: "expires-first", code: "authorization_expires_first", make: (req) => job(req, 10_000, T0, { authExpiresAt: T0 + 30 * MIN }) },
        { name: "low-ceiling", code: "authorization_ceiling_too_low", make: (req) => job(req, 10_000, T0, { authCeiling: 9_999 }) },
        { name: "expired-job", code: "job_expired", make: (req) => job(req, 10_000, T0), at: T0 + 3_600_000 },
      ];
      for (const c of cases) {
        const R = did(`req-${c.name}`);
        const j = c.make(R);
        await applyBatch(ctx, [j.auth, j.job]);
        const out = await admitJob(ctx, { job: ref(j.job), requester: R }, c.at ?? at);
        assert.deepEqual([out.admitted, out.code], [false, c.code], c.name);
        assert.equal((await ctx.ldb.db.selectFrom("holds").select("key").where("requester", "=", R).execute()).length, 0, `${c.name}: no hold`);
        const acct = await ctx.ldb.db.selectFrom("accounts").selectAll().where("did", "=", R).executeTakeFirst();
        assert.ok(!acct || (acct.granted_at === null && Number(acct.balance) === 0), `${c.name}: no grant`);
        assert.equal((await ctx.ldb.db.selectFrom("transfers").select("key").where("to_did", "=", R).execute()).length, 0, `${c.name}: nothing minted`);
      }
      // The same job admitted in time (the control for the expiry case).
      const ok = job(did("req-in-time"), 10_000, T0);
      await applyBatch(ctx, [ok.auth, ok.job]);
      assert.equal((await admitJob(ctx, { job: ref(ok.job), requester: did("req-in-time") }, T0 + 3_600_000 - 1)).admitted, true);
      assert.equal(await ctx.ldb.db.selectFrom("outbox").select("key").where("key", "=", `grant:${did("req-in-time")}`).executeTakeFirst().then((r) => r?.key), `grant:${did("req-in-time")}`);
      await assertConsistent(ctx);
    });

    test("holds never change which receipt settles", async () => {
      for (const how of ["release", "expire"] as const) {
        const ctx = await fresh();
        const A = did("req-a");
        const P = provider("prov-p");
        const j1 = job(A, 900_000, T0);
        const j2 = job(A, 300_000, T0);
        const j3 = job(A, 900_000, T0);
        await applyBatch(ctx, [P.att, j1.auth, j1.job, j2.auth, j2.job, j3.auth, j3.job]);
        assert.equal((await admitJob(ctx, { job: ref(j1.job), requester: A }, ctx.clock.t)).admitted, true);
        assert.deepEqual(await account(ctx, A), { balance: 1_000_000, held: 900_000 });
        // J1's hold leaves 100,000 available; J2's receipt is paid from the balance regardless.
        const r2 = receipt(P, A, j2, { in: 100_000, out: 100_000 }, T0 + MIN);
        const r3 = receipt(P, A, j3, { in: 50_000, out: 800_000 }, T0 + 2 * MIN);
        await applyBatch(ctx, [r2, r3]);
        assert.equal(await status(ctx, r2.uri), "settled", how);
        assert.equal(await status(ctx, r3.uri), "parked", "850,000 > the balance of 800,000");
        assert.deepEqual(await account(ctx, A), { balance: 800_000, held: 900_000 });
        await assertConsistent(ctx);
        const before = await ctx.ldb.db.selectFrom("receipts").select(["uri", "status", "settled_at"]).orderBy("uri").execute();
        if (how === "release") assert.equal((await releaseHold(ctx, { job: ref(j1.job), reason: "provider_lost" })).released, true);
        else assert.equal((await tick(ctx, T0 + 3_600_000)).holdsReleased, 1);
        assert.deepEqual(await ctx.ldb.db.selectFrom("receipts").select(["uri", "status", "settled_at"]).orderBy("uri").execute(), before, how);
        assert.deepEqual(await account(ctx, A), { balance: 800_000, held: 0 });
        await assertConsistent(ctx);
      }
    });

    test("a receipt is decided once the watermark passes its completedAt; one that arrives after takes effect at the watermark", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const jl = job(A, 10_000, T0);
      const jo = job(A, 10_000, T0);
      await applyBatch(ctx, [P.att, jl.auth, jl.job, jo.auth, jo.job]);
      const w = await watermark(ctx);
      assert.ok(w > T0 + MIN);
      // Late: completed before the watermark, seen after it.
      const late = receipt(P, A, jl, { in: 10, out: 20 }, T0 + MIN);
      await applyBatch(ctx, [late]);
      assert.equal(await settledAt(ctx, late.uri), iso(w), "at the watermark of the batch that made it a candidate, not at completedAt");
      const ob = await ctx.ldb.db.selectFrom("outbox").select(["rkey", "record"]).where("key", "=", settlementKey(late.uri)).executeTakeFirstOrThrow();
      assert.equal((JSON.parse(ob.record) as { settledAt: string }).settledAt, iso(w));
      assert.equal(decisionOf(ob.rkey)?.ms, w);
      // On time: completed after the watermark; queued at its completedAt until the watermark passes it.
      const completed = ctx.clock.t + 3 * MIN;
      const onTime = receipt(P, A, jo, { in: 10, out: 20 }, completed);
      await applyBatch(ctx, [onTime]);
      assert.equal(await status(ctx, onTime.uri), "queued");
      await tick(ctx, completed);
      assert.equal(await status(ctx, onTime.uri), "queued", "decided strictly before the watermark");
      assert.equal((await tick(ctx, completed + 1)).settled.length, 1);
      assert.equal(await settledAt(ctx, onTime.uri), iso(completed));
      await assertConsistent(ctx);
    });

    test("a parked receipt settles at the time of the credit that covers it, in the same transaction", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const B = did("req-b");
      const P = provider("prov-p");
      const asProvider = provider("req-a", A);
      const j1 = job(A, 1_100_000, T0);
      const jb = job(B, 200_000, T0);
      const r1 = receipt(P, A, j1, { in: 50_000, out: 1_000_000 }, T0 + MIN);
      await applyBatch(ctx, [P.att, asProvider.att, j1.auth, j1.job, jb.auth, jb.job, r1]);
      assert.equal(await status(ctx, r1.uri), "parked");
      assert.deepEqual(await account(ctx, A), { balance: 1_000_000, held: 0 });
      // A earns 95,000 as B's provider: the payout covers r1, which settles with it.
      const creditAt = ctx.clock.t + MIN;
      const rb = receipt(asProvider, B, jb, { in: 50_000, out: 50_000 }, creditAt);
      await applyBatch(ctx, [rb]);
      assert.equal(await status(ctx, rb.uri), "queued");
      ctx.clock.t = creditAt + 1;
      const result = await tick(ctx, ctx.clock.t);
      assert.deepEqual(result.settled.sort(), [r1.uri, rb.uri].sort(), "one transaction settles both");
      assert.equal(await settledAt(ctx, rb.uri), iso(creditAt));
      assert.equal(await settledAt(ctx, r1.uri), iso(creditAt));
      const moves = await ctx.ldb.db.selectFrom("transfers").select(["key", "at"]).where("key", "in", [`rcpt:${rb.uri}:payout`, `rcpt:${r1.uri}:payout`]).execute();
      assert.deepEqual(moves.map((m) => m.at), [iso(creditAt), iso(creditAt)]);
      assert.deepEqual(await account(ctx, A), { balance: 1_000_000 + 95_000 - 1_050_000, held: 0 });

      // A refresh is a credit too: a member's balance read a week on refreshes at the watermark.
      const j2 = job(A, 1_100_000, T0);
      const r2 = receipt(P, A, j2, { in: 40_000, out: 60_000 }, T0 + 2 * MIN);
      await applyBatch(ctx, [j2.auth, j2.job, r2]);
      assert.equal(await status(ctx, r2.uri), "parked");
      ctx.clock.t = T0 + 8 * DAY;
      await advance(ctx);
      const w = await watermark(ctx);
      assert.equal(await status(ctx, r2.uri), "parked", "moving the watermark credits nobody");
      await touchMember(ctx, A, ctx.clock.t);
      assert.equal(await settledAt(ctx, r2.uri), iso(w));
      const refresh = await ctx.ldb.db.selectFrom("transfers").select(["at", "amount"]).where("kind", "=", "refresh").where("to_did", "=", A).executeTakeFirstOrThrow();
      assert.deepEqual([refresh.at, Number(refresh.amount)], [iso(w), 70_000]);
      await assertConsistent(ctx);
    });

    test("settlement record keys are decision keys; a rebuild from the published log reaches the same ledger and publishes nothing new", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const B = did("req-b");
      const P = provider("prov-p");
      const ja1 = job(A, 10_000, T0);
      const ja2 = job(A, 1_100_000, T0);
      const jb1 = job(B, 10_000, T0);
      const jb2 = job(B, 10_000, T0);
      const r1 = receipt(P, A, ja1, { in: 10, out: 20 }, T0 + MIN);
      const r2 = receipt(P, A, ja2, { in: 50_000, out: 1_000_000 }, T0 + 2 * MIN);
      const rb1 = receipt(P, B, jb1, { in: 400, out: 600 }, T0 + 90_000);
      // Completed on time; delivered late (after the watermark passed it).
      const rb2 = receipt(P, B, jb2, { in: 300, out: 700 }, T0 + 3 * MIN);
      const batches = [[P.att, ja1.auth, ja1.job, ja2.auth, ja2.job, jb1.auth, jb1.job, jb2.auth, jb2.job, r1, r2, rb1], [rb2]];
      for (const b of batches) await applyBatch(ctx, b);
      assert.equal(await status(ctx, r2.uri), "parked");
      ctx.clock.t = T0 + 8 * DAY;
      await advance(ctx);
      await touchMember(ctx, A, ctx.clock.t); // a refresh: r2 settles
      assert.equal(await status(ctx, r2.uri), "settled");
      ctx.clock.t = periodEnd + DAY;
      assert.equal((await tick(ctx, ctx.clock.t)).periodsDistributed, 1);

      const outbox = await ctx.ldb.db.selectFrom("outbox").selectAll().orderBy("seq").execute();
      assert.deepEqual(
        new Set(outbox.map((o) => o.collection)),
        new Set([NSID.settlement, NSID.tokenGrant, NSID.tokenRefresh, NSID.tokenPatronage]),
      );
      for (const o of outbox) {
        const v = JSON.parse(o.record) as Record<string, unknown>;
        const stated = o.collection === NSID.settlement ? v.settledAt : o.collection === NSID.tokenPatronage ? (v.period as { end: string }).end : v.createdAt;
        assert.equal(iso(decisionOf(o.rkey)!.ms), stated, `${o.key}: its rkey is its decision time`);
        if (o.collection === NSID.settlement) {
          const receiptUri = (v.receipt as { uri: string }).uri;
          assert.equal(await settledAt(ctx, receiptUri), stated);
        }
      }
      assert.deepEqual(outbox.map((o) => o.rkey), outbox.map((o) => o.rkey).sort(), "published in record-key order");
      assert.equal(await settledAt(ctx, rb2.uri) === iso(T0 + 3 * MIN), false, "the late receipt took effect at the watermark");

      // Rebuild: the exchange's published records (signed as the publisher signs them) read back in
      // record-key order into an empty database, then the members' records.
      const key = generateSigningKey();
      const log = [...outbox]
        .sort((a, b) => (a.rkey < b.rkey ? -1 : 1))
        .map((o) => {
          let value = JSON.parse(o.record) as Record<string, unknown>;
          if (o.collection === NSID.settlement) value = signSettlement(value, key);
          return createOp(EXCHANGE, o.collection, fromJsonRecord(value) as Record<string, unknown>, o.rkey);
        });
      const rebuilt = await fresh();
      rebuilt.clock.t = ctx.clock.t;
      await commitBatch(rebuilt, { ...(await prepareBatch(rebuilt, log)), restoreLog: true });
      for (const b of batches) await applyBatch(rebuilt, b);
      await tick(rebuilt, rebuilt.clock.t);
      const snapshot = async (c: EngineContext) => ({
        accounts: (await c.ldb.db.selectFrom("accounts").select(["did", "balance", "held", "granted_at", "last_refresh_at"]).orderBy("did").execute()).map((a) => ({ ...a, balance: Number(a.balance), held: Number(a.held) })),
        receipts: await c.ldb.db.selectFrom("receipts").select(["uri", "status", "settled_at", "charged", "payout", "fee"]).orderBy("uri").execute(),
        transfers: await c.ldb.db.selectFrom("transfers").select(["key", "amount", "at"]).orderBy("key").execute(),
        outbox: (await c.ldb.db.selectFrom("outbox").select(["key", "collection", "rkey"]).orderBy("key").execute()).map((o) => `${o.key} ${o.collection} ${o.rkey}`),
      });
      const [want, got] = [await snapshot(ctx), await snapshot(rebuilt)];
      assert.deepEqual(got.accounts, want.accounts);
      assert.deepEqual(got.receipts.map((r) => ({ ...r, charged: Number(r.charged), payout: Number(r.payout), fee: Number(r.fee) })), want.receipts.map((r) => ({ ...r, charged: Number(r.charged), payout: Number(r.payout), fee: Number(r.fee) })));
      assert.deepEqual(got.transfers.map((t) => `${t.key}=${Number(t.amount)}@${t.at}`), want.transfers.map((t) => `${t.key}=${Number(t.amount)}@${t.at}`));
      assert.deepEqual(got.outbox, want.outbox, "one record per fact, under the same key");
      const unpublished = await rebuilt.ldb.db.selectFrom("outbox").select("key").where("published_uri", "is", null).execute();
      assert.deepEqual(unpublished, [], "nothing new to publish");
      await assertConsistent(rebuilt);
      // Outside a rebuild, records in the exchange's repo that it did not decide change nothing.
      const stray = await fresh();
      stray.clock.t = ctx.clock.t;
      await applyBatch(stray, log);
      assert.equal((await stray.ldb.db.selectFrom("transfers").select("key").execute()).length, 0);
      assert.equal((await stray.ldb.db.selectFrom("outbox").select("key").execute()).length, 0);
    });

    // A job updated after creation: v1 (the create) and v2 (the update), same uri.
    const jobVersions = (A: string) => {
      const v1 = job(A, 10_000, T0);
      const { $type: _t, ...body } = v1.job.record!;
      const v2 = { ...v1, job: { ...createOp(A, NSID.job, { ...body, maxTokensOut: 5000 }, v1.job.uri.split("/").pop()), action: "update" as const } };
      assert.equal(v2.job.uri, v1.job.uri);
      assert.notEqual(v2.job.cid, v1.job.cid);
      return { v1, v2 };
    };
    const storedJob = async (ctx: EngineContext, uri: string) => ctx.ldb.db.selectFrom("records").select(["cid", "rev"]).where("uri", "=", uri).executeTakeFirstOrThrow();

    test("an older record version replayed with a lower rev does not overwrite the newer one", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const { v1, v2 } = jobVersions(A);
      // Rebuild order: A's backfill (current = v2, at the repo's rev), then the create of v1
      // replayed from the stream at its older rev, then the provider's records.
      await applyBatch(ctx, [v1.auth, v2.job].map((o) => ({ ...o, rev: "3kbbbbbbbbbbb" })));
      await applyBatch(ctx, [{ ...v1.job, rev: "3kaaaaaaaaaaa" }]);
      assert.deepEqual(await storedJob(ctx, v1.job.uri), { cid: v2.job.cid, rev: "3kbbbbbbbbbbb" });
      // A replayed delete older than the stored version is ignored too.
      await applyBatch(ctx, [{ action: "delete", uri: v1.job.uri, rev: "3kaaaaaaaaaab" }]);
      const r = receipt(P, A, v2, { in: 100, out: 200 }, T0 + MIN);
      await applyBatch(ctx, [P.att, r]);
      assert.equal(await status(ctx, r.uri), "settled");
      // The same version seen at a later rev (another export) only moves the rev.
      await applyBatch(ctx, [{ ...v2.job, rev: "3kccccccccccc" }]);
      assert.deepEqual(await storedJob(ctx, v1.job.uri), { cid: v2.job.cid, rev: "3kccccccccccc" });
    });

    test("a receipt rejected against a stale job version is judged again when the newer version arrives", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const { v1, v2 } = jobVersions(A);
      // Without revs the replayed v1 overwrites v2, and the receipt naming v2 is rejected.
      await applyBatch(ctx, [v1.auth, v2.job]);
      await applyBatch(ctx, [v1.job]);
      const r = receipt(P, A, v2, { in: 100, out: 200 }, T0 + MIN);
      await applyBatch(ctx, [P.att, r]);
      assert.equal(await status(ctx, r.uri), "rejected");
      await applyBatch(ctx, [v2.job]);
      assert.equal(await status(ctx, r.uri), "settled");
      // A receipt naming a version that never comes back stays rejected.
      const stale = receipt(P, A, v1, { in: 1, out: 1 }, T0 + 2 * MIN);
      await applyBatch(ctx, [stale]);
      assert.equal(await status(ctx, stale.uri), "rejected");
      const v3 = { ...v2.job.record!, maxTokensOut: 4000 };
      await applyBatch(ctx, [{ ...v2.job, cid: recordCid(v3)!, record: v3 }]);
      assert.equal(await status(ctx, stale.uri), "rejected");
      await assertConsistent(ctx);
    });

    test("a receipt rejected against a stale attestation or authorization version settles when the newer version arrives", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      // The attestation updated in place (same uri, new content and cid), signed again.
      const { $type: _a, selfSignature: _s, ...attBody } = P.att.record!;
      const attV2 = { ...createOp(P.did, NSID.attestation, signRecord({ $type: NSID.attestation, ...attBody, osVersion: "y" }, "selfSignature", P.key), P.att.uri.split("/").pop()), action: "update" as const };
      assert.equal(attV2.uri, P.att.uri);
      assert.notEqual(attV2.cid, P.att.cid);
      const j = job(A, 10_000, T0);
      await applyBatch(ctx, [P.att, j.auth, j.job]);
      const r = receipt({ ...P, att: attV2 }, A, j, { in: 100, out: 200 }, T0 + MIN);
      await applyBatch(ctx, [r]);
      assert.equal(await status(ctx, r.uri), "rejected");
      await applyBatch(ctx, [attV2]);
      assert.equal(await status(ctx, r.uri), "settled");

      // The authorization: the job names version 2 while the exchange holds version 1.
      const k = job(A, 10_000, T0 + 1000);
      const { $type: _t, ...authBody } = k.auth.record!;
      const authV2 = { ...createOp(A, NSID.paymentAuthorization, { ...authBody, expiresAt: iso(T0 + 2 * DAY) }, k.auth.uri.split("/").pop()), action: "update" as const };
      const { $type: _j, ...jobBody } = k.job.record!;
      const jobOnV2 = createOp(A, NSID.job, { ...jobBody, paymentAuthorization: ref(authV2) });
      await applyBatch(ctx, [k.auth, jobOnV2]);
      const r2 = receipt({ ...P, att: attV2 }, A, { ...k, job: jobOnV2 }, { in: 10, out: 20 }, T0 + 2 * MIN);
      await applyBatch(ctx, [r2]);
      assert.equal(await status(ctx, r2.uri), "rejected");
      await applyBatch(ctx, [authV2]);
      assert.equal(await status(ctx, r2.uri), "settled");
      await assertConsistent(ctx);
    });

    test("a patronage period is distributed only once the watermark passes its end", async () => {
      const base = await fresh();
      let ingested = Number.NEGATIVE_INFINITY;
      const graceMs = 2000;
      // Ingestion follows the clock until the test holds it back.
      const ctx: Ctx = { ...base, graceMs, ingestedThrough: (now) => (ingested === Number.NEGATIVE_INFINITY ? now : ingested) };
      const A = did("req-a");
      const P = provider("prov-p");
      const j = job(A, 10_000, T0);
      const r = receipt(P, A, j, { in: 400, out: 600 }, T0 + MIN);
      await applyBatch(ctx, [P.att, j.auth, j.job, r]);
      assert.equal(await status(ctx, r.uri), "settled");
      const patronage = async () => (await ctx.ldb.db.selectFrom("transfers").select("key").where("kind", "=", "patronage").execute()).length;
      const now = periodEnd + 10 * MIN;
      ingested = periodEnd - 1;
      assert.equal((await tick(ctx, now)).periodsDistributed, 0, "ingestion behind the end");
      assert.equal(await watermark(ctx), periodEnd - 1 - graceMs);
      ingested = periodEnd + graceMs - 1;
      assert.equal((await tick(ctx, now)).periodsDistributed, 0, "within the grace");
      assert.equal(await patronage(), 0);
      ingested = periodEnd + graceMs;
      assert.equal((await tick(ctx, now)).periodsDistributed, 1);
      const shares = await patronage();
      assert.equal(shares, 2, "requester and provider");
      ingested = now;
      assert.equal((await tick(ctx, now)).periodsDistributed, 0, "exactly once");
      assert.equal(await patronage(), shares);
      const records = await ctx.ldb.db.selectFrom("outbox").select(["rkey", "record"]).where("collection", "=", NSID.tokenPatronage).execute();
      assert.equal(records.length, shares);
      for (const o of records) assert.equal(decisionOf(o.rkey)?.ms, periodEnd);
      await assertConsistent(ctx);
    });

    // SQLite serializes whole write transactions; on PostgreSQL the ledger_meta row lock does.
    if (backend === "postgres") {
      test("PostgreSQL: an admission and a settlement of the same requester, run concurrently, serialize", async () => {
        const ctx = await fresh();
        const P = provider("prov-p");
        await applyBatch(ctx, [P.att]);
        for (let i = 0; i < 30; i++) {
          const A = did(`race${String(i).padStart(3, "0")}`);
          const ja = job(A, 500_000, T0);
          const jr = job(A, 200_000, T0);
          await applyBatch(ctx, [ja.auth, ja.job, jr.auth, jr.job]);
          // Half the runs race the requester's first touch (its grant), half an existing account.
          if (i % 2 === 1) await touchMember(ctx, A, ctx.clock.t);
          const r = receipt(P, A, jr, { in: 50_000, out: 50_000 }, T0 + MIN + i);
          const [admitted, batch] = await Promise.all([admitJob(ctx, { job: ref(ja.job), requester: A }, ctx.clock.t), applyBatch(ctx, [r])]);
          assert.equal(admitted.admitted, true, admitted.message);
          assert.deepEqual(batch.settled, [r.uri]);
          assert.deepEqual(await account(ctx, A), { balance: 900_000, held: 500_000 }, `run ${i}`);
          const holds = await ctx.ldb.db.selectFrom("holds").select(["amount", "state"]).where("requester", "=", A).execute();
          assert.deepEqual(holds.map((h) => [Number(h.amount), h.state]), [[500_000, "pending"]]);
          const moves = await ctx.ldb.db.selectFrom("transfers").select("key").where("ref", "=", r.uri).execute();
          assert.equal(moves.length, 2, "payout and fee, once");
          assert.equal((await ctx.ldb.db.selectFrom("outbox").select("key").where("key", "=", settlementKey(r.uri)).execute()).length, 1);
          assert.equal(Number((await row(ctx, r.uri))?.charged), 100_000);
          await assertConsistent(ctx);
        }
      });

      test("PostgreSQL: a batch reads nothing before it holds the ledger lock (no stale job version)", async () => {
        const ctx = await fresh();
        const A = did("req-a");
        const P = provider("prov-p");
        const { v1, v2 } = jobVersions(A);
        await applyBatch(ctx, [P.att, v1.auth, v1.job]);
        const r = receipt(P, A, v2, { in: 100, out: 200 }, T0 + MIN);
        // The receipt's batch is stopped where it takes the ledger lock; the job's update commits then.
        let reached!: () => void;
        const atGate = new Promise<void>((res) => (reached = res));
        let open!: () => void;
        const gate = new Promise<void>((res) => (open = res));
        const gated: EngineContext = {
          ...ctx,
          ldb: {
            ...ctx.ldb,
            write: (fn) =>
              ctx.ldb.write((tx) =>
                fn(
                  gateLedgerLock(tx, async () => {
                    reached();
                    await gate;
                  }),
                ),
              ),
          },
        };
        const pending = applyBatch(gated, [r]);
        await atGate;
        await applyBatch(ctx, [v2.job]);
        open();
        await pending;
        assert.equal(await status(ctx, r.uri), "settled", (await row(ctx, r.uri))?.findings ?? "");
        await assertConsistent(ctx);
      });
    }
  });
}
