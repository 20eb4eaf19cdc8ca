// The foundation's end-to-end check: a job and a signed receipt go through a real PDS, come back
// over the firehose and through a verified repo export, and verify from those bytes alone.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  base64Encode,
  generateEncryptionKeyPair,
  generateSigningKey,
  inputCommitment,
  outputCommitment,
  seal,
  signRecord,
  verifyReceipt,
  type ReceiptBundle,
  type RecordRef,
} from "@cocore/protocol";
import {
  createRecord,
  exportRepo,
  startLocalNetwork,
  subscribeFirehose,
  type Account,
  type FirehoseEvent,
  type FirehoseSubscription,
  type LocalNetwork,
} from "@cocore/atproto";
import { attestationValue } from "../../../test-support/records.ts";

const iso = (ms: number) => new Date(ms).toISOString();

describe("job + receipt through a real PDS", () => {
  let net: LocalNetwork;
  let requester: Account;
  let provider: Account;
  let sub: FirehoseSubscription;
  const seen = new Map<string, { cid: string; value: Record<string, unknown> }>();
  const written: Record<string, { uri: string; cid: string }> = {};

  before(async () => {
    net = await startLocalNetwork();
    requester = await net.createAccount("req-rt");
    provider = await net.createAccount("prov-rt");
    sub = subscribeFirehose({
      service: net.pdsUrl,
      filterCollections: ["dev.cocore.*"],
      cursor: 0,
      idResolver: net.idResolver,
      onEvent: (evt: FirehoseEvent) => {
        for (const op of evt.ops) {
          if (op.action !== "delete" && op.cid && op.record) seen.set(op.uri, { cid: op.cid, value: op.record as Record<string, unknown> });
        }
      },
    });

    const now = Date.now();
    const key = generateSigningKey();
    const enc = generateEncryptionKeyPair();
    const sealed = seal(new TextEncoder().encode("tell me a fortune"), enc.publicKey).sealed;
    const exchange = "did:plc:exchange00000000000000c";
    written.auth = await createRecord(requester.agent, "dev.cocore.compute.paymentAuthorization", {
      $type: "dev.cocore.compute.paymentAuthorization",
      exchange,
      ceiling: { amount: 5000, currency: "TOK" },
      scope: "singleJob",
      nonce: "0123456789abcdef0123456789abcdef",
      expiresAt: iso(now + 3_600_000),
      createdAt: iso(now),
    });
    written.job = await createRecord(requester.agent, "dev.cocore.compute.job", {
      $type: "dev.cocore.compute.job",
      model: "fortunes-char",
      inputCommitment: inputCommitment(sealed),
      maxTokensOut: 64,
      priceCeiling: { amount: 5000, currency: "TOK" },
      acceptedTrustLevel: "self-attested",
      acceptedExchanges: [exchange],
      paymentAuthorization: written.auth,
      nonce: "fedcba9876543210fedcba9876543210",
      expiresAt: iso(now + 600_000),
      createdAt: iso(now),
    });
    written.attestation = await createRecord(
      provider.agent,
      "dev.cocore.compute.attestation",
      signRecord(
        attestationValue({ publicKey: key.publicKey, encryptionPubKey: base64Encode(enc.publicKey), attestedAt: now - 60_000, expiresAt: now + 86_400_000 }),
        "selfSignature",
        key,
      ),
    );
    written.receipt = await createRecord(
      provider.agent,
      "dev.cocore.compute.receipt",
      signRecord(
        {
          $type: "dev.cocore.compute.receipt",
          job: written.job,
          requester: requester.did,
          model: "fortunes-char",
          inputCommitment: inputCommitment(sealed),
          outputCommitment: outputCommitment("A fortune for you."),
          tokens: { in: 40, out: 64 },
          startedAt: iso(now + 1000),
          completedAt: iso(now + 3000),
          price: { amount: 104, currency: "TOK" },
          attestation: written.attestation,
        },
        "enclaveSignature",
        key,
      ),
    );
  });

  after(async () => {
    await sub?.close();
    await net?.close();
  });

  function bundleFrom(lookup: (uri: string) => { cid: string; value: Record<string, unknown> } | undefined): ReceiptBundle {
    const get = (name: string): RecordRef => {
      const uri = written[name]!.uri;
      const hit = lookup(uri);
      assert.ok(hit, `${name} record ${uri} not found`);
      return { uri, cid: hit.cid, value: hit.value };
    };
    return { receipt: get("receipt"), job: get("job"), attestation: get("attestation"), paymentAuthorization: get("auth") };
  }

  it("verifies from the firehose's bytes", async () => {
    const deadline = Date.now() + 15_000;
    while (!written.receipt || !seen.has(written.receipt.uri)) {
      assert.ok(Date.now() < deadline, "receipt did not arrive on the firehose");
      await new Promise((r) => setTimeout(r, 50));
    }
    const bundle = bundleFrom((uri) => seen.get(uri));
    assert.equal(bundle.receipt.cid, written.receipt!.cid, "the firehose carries the cid the PDS returned");
    assert.deepEqual(verifyReceipt(bundle), { ok: true, findings: [] });
  });

  it("verifies from a verified repo export (getRepo + verifyRepoCar)", async () => {
    const [req, prov] = await Promise.all(
      [requester.did, provider.did].map((did) => exportRepo(net.pdsUrl, did, { idResolver: net.idResolver, collectionPrefix: "dev.cocore." })),
    );
    const byUri = new Map([...req!.records, ...prov!.records].map((r) => [r.uri, { cid: r.cid, value: r.value as Record<string, unknown> }]));
    const bundle = bundleFrom((uri) => byUri.get(uri));
    assert.deepEqual(verifyReceipt(bundle), { ok: true, findings: [] });
  });

  it("fails with bad-signature when the stored receipt is altered", () => {
    const bundle = bundleFrom((uri) => seen.get(uri));
    const tampered = structuredClone(bundle);
    (tampered.receipt.value as { tokens: { out: number } }).tokens.out = 63;
    const verdict = verifyReceipt(tampered);
    assert.equal(verdict.ok, false);
    assert.ok(verdict.findings.some((f) => f.code === "bad-signature"), JSON.stringify(verdict.findings));
  });
});
