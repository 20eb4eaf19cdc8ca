// Ledger edge cases found in review, on SQLite and PostgreSQL without a network: a settled
// receipt is never re-judged by a racing transaction, firehose commits are never dropped,
// releasing a hold retries parked receipts, holds are the job record's ceiling and protect other
// jobs, settlement records keep one rkey across rebuilds, and patronage waits for ingestion.
import { nextTid } from "@cocore/atproto";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import {
  base64Encode,
  generateEncryptionKeyPair,
  generateSigningKey,
  inputCommitment,
  NSID,
  outputCommitment,
  recordCid,
  signRecord,
  type SigningKey,
} from "@cocore/protocol";
import { applyBatch, buildPolicyRecord, CachingVerifier, consistencyCheck, DEFAULT_POLICY, deterministicTid, openLedgerDb, policyFromRecord, settlementKey, type EngineContext, type IngestOp, createOp } from "../src/index.ts";
import { admitJob, releaseHold, tick, touchMember } from "../src/scheduler.ts";
import { applyCommitDurably, listDeadLetters, replayDeadLetters } from "../src/ingest.ts";
import { UnitOfWork } from "../src/uow.ts";
import { freshContexts, iso, pgSkip, T0, type Backend } from "./support.ts";

const EXCHANGE = "did:plc:exchange0000000000000000";
const DAY = 86_400_000;
const did = (n: string) => `did:plc:${n.padEnd(24, "0")}`;
const policyValue = buildPolicyRecord(EXCHANGE, DEFAULT_POLICY, iso(T0 - DAY));
const policy = { uri: `at://${EXCHANGE}/${NSID.exchangePolicy}/3aaaaaaaaaaaa`, cid: recordCid(policyValue)!, value: policyValue, ledger: policyFromRecord(policyValue) };

type Provider = { did: string; key: SigningKey; att: IngestOp };
function provider(name: string, asDid = did(name)): Provider {
  const key = generateSigningKey();
  const att = createOp(
    asDid,
    NSID.attestation,
    signRecord(
      {
        $type: NSID.attestation,
        publicKey: key.publicKey,
        encryptionPubKey: base64Encode(generateEncryptionKeyPair().publicKey),
        chipName: "x",
        hardwareModel: "x",
        serialNumberHash: "a".repeat(64),
        osVersion: "x",
        binaryHash: "b".repeat(64),
        sipEnabled: false,
        secureBootEnabled: false,
        secureEnclaveAvailable: false,
        authenticatedRootEnabled: false,
        attestedAt: iso(T0 - DAY),
        expiresAt: iso(T0 + 30 * DAY),
      },
      "selfSignature",
      key,
    ),
  );
  return { did: asDid, key, att };
}
type Job = { auth: IngestOp; job: IngestOp; commitment: string };
function job(req: string, ceiling: number, t: number): Job {
  const auth = createOp(req, NSID.paymentAuthorization, { exchange: EXCHANGE, ceiling: { amount: ceiling, currency: "TOK" }, scope: "singleJob", nonce: randomBytes(16).toString("hex"), expiresAt: iso(t + DAY), createdAt: iso(t) });
  const commitment = inputCommitment(randomBytes(16));
  const j = createOp(req, NSID.job, {
    model: "m",
    inputCommitment: commitment,
    maxTokensOut: 2_000_000,
    priceCeiling: { amount: ceiling, currency: "TOK" },
    acceptedTrustLevel: "self-attested",
    acceptedExchanges: [EXCHANGE],
    paymentAuthorization: { uri: auth.uri, cid: auth.cid },
    nonce: randomBytes(16).toString("hex"),
    expiresAt: iso(t + 3_600_000),
    createdAt: iso(t),
  });
  return { auth, job: j, commitment };
}
function receipt(p: Provider, req: string, j: Job, tokens: { in: number; out: number }, completedAt: number, rkey = nextTid()): IngestOp {
  const v = signRecord(
    {
      $type: NSID.receipt,
      job: { uri: j.job.uri, cid: j.job.cid },
      requester: req,
      model: "m",
      inputCommitment: j.commitment,
      outputCommitment: outputCommitment("y"),
      tokens,
      startedAt: iso(completedAt - 1000),
      completedAt: iso(completedAt),
      price: { amount: tokens.in + tokens.out, currency: "TOK" },
      attestation: { uri: p.att.uri, cid: p.att.cid },
    },
    "enclaveSignature",
    p.key,
  );
  return createOp(p.did, NSID.receipt, v, rkey);
}
const ref = (op: IngestOp) => ({ uri: op.uri, cid: op.cid! });

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`review fixes on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    const fresh = freshContexts(backend, (ldb) => ({ ldb, did: EXCHANGE, policy, verifier: new CachingVerifier(), now: () => T0 }));
    const status = async (ctx: EngineContext, uri: string) => (await ctx.ldb.db.selectFrom("receipts").select("status").where("uri", "=", uri).executeTakeFirst())?.status;
    const account = async (ctx: EngineContext, d: string) => {
      const r = await ctx.ldb.db.selectFrom("accounts").selectAll().where("did", "=", d).executeTakeFirstOrThrow();
      return { balance: Number(r.balance), held: Number(r.held) };
    };

    test("a settled receipt row is never overwritten by a stale judgement", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j = job(A, 10_000, T0);
      const r = receipt(P, A, j, { in: 10, out: 20 }, T0 + 60_000);
      await applyBatch(ctx, [P.att, j.auth, j.job, r]);
      assert.equal(await status(ctx, r.uri), "settled");
      await ctx.ldb.write(async (tx) => {
        const u = new UnitOfWork(tx, ctx.ldb, policy.ledger);
        u.setReceipt({ uri: r.uri, cid: r.cid!, job_uri: j.job.uri, requester: A, provider: P.did, status: "parked", reason: "insufficient-balance", waiting_for: null, findings: null, completed_at: null, kind: null, settled_at: null, charged: null, payout: null, fee: null });
        await u.flush();
      });
      assert.equal(await status(ctx, r.uri), "settled");
    });

    // SQLite serializes whole write transactions, so this race can only happen on PostgreSQL.
    if (backend === "postgres") test("PostgreSQL: a receipt update racing with the retry that settles it leaves it settled", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j = job(A, 1_100_000, T0);
      const r1 = receipt(P, A, j, { in: 50_000, out: 1_000_000 }, T0 + 60_000, "3rcptrcptrcpt");
      await applyBatch(ctx, [P.att, j.auth, j.job, r1]);
      assert.equal(await status(ctx, r1.uri), "parked");
      const r2 = { ...receipt(P, A, j, { in: 50_000, out: 1_000_000 }, T0 + 61_000, "3rcptrcptrcpt"), action: "update" as const };
      // T2 (the update) is stopped at its first account lock; T1 (a refresh) settles the receipt.
      let reached!: () => void;
      const atGate = new Promise<void>((res) => (reached = res));
      let open!: () => void;
      const gate = new Promise<void>((res) => (open = res));
      let first = true;
      const gated: EngineContext = {
        ...ctx,
        ldb: {
          ...ctx.ldb,
          lockAccounts: async (tx, dids) => {
            if (first) {
              first = false;
              reached();
              await gate;
            }
            return ctx.ldb.lockAccounts(tx, dids);
          },
        },
      };
      const t2 = applyBatch(gated, [r2]);
      await atGate;
      await touchMember(ctx, A, T0 + 8 * DAY);
      assert.equal(await status(ctx, r1.uri), "settled");
      open();
      await t2;
      assert.equal(await status(ctx, r1.uri), "settled");
      // Anything crediting A later retries A's parked receipts; none may trip over R's transfers.
      const asProvider = provider("req-a", A);
      const B = did("req-b");
      const jb = job(B, 990_000, T0 + 9 * DAY);
      const rb = receipt(asProvider, B, jb, { in: 490_000, out: 500_000 }, T0 + 9 * DAY + 60_000);
      await applyBatch(ctx, [asProvider.att, jb.auth, jb.job, rb]);
      assert.equal(await status(ctx, rb.uri), "settled");
      const check = await consistencyCheck(ctx.ldb);
      assert.equal(check.ok, true, check.problems.join("; "));
    });

    test("a firehose commit is retried until applied, or dead-lettered with the cursor, never dropped", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j = job(A, 10_000, T0);
      const r = receipt(P, A, j, { in: 10, out: 20 }, T0 + 60_000);
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
      const after = await consistencyCheck(ctx.ldb);
      assert.equal(after.ok, true, after.problems.join("; "));
      // Closing mid-retry leaves the cursor before the commit.
      let calls = 0;
      const stopping = () => calls > 2;
      const outcome = await applyCommitDurably(ctx, [], { source: "src", seq: 10, did: A }, {
        ...opts,
        stopping,
        apply: () => {
          calls++;
          return Promise.reject(transient());
        },
      });
      assert.equal(outcome, "stopped");
      assert.equal(Number(await cursor()), 9);
    });

    test("releasing or expiring a hold retries the requester's parked receipts", async () => {
      for (const how of ["release", "expire"] as const) {
        const ctx = await fresh();
        const A = did("req-a");
        const P = provider("prov-p");
        const j1 = job(A, 900_000, T0);
        const j2 = job(A, 300_000, T0);
        await applyBatch(ctx, [P.att, j1.auth, j1.job, j2.auth, j2.job]);
        assert.equal((await admitJob(ctx, { job: ref(j1.job), requester: A }, T0)).admitted, true);
        const r2 = receipt(P, A, j2, { in: 100_000, out: 100_000 }, T0 + 60_000);
        await applyBatch(ctx, [r2]);
        assert.equal(await status(ctx, r2.uri), "parked", "J1's hold leaves 100,000 available");
        if (how === "release") assert.equal((await releaseHold(ctx, { job: ref(j1.job), reason: "provider_lost" })).released, true);
        else assert.equal((await tick(ctx, T0 + 3_600_000)).holdsReleased, 1);
        assert.equal(await status(ctx, r2.uri), "settled", how);
        assert.deepEqual(await account(ctx, A), { balance: 800_000, held: 0 });
        assert.equal((await consistencyCheck(ctx.ldb)).ok, true);
      }
    });

    test("admission holds the job record's ceiling, needs the job, and refuses a settled job", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j1 = job(A, 800_000, T0);
      const j2 = job(A, 800_000, T0);
      await applyBatch(ctx, [P.att, j1.auth, j1.job, j2.auth, j2.job]);
      const a1 = await admitJob(ctx, { job: ref(j1.job), requester: A, priceCeiling: { amount: 1, currency: "TOK" }, expiresAt: iso(T0 + 3_600_000) }, T0);
      assert.equal(a1.admitted, true);
      assert.equal((await account(ctx, A)).held, 800_000, "the record's ceiling, not the caller's");
      const a2 = await admitJob(ctx, { job: ref(j2.job), requester: A, priceCeiling: { amount: 800_000, currency: "TOK" }, expiresAt: iso(T0 + 3_600_000) }, T0);
      assert.deepEqual([a2.admitted, a2.code], [false, "below_floor"]);
      // A job the exchange has not indexed: read from the requester's PDS and checked by CID.
      const j3 = job(A, 50_000, T0);
      const notIndexed = await admitJob(ctx, { job: ref(j3.job), requester: A }, T0);
      assert.deepEqual([notIndexed.admitted, notIndexed.code], [false, "job_not_found"]);
      const fetching: EngineContext = { ...ctx, fetchRecord: async (uri) => (uri === j3.job.uri ? { cid: j3.job.cid!, value: j3.job.record! } : null) };
      assert.equal((await admitJob(fetching, { job: { uri: j3.job.uri, cid: j1.job.cid! }, requester: A }, T0)).code, "job_mismatch");
      assert.equal((await admitJob(fetching, { job: ref(j3.job), requester: A }, T0)).admitted, true);
      assert.equal((await account(ctx, A)).held, 850_000);
      // J1 settles; asking again for J1 (a new hold key after release) is refused.
      const r1 = receipt(P, A, j1, { in: 400_000, out: 400_000 }, T0 + 60_000);
      await applyBatch(ctx, [r1]);
      assert.equal(await status(ctx, r1.uri), "settled");
      await ctx.ldb.db.deleteFrom("holds").where("job_uri", "=", j1.job.uri).execute();
      const again = await admitJob(ctx, { job: ref(j1.job), requester: A }, T0);
      assert.deepEqual([again.admitted, again.code], [false, "job_already_settled"]);
      assert.equal((await consistencyCheck(ctx.ldb)).ok, true);
    });

    test("a receipt settling against its hold cannot use another job's hold", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j1 = job(A, 900_000, T0);
      const j2 = job(A, 800_000, T0);
      await applyBatch(ctx, [P.att, j1.auth, j1.job, j2.auth, j2.job]);
      await touchMember(ctx, A, T0);
      // Holds as an older admission (which trusted the caller's ceiling) could leave them.
      await ctx.ldb.write(async (tx) => {
        const u = new UnitOfWork(tx, ctx.ldb, policy.ledger);
        await u.loadAccounts([A]);
        u.holdInserts.push({ key: `hold:${j1.job.uri}`, job_uri: j1.job.uri, requester: A, amount: 1, expires_at: iso(T0 + 3_600_000) });
        u.holdInserts.push({ key: `hold:${j2.job.uri}`, job_uri: j2.job.uri, requester: A, amount: 800_000, expires_at: iso(T0 + 3_600_000) });
        u.account(A).held += 800_001;
        u.markDirty(A);
        await u.flush();
      });
      const r1 = receipt(P, A, j1, { in: 400_000, out: 400_000 }, T0 + 60_000);
      await applyBatch(ctx, [r1]);
      assert.equal(await status(ctx, r1.uri), "parked", "800,000 would eat J2's hold");
      assert.deepEqual(await account(ctx, A), { balance: 1_000_000, held: 800_001 });
    });

    test("a settlement's rkey comes from completedAt, and a rebuild reuses our published settlement", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j = job(A, 1_100_000, T0);
      const completed = T0 + 60_000;
      const r = receipt(P, A, j, { in: 50_000, out: 1_000_000 }, completed);
      const world = [P.att, j.auth, j.job, r];
      await applyBatch(ctx, world);
      assert.equal(await status(ctx, r.uri), "parked");
      await touchMember(ctx, A, T0 + 8 * DAY); // a refresh: settles at the refresh time
      const row = await ctx.ldb.db.selectFrom("receipts").select(["status", "settled_at"]).where("uri", "=", r.uri).executeTakeFirstOrThrow();
      assert.deepEqual([row.status, row.settled_at], ["settled", iso(T0 + 8 * DAY)]);
      const ob = await ctx.ldb.db.selectFrom("outbox").select(["rkey", "record"]).where("key", "=", settlementKey(r.uri)).executeTakeFirstOrThrow();
      assert.equal(ob.rkey, deterministicTid(settlementKey(r.uri), completed));

      // Rebuild: our repo (backfilled first) holds the settlement under another rkey (as an older
      // version derived it); the replay settles the receipt at another time and must reuse it.
      const rebuilt = await fresh();
      const published = createOp(EXCHANGE, NSID.settlement, JSON.parse(ob.record) as Record<string, unknown>, "3zzzzzzzzzzzz");
      await applyBatch(rebuilt, [published]);
      await applyBatch(rebuilt, world);
      await touchMember(rebuilt, A, T0 + 9 * DAY);
      assert.equal(await status(rebuilt, r.uri), "settled");
      const rows = await rebuilt.ldb.db.selectFrom("outbox").selectAll().where("collection", "=", NSID.settlement).execute();
      assert.deepEqual(
        rows.map((o) => [o.key, o.rkey, o.published_uri]),
        [[settlementKey(r.uri), "3zzzzzzzzzzzz", published.uri]],
        "one settlement record per receipt, already published",
      );
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
    const storedJob = async (ctx: EngineContext, uri: string) => (await ctx.ldb.db.selectFrom("records").select(["cid", "rev"]).where("uri", "=", uri).executeTakeFirstOrThrow());

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
      const r = receipt(P, A, v2, { in: 100, out: 200 }, T0 + 60_000);
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
      const r = receipt(P, A, v2, { in: 100, out: 200 }, T0 + 60_000);
      await applyBatch(ctx, [P.att, r]);
      assert.equal(await status(ctx, r.uri), "rejected");
      await applyBatch(ctx, [v2.job]);
      assert.equal(await status(ctx, r.uri), "settled");
      // A receipt naming a version that never comes back stays rejected.
      const stale = receipt(P, A, v1, { in: 1, out: 1 }, T0 + 120_000);
      await applyBatch(ctx, [stale]);
      assert.equal(await status(ctx, stale.uri), "rejected");
      await applyBatch(ctx, [{ ...v2.job, cid: recordCid({ ...v2.job.record!, maxTokensOut: 4000 })!, record: { ...v2.job.record!, maxTokensOut: 4000 } }]);
      assert.equal(await status(ctx, stale.uri), "rejected");
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
      const r = receipt({ ...P, att: attV2 }, A, j, { in: 100, out: 200 }, T0 + 60_000);
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
      const k2 = { ...k, job: jobOnV2 };
      await applyBatch(ctx, [k.auth, jobOnV2]);
      const r2 = receipt({ ...P, att: attV2 }, A, k2, { in: 10, out: 20 }, T0 + 120_000);
      await applyBatch(ctx, [r2]);
      assert.equal(await status(ctx, r2.uri), "rejected");
      await applyBatch(ctx, [authV2]);
      assert.equal(await status(ctx, r2.uri), "settled");
      assert.ok((await consistencyCheck(ctx.ldb)).ok);
    });

    test("patronage is distributed only once ingestion has passed the period's end and a grace margin", async () => {
      const ctx = await fresh();
      const A = did("req-a");
      const P = provider("prov-p");
      const j = job(A, 10_000, T0);
      await applyBatch(ctx, [P.att, j.auth, j.job, receipt(P, A, j, { in: 400, out: 600 }, T0 + 60_000)]);
      const end = policy.ledger.createdAt + policy.ledger.patronage!.cadenceDays * DAY;
      assert.equal((await tick(ctx, end + 10 * 60_000, { ingestedThroughMs: end + 60_000 })).periodsDistributed, 0, "ingestion behind end + grace");
      assert.equal((await tick(ctx, end + 60_000)).periodsDistributed, 0, "within the grace margin");
      assert.equal((await tick(ctx, end + 10 * 60_000, { ingestedThroughMs: end + 5 * 60_000 })).periodsDistributed, 1);
    });
  });
}
