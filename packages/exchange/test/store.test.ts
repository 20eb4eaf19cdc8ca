// The ledger store on its own (no network), on SQLite and PostgreSQL: the same records in any
// order, with duplicates and replays, in batches of any size, give the same ledger.
import { nextTid } from "@cocore/atproto";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { generateSigningKey, recordCid, signRecord, type SigningKey } from "@cocore/protocol";
import { applyBatch, consistencyCheck, type IngestOp, type LedgerDb, createOp } from "../src/index.ts";
import { DAY, EXCHANGE_DID, freshEngines, iso, pgSkip, T0, testDid, type Backend } from "./support.ts";
import { receiptValue } from "../../../test-support/records.ts";
import { authorizedJobOps, signedAttestationOp } from "../../../test-support/ops.ts";

const EXCHANGE = EXCHANGE_DID;
const did = testDid;

interface World {
  ops: IngestOp[];
  receipts: { uri: string; expect: "settled" | "rejected" }[];
}

/** Two providers, three requesters, ordinary, self-loop, pro-bono and forged receipts. */
function world(): World {
  const providers = ["prov-a", "prov-b"].map((n) => ({ did: did(n), key: generateSigningKey() as SigningKey }));
  const requesters = ["req-a", "req-b", "req-c"].map(did);
  const ops: IngestOp[] = [];
  const receipts: World["receipts"] = [];
  const atts = providers.map((p) => signedAttestationOp(p.did, p.key, T0));
  ops.push(...atts);
  let n = 0;
  for (const req of requesters) {
    for (const [pi, p] of providers.entries()) {
      for (const kind of ["plain", "plain", "probono", "forged"] as const) {
        n++;
        const t = T0 + n * 60_000;
        const { auth, job, commitment } = authorizedJobOps(req, { exchange: EXCHANGE, ceiling: 50_000, at: t });
        const tokens = kind === "probono" ? { in: 0, out: 0 } : { in: 100 + n, out: 200 + n };
        const unsigned = receiptValue({
          job: { uri: job.uri, cid: job.cid! },
          requester: req,
          inputCommitment: commitment,
          tokens,
          startedAt: t + 1000,
          completedAt: t + 2000,
          attestation: { uri: atts[pi]!.uri, cid: atts[pi]!.cid! },
          proBono: kind === "probono",
        });
        let value = signRecord(unsigned, "enclaveSignature", p.key);
        if (kind === "forged") value = { ...value, tokens: { in: 1, out: 1 }, price: { amount: 2, currency: "TOK" } };
        const receipt = createOp(p.did, "dev.cocore.compute.receipt", value);
        ops.push(auth, job, receipt);
        receipts.push({ uri: receipt.uri, expect: kind === "forged" ? "rejected" : "settled" });
      }
    }
  }
  return { ops, receipts };
}

async function snapshot(ldb: LedgerDb) {
  const accounts = (await ldb.db.selectFrom("accounts").select(["did", "balance", "held"]).orderBy("did").execute())
    .map((a) => `${a.did}=${Number(a.balance)}/${Number(a.held)}`)
    .filter((s) => !s.endsWith("=0/0"));
  const receipts = (await ldb.db.selectFrom("receipts").select(["uri", "status", "charged"]).orderBy("uri").execute()).map((r) => `${r.uri}:${r.status}:${r.charged}`);
  const transfers = (await ldb.db.selectFrom("transfers").select(["key", "amount"]).orderBy("key").execute()).map((t) => `${t.key}=${Number(t.amount)}`);
  const outbox = (await ldb.db.selectFrom("outbox").select(["key", "rkey"]).orderBy("key").execute()).map((o) => o.key);
  return { accounts, receipts, transfers, outbox };
}

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`ledger store on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    // The exchange sees these records a day after they were made, its clock moving on with each
    // batch: every receipt arrives late and takes effect at the watermark (ledger/README.md).
    const fresh = freshEngines(backend, T0 + DAY);

    const w = world();
    let reference: Awaited<ReturnType<typeof snapshot>>;

    test("in order: settles and rejects as expected, balances exact, ledger consistent", async () => {
      const ctx = await fresh();
      await applyBatch(ctx, w.ops);
      const snap = await snapshot(ctx.ldb);
      for (const r of w.receipts) assert.ok(snap.receipts.some((x) => x.startsWith(`${r.uri}:${r.expect}:`)), `${r.uri} should be ${r.expect}`);
      const check = await consistencyCheck(ctx.ldb);
      assert.equal(check.ok, true, check.problems.join("; "));
      assert.equal(check.totalMinted, 5 * 1_000_000);
      reference = snap;
    });

    test("any order, duplicates, replays and batch sizes give the same ledger", async () => {
      const runs = backend === "postgres" ? 3 : 6;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.nat(), { minLength: w.ops.length, maxLength: w.ops.length }),
          fc.array(fc.nat({ max: w.ops.length - 1 }), { maxLength: 20 }),
          fc.integer({ min: 1, max: 40 }),
          async (order, dupes, batchSize) => {
            const ctx = await fresh();
            const shuffled = w.ops.map((op, i) => ({ op, k: order[i]! })).sort((a, b) => a.k - b.k).map((x) => x.op);
            for (const d of dupes) shuffled.splice(d, 0, w.ops[d]!);
            for (let i = 0; i < shuffled.length; i += batchSize) await applyBatch(ctx, shuffled.slice(i, i + batchSize));
            await applyBatch(ctx, w.ops); // a full replay
            const snap = await snapshot(ctx.ldb);
            assert.deepEqual(snap.accounts, reference.accounts);
            assert.deepEqual(snap.receipts, reference.receipts);
            assert.deepEqual(snap.transfers.map((t) => t.replace(/:\d{4}-.*Z=/, "=")), reference.transfers.map((t) => t.replace(/:\d{4}-.*Z=/, "=")));
            assert.deepEqual(snap.outbox.length, reference.outbox.length);
            assert.equal((await consistencyCheck(ctx.ldb)).ok, true);
          },
        ),
        { numRuns: runs, endOnFailure: true },
      );
    });

    test("a second receipt for a settled job and a reused authorization nonce are refused", async () => {
      const ctx = await fresh();
      await applyBatch(ctx, w.ops);
      const receiptOp = w.ops.find((o) => o.uri === w.receipts[0]!.uri)!;
      const copy = { ...receiptOp.record!, startedAt: iso(T0 + 5) };
      const second = { action: "create" as const, uri: receiptOp.uri.replace(/[^/]+$/, nextTid()), cid: recordCid(copy)!, record: copy };
      await applyBatch(ctx, [second]);
      const row = await ctx.ldb.db.selectFrom("receipts").selectAll().where("uri", "=", second.uri).executeTakeFirstOrThrow();
      assert.equal(row.status, "rejected");
      assert.match(row.findings ?? "", /nonce-reused|bad-signature/);
      assert.equal((await consistencyCheck(ctx.ldb)).ok, true);
    });

    test("reusing a transfer key with another payload is an idempotency conflict", async () => {
      const ctx = await fresh();
      await applyBatch(ctx, w.ops);
      const t = await ctx.ldb.db.selectFrom("transfers").selectAll().limit(1).executeTakeFirstOrThrow();
      const { SqlStore } = await import("../src/store/sql-store.ts");
      await assert.rejects(
        ctx.ldb.write(async (tx) => {
          const store = new SqlStore(tx, ctx.ldb);
          store.movement({ key: t.key, kind: "grant", from: null, to: t.to_did, amount: Number(t.amount) + 1, at: t.at }, null);
          await store.flush();
        }),
        (err: Error & { code?: string }) => err.code === "idempotency-conflict",
      );
    });
  });
}
