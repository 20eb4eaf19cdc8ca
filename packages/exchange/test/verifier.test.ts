// Bulk verification: checks done ahead in worker threads (with trusted CIDs and ingestion-time
// schema results) must reach exactly the verdicts of inline verification, forged signatures included.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { recordCid, toJsonRecord, verifyReceipt, type ReceiptBundle } from "@cocore/protocol";
import { __generate } from "../../../bench/settle.ts";
import { BatchPipeline, buildPolicyRecord, CachingVerifier, CheckPool, DEFAULT_POLICY, openLedgerDb, policyFromRecord, type IngestOp } from "../src/index.ts";

const EXCHANGE = "did:plc:benchexchange00000000000";
const T0 = Date.parse("2026-03-01T00:00:00.000Z");
const policyValue = buildPolicyRecord(EXCHANGE, DEFAULT_POLICY, new Date(T0 - 86_400_000).toISOString());
const policy = { uri: `at://${EXCHANGE}/dev.cocore.compute.exchangePolicy/3aaaaaaaaaaaa`, cid: recordCid(policyValue)!, value: policyValue, ledger: policyFromRecord(policyValue) };

/** The bench's records, with every fifth receipt re-signed content changed (a forged receipt). */
function world(): { ops: IngestOp[]; forged: Set<string> } {
  const { ops } = __generate(150);
  const forged = new Set<string>();
  let n = 0;
  const out = ops.map((op) => {
    if (!op.uri.includes("/dev.cocore.compute.receipt/") || n++ % 5 !== 0) return op;
    const record = { ...op.record!, tokens: { in: 1, out: 1 }, price: { amount: 2, currency: "TOK" } };
    forged.add(op.uri);
    return { ...op, cid: recordCid(record)!, record };
  });
  return { ops: out, forged };
}

const pool = new CheckPool(2);
after(() => pool.close());

test("pooled checks and inline verification give the same statuses; forged receipts are rejected", async () => {
  const { ops, forged } = world();
  const results: Map<string, string>[] = [];
  const stored: Map<string, string>[] = [];
  for (const p of [undefined, pool]) {
    const ldb = await openLedgerDb("sqlite::memory:");
    try {
      const ctx = { ldb, did: EXCHANGE, policy, verifier: new CachingVerifier(50_000, p), now: () => Date.now() };
      const pipeline = new BatchPipeline(ctx);
      // Batches large enough for the pool, split so that receipts and their jobs straddle batches.
      await Promise.all([pipeline.submit(ops.slice(0, 101)), pipeline.submit(ops.slice(101, 300)), pipeline.submit(ops.slice(300))]);
      const rows = await ldb.db.selectFrom("receipts").select(["uri", "status", "reason"]).execute();
      results.push(new Map(rows.map((r) => [r.uri, `${r.status}:${r.reason ?? ""}`])));
      // Pooled, the workers make the records' JSON form: it must be the one made inline.
      const recs = await ldb.db.selectFrom("records").select(["uri", "value"]).execute();
      stored.push(new Map(recs.map((r) => [r.uri, r.value])));
    } finally {
      await ldb.close();
    }
  }
  const [inline, pooled] = results as [Map<string, string>, Map<string, string>];
  assert.equal(inline.size, 150);
  assert.deepEqual([...pooled].sort(), [...inline].sort());
  // The records, and the policy the ledger started with.
  assert.equal(stored[0]!.size, ops.length + 1);
  assert.deepEqual([...stored[1]!].sort(), [...stored[0]!].sort());
  for (const [uri, s] of pooled) {
    if (forged.has(uri)) assert.match(s, /^rejected:.*bad-signature/, uri);
    else assert.equal(s, "settled:", uri);
  }
});

test("the pool's workers answer schema and signature checks themselves", async () => {
  const { ops, forged } = world();
  const keyOf = new Map(ops.filter((o) => o.uri.includes("/dev.cocore.compute.attestation/")).map((o) => [o.uri, o.record!.publicKey as string]));
  const receipts = ops.filter((o) => o.uri.includes("/dev.cocore.compute.receipt/")).slice(0, 12);
  const items = receipts.map((o) => ({
    c: "dev.cocore.compute.receipt",
    j: JSON.stringify(toJsonRecord(o.record!)),
    f: "enclaveSignature" as const,
    k: keyOf.get((o.record!.attestation as { uri: string }).uri)!,
  }));
  items.push({ c: "dev.cocore.compute.receipt", j: JSON.stringify({ $type: "dev.cocore.compute.receipt" }), f: "enclaveSignature", k: items[0]!.k });
  const out = await pool.run(items);
  receipts.forEach((o, i) => assert.deepEqual(out[i], { s: null, v: !forged.has(o.uri) }, o.uri));
  assert.equal(typeof out[12]!.s, "string", "schema problem reported");
  assert.equal(out[12]!.v, false);
});

test("verifyReceipt with trusted facts reports what the full check reports", () => {
  const { ops, forged } = world();
  const byUri = new Map(ops.map((o) => [o.uri, o]));
  for (const op of ops.filter((o) => o.uri.includes("/dev.cocore.compute.receipt/")).slice(0, 10)) {
    const ref = (k: string) => byUri.get((op.record![k] as { uri: string }).uri)!;
    const job = ref("job");
    const auth = byUri.get((job.record!.paymentAuthorization as { uri: string }).uri)!;
    const att = ref("attestation");
    const bundle: ReceiptBundle = {
      receipt: { uri: op.uri, cid: op.cid!, value: op.record! },
      job: { uri: job.uri, cid: job.cid!, value: job.record! },
      attestation: { uri: att.uri, cid: att.cid!, value: att.record! },
      paymentAuthorization: { uri: auth.uri, cid: auth.cid!, value: auth.record! },
      policy: { uri: policy.uri, cid: policy.cid, value: policy.value },
    };
    const full = verifyReceipt(bundle, { exchange: EXCHANGE });
    const trusted = verifyReceipt(bundle, { exchange: EXCHANGE, trusted: { cids: true, schema: { receipt: null, job: null, attestation: null, paymentAuthorization: null, policy: null } } });
    assert.deepEqual(trusted, full);
    assert.equal(full.ok, !forged.has(op.uri));
    // A recorded verdict is used as given: a stale "ok" for a forged receipt would wrongly pass,
    // so the hook is keyed by the receipt's (trusted) CID, field and key.
    const lied = verifyReceipt(bundle, { exchange: EXCHANGE, trusted: { cids: true, signature: () => false } });
    assert.ok(lied.findings.some((f) => f.code === "bad-signature"));
  }
});
