import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { generateSigningKey } from "../src/keys.ts";
import { signRecord } from "../src/signature.ts";
import { recordCid } from "../src/cid.ts";
import { BundleError, FINDING_CODES, normalizeBundle, verifyReceipt, type ReceiptBundle, type VerifyOptions } from "../src/verify-receipt.ts";
import { base64Decode } from "../src/base64.ts";
import { brokerageKeyUri, countersign } from "../src/brokerage.ts";
import { buildBundle, EXCHANGE, PROVIDER, REQUESTER } from "./bundle-support.ts";

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));

const { bundle: valid, key, reseal } = buildBundle();
const otherKey = generateSigningKey();
const OTHER = "did:plc:someoneelse0000000000000";

type Rec = Record<string, unknown>;
const codes = (b: ReceiptBundle, options?: VerifyOptions) => [...new Set(verifyReceipt(b, options).findings.map((f) => f.code))].sort();

/** Edit a copy of the valid bundle, then re-sign and re-link so that only the edit is wrong. */
function broken(edit: (b: ReceiptBundle) => void, opts?: Parameters<typeof reseal>[1]): ReceiptBundle {
  const b = structuredClone(valid);
  edit(b);
  return reseal(b, opts);
}

const r = (b: ReceiptBundle) => b.receipt.value;

// A matchmaker that countersigned the dispatch, and its published key record.
const MATCHMAKER = "did:plc:matchmaker00000000000000";
const mmKey = generateSigningKey();
const keyRecord = (keys: Rec[]) => ({ uri: brokerageKeyUri(MATCHMAKER), value: { $type: "dev.cocore.compute.brokerageKey", keys, createdAt: "2026-01-01T00:00:00.000Z" } });
const published = keyRecord([{ publicKey: mmKey.publicKey, sigScheme: "p256", validFrom: "2026-01-01T00:00:00.000Z" }]);
/** The valid bundle, countersigned (outside the provider's signature) and with `keys` as the authority's record. */
function countersigned(o: { signer?: typeof mmKey; machineId?: string; key?: ReturnType<typeof keyRecord> | null } = {}): ReceiptBundle {
  const b = structuredClone(valid);
  const job = r(b).job as { uri: string; cid: string };
  const cs = countersign(o.signer ?? mmKey, { authority: MATCHMAKER, machineId: o.machineId ?? `at://${b.receipt.uri!.split("/")[2]}/dev.cocore.compute.provider/m1`, nonce: "n1" }, job, String(r(b).inputCommitment));
  r(b).brokerageCountersignature = { ...cs, sig: base64Decode(cs.sig) };
  b.receipt.cid = recordCid(r(b));
  if (o.key !== null) b.brokerageKey = o.key ?? published;
  return b;
}
const j = (b: ReceiptBundle) => b.job.value;
const a = (b: ReceiptBundle) => b.attestation.value;
const pa = (b: ReceiptBundle) => b.paymentAuthorization!.value;

test("independent vector: valid bundle verifies at its completedAt", () => {
  const result = verifyReceipt(normalizeBundle(fixture("receipt-bundle-valid.json")));
  assert.deepEqual(result, { ok: true, findings: [] });
});

test("independent vector: bad-signature bundle fails with exactly bad-signature", () => {
  const result = verifyReceipt(normalizeBundle(fixture("receipt-bundle-bad-signature.json")));
  assert.equal(result.ok, false);
  assert.deepEqual([...new Set(result.findings.map((f) => f.code))], ["bad-signature"]);
});

test("normalizeBundle accepts bare values and rejects non-bundles", () => {
  const doc = fixture("receipt-bundle-valid.json") as Record<string, { value: Rec }>;
  const bare = Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, v.value]));
  const b = normalizeBundle(bare);
  assert.ok(b.receipt.value.enclaveSignature instanceof Uint8Array);
  assert.equal(b.receipt.uri, undefined);
  // Bare records carry no uri: the requester can still be read from the receipt's job strong-ref.
  assert.deepEqual(verifyReceipt(b), { ok: true, findings: [] });
  assert.throws(() => normalizeBundle([]), BundleError);
  assert.throws(() => normalizeBundle({ receipt: {}, attestation: {} }), /no job/);
  assert.throws(() => normalizeBundle({ ...doc, job: "x" }), BundleError);
});

test("our own freshly built bundle verifies", () => {
  assert.deepEqual(verifyReceipt(valid), { ok: true, findings: [] });
  const { $type: _t, ...untyped } = r(valid);
  assert.deepEqual(verifyReceipt({ ...valid, receipt: { uri: valid.receipt.uri, value: untyped } }).findings, [], "receipt $type may be absent");
});

test("changing any single signed receipt field gives bad-signature", () => {
  const fields = ["requester", "model", "inputCommitment", "outputCommitment", "startedAt", "completedAt", "tokens.in", "tokens.out", "price.amount", "price.currency", "job.uri", "job.cid", "attestation.cid", "attestation.uri"];
  fc.assert(
    fc.property(fc.constantFrom(...fields), fc.integer({ min: 1, max: 9 }), (path, delta) => {
      const b = structuredClone(valid);
      const [head, tail] = path.split(".") as [string, string | undefined];
      const holder = (tail ? r(b)[head] : r(b)) as Rec;
      const field = tail ?? head;
      const old = holder[field];
      holder[field] = typeof old === "number" ? old + delta : `${String(old).slice(0, -1)}${String.fromCharCode(String(old).charCodeAt(String(old).length - 1) ^ delta)}`;
      assert.notEqual(holder[field], old);
      assert.ok(codes(b).includes("bad-signature"), `changing ${path}`);
    }),
  );
  // Adding a field is a change too; the matchmaker's countersignature is not.
  const added = structuredClone(valid);
  r(added).tier = "best-effort";
  assert.ok(codes(added).includes("bad-signature"));
  const countersigned = structuredClone(valid);
  r(countersigned).brokerageCountersignature = { authority: OTHER, machineId: "m1", nonce: "n", sig: Uint8Array.of(1, 2) };
  countersigned.receipt.cid = recordCid(r(countersigned));
  assert.deepEqual(codes(countersigned), []);
});

/** The job strong-refs some other authorization (cid), with the job and receipt otherwise consistent. */
function pointJobAt(cid: string): ReceiptBundle {
  const b = structuredClone(valid);
  (j(b).paymentAuthorization as Rec).cid = cid;
  b.job.cid = recordCid(j(b));
  (r(b).job as Rec).cid = b.job.cid;
  b.receipt.value = signRecord(r(b), "enclaveSignature", key);
  b.receipt.cid = recordCid(r(b));
  return b;
}

// One test per finding code: break one thing in a valid bundle and see that code (and only it).
const cases: [string, () => ReceiptBundle, string[], VerifyOptions?][] = [
  ["schema-invalid", () => broken((b) => (j(b).nonce = "abc")), ["schema-invalid"]],
  ["schema-invalid ($type)", () => broken((b) => (r(b).$type = "dev.cocore.compute.job")), ["schema-invalid"]],
  ["canonical-invalid", () => broken((b) => (r(b).params = { temperatureMilli: 0.5 }), { receiptKey: null }), ["canonical-invalid", "schema-invalid"]],
  ["bad-signature", () => broken(() => {}, { receiptKey: otherKey }), ["bad-signature"]],
  ["price-over-ceiling", () => broken((b) => ((j(b).priceCeiling as Rec).amount = 100)), ["price-over-ceiling"]],
  ["price-mismatch", () => broken((b) => ((r(b).price as Rec).amount = 105)), ["price-mismatch"]],
  ["currency-mismatch", () => broken((b) => ((r(b).price as Rec).currency = "USD")), ["currency-mismatch"]],
  ["expired", () => broken((b) => (j(b).expiresAt = "2026-11-20T12:00:01.000Z")), ["expired"]],
  ["commitment-mismatch", () => broken((b) => (r(b).inputCommitment = "0".repeat(64))), ["commitment-mismatch"]],
  ["requester-mismatch", () => broken((b) => (r(b).requester = OTHER)), ["requester-mismatch"]],
  ["job-mismatch", () => broken((b) => ((r(b).job as Rec).cid = valid.attestation.cid), { keepRefs: true }), ["job-mismatch"]],
  ["job-mismatch (uri)", () => broken((b) => ((r(b).job as Rec).uri = `at://${REQUESTER}/dev.cocore.compute.job/3aaaaaaaaaaaa`), { keepRefs: true }), ["job-mismatch"]],
  ["exchange-not-accepted", () => broken((b) => (j(b).acceptedExchanges = [OTHER])), ["exchange-not-accepted"]],
  ["provider-not-accepted", () => broken((b) => (j(b).acceptedProviders = [OTHER])), ["provider-not-accepted"]],
  ["authorization-invalid (missing)", () => broken((b) => delete b.paymentAuthorization, { keepRefs: true }), ["authorization-invalid"]],
  ["authorization-invalid (expired)", () => broken((b) => (pa(b).expiresAt = "2026-11-20T12:00:01.000Z")), ["authorization-invalid"]],
  ["authorization-invalid (exchange)", () => broken((b) => (pa(b).exchange = OTHER)), ["authorization-invalid"]],
  ["authorization-invalid (ceiling)", () => broken((b) => ((pa(b).ceiling as Rec).amount = 4999)), ["authorization-invalid"]],
  ["authorization-invalid (currency)", () => broken((b) => ((pa(b).ceiling as Rec).currency = "USD")), ["authorization-invalid"]],
  ["authorization-invalid (not the job's)", () => pointJobAt(valid.job.cid!), ["authorization-invalid"]],
  ["authorization-invalid (repo)", () => broken((b) => (b.paymentAuthorization!.uri = `at://${OTHER}/dev.cocore.compute.paymentAuthorization/3n36z2ubxqt2b`)), ["authorization-invalid"]],
  ["nonce-reused", () => valid, ["nonce-reused"], { usedNonces: new Set([pa(valid).nonce as string]) }],
  ["attestation-expired", () => broken((b) => (a(b).expiresAt = "2026-11-20T12:00:01.000Z")), ["attestation-expired"]],
  ["attestation-expired (not yet attested)", () => broken((b) => (a(b).attestedAt = "2026-11-20T12:00:03.000Z")), ["attestation-expired"]],
  ["attestation-expired (--at later)", () => valid, ["attestation-expired", "authorization-invalid"], { at: "2026-11-22T00:00:00.000Z" }],
  ["attestation-invalid (selfSignature)", () => broken(() => {}, { attestationKey: otherKey }), ["attestation-invalid"]],
  ["attestation-invalid (strong-ref)", () => broken((b) => ((r(b).attestation as Rec).cid = valid.job.cid), { keepRefs: true }), ["attestation-invalid"]],
  ["attestation-invalid (repo)", () => broken((b) => (b.attestation.uri = `at://${OTHER}/dev.cocore.compute.attestation/3n36z2uc5mf2b`)), ["attestation-invalid"]],
  ["attestation-invalid (key)", () => broken((b) => (a(b).publicKey = "AAAA"), { attestationKey: null }), ["attestation-invalid", "bad-signature"]],
  ["pro-bono-nonzero", () => broken((b) => (r(b).proBono = true)), ["pro-bono-nonzero"]],
  ["policy-invalid", () => broken((b) => (b.policy!.uri = `at://${OTHER}/dev.cocore.compute.exchangePolicy/3n36z2ubvsc2b`)), ["policy-invalid"]],
  ["cid-mismatch", () => ({ ...valid, policy: { ...valid.policy!, cid: valid.job.cid } }), ["cid-mismatch"]],
  ["completed-in-future", () => valid, ["completed-in-future"], { at: "2026-11-20T12:00:01.000Z" }],
  ["started-before-job", () => broken((b) => (j(b).createdAt = "2026-11-20T12:00:00.500Z")), ["started-before-job"]],
  ["completed-before-start", () => broken((b) => (r(b).startedAt = "2026-11-20T12:00:02.500Z")), ["completed-before-start"]],
  ["tokens-over-max", () => broken((b) => (j(b).maxTokensOut = 10)), ["tokens-over-max"]],
  // A machine with a file-held key is self-attested, whatever its attestation claims.
  ["trust-level-unmet", () => broken((b) => (j(b).acceptedTrustLevel = "hardware-attested")), ["trust-level-unmet"]],
  ["trust-level-unmet (a level nobody knows)", () => broken((b) => (j(b).acceptedTrustLevel = "quantum-attested")), ["trust-level-unmet"]],
  [
    "session-budget-exceeded",
    () => broken((b) => Object.assign(pa(b), { scope: "session", sessionBudget: { amount: 5000, currency: "TOK" } })),
    ["session-budget-exceeded"],
    { sessionCharged: 4950 },
  ],
  ["params-mismatch", () => broken((b) => (j(b).outputSchema = { name: "answer", strict: true, schema: { type: "object" } })), ["params-mismatch"]],
  ["not-dispatched-provider", () => valid, ["not-dispatched-provider"], { dispatchedTo: { provider: OTHER, machineKey: null } }],
  ["countersignature-missing", () => valid, ["countersignature-missing"], { requireCountersignature: true }],
  ["countersignature-invalid (signed by a key the matchmaker never published)", () => countersigned({ signer: otherKey }), ["countersignature-invalid"]],
  ["countersignature-invalid (routes the job to another provider's machine)", () => countersigned({ machineId: `at://${OTHER}/dev.cocore.compute.provider/m1` }), ["countersignature-invalid"]],
  [
    "countersignature-invalid (the key was retired before the job existed)",
    () => countersigned({ key: keyRecord([{ publicKey: mmKey.publicKey, validFrom: "2026-01-01T00:00:00.000Z", validUntil: "2026-02-01T00:00:00.000Z" }]) }),
    ["countersignature-invalid"],
  ],
  ["countersignature-invalid (required, and the authority publishes no key)", () => countersigned({ key: null }), ["countersignature-invalid"], { requireCountersignature: true }],
  [
    "not-dispatched-provider (another machine of the same provider)",
    () => valid,
    ["not-dispatched-provider"],
    { dispatchedTo: { provider: valid.receipt.uri!.split("/")[2]!, machineKey: "another-machine-key" } },
  ],
];

for (const [name, make, expected, options] of cases) {
  test(`finding: ${name}`, () => {
    const b = make();
    const result = verifyReceipt(b, options);
    assert.equal(result.ok, false);
    assert.deepEqual(codes(b, options), expected, JSON.stringify(result.findings, null, 1));
    for (const f of result.findings) assert.ok(f.message.length > 0);
  });
}

test("every finding code has a breaking case above", () => {
  const covered = new Set(cases.flatMap(([, , expected]) => expected));
  assert.deepEqual(FINDING_CODES.filter((c) => !covered.has(c)), []);
});

test("a countersignature is judged when its authority's key record is given (or required), else left alone", () => {
  assert.deepEqual(codes(countersigned()), []);
  assert.deepEqual(codes(countersigned(), { requireCountersignature: true }), []);
  // Offline, without the key record, a countersignature cannot be judged: nothing is found.
  assert.deepEqual(codes(countersigned({ key: null, signer: otherKey })), []);
  // Another key of the same record (a second matchmaker process) verifies too.
  const two = keyRecord([{ publicKey: otherKey.publicKey, validFrom: "2026-01-01T00:00:00.000Z" }, ...(published.value.keys as Rec[])]);
  assert.deepEqual(codes(countersigned({ key: two })), []);
  assert.deepEqual(codes(countersigned({ key: two, signer: otherKey })), []);
});

test("the dispatched machine's own receipt is its work", () => {
  const provider = valid.receipt.uri!.split("/")[2]!;
  assert.deepEqual(codes(valid, { dispatchedTo: { provider, machineKey: null } }), []);
  assert.deepEqual(codes(valid, { dispatchedTo: { provider, machineKey: a(valid).publicKey as string } }), []);
});

test("the explicit exchange option must be the policy's and be accepted by the job", () => {
  assert.deepEqual(codes(valid, { exchange: EXCHANGE }), []);
  assert.deepEqual(codes(valid, { exchange: OTHER }), ["authorization-invalid", "exchange-not-accepted", "policy-invalid"]);
});

test("without a policy, price is checked against the ceiling only and the exchange comes from the authorization", () => {
  const { policy: _p, ...rest } = structuredClone(valid);
  assert.deepEqual(codes(rest), []);
  (rest.receipt.value.price as Rec).amount = 105;
  rest.receipt.value = signRecord(rest.receipt.value, "enclaveSignature", key);
  rest.receipt.cid = recordCid(rest.receipt.value);
  assert.deepEqual(codes(rest), []);
});

test("pro bono with zero price and tokens verifies", () => {
  const b = broken((x) => {
    r(x).proBono = true;
    r(x).tokens = { in: 0, out: 0 };
    (r(x).price as Rec).amount = 0;
  });
  assert.deepEqual(codes(b), []);
});

test("acceptedProviders and acceptedExchanges are honoured when present", () => {
  assert.deepEqual(codes(broken((b) => (j(b).acceptedProviders = [OTHER, PROVIDER]))), []);
  assert.deepEqual(codes(broken((b) => delete j(b).acceptedProviders)), []);
  assert.deepEqual(codes(broken((b) => delete j(b).acceptedExchanges)), []);
});

test("a job with an outputSchema and tools verifies when the receipt states their hashes, and only then", async () => {
  const { outputSchemaHash, toolSchemaHash } = await import("../src/job-work.ts");
  const { validateRecord } = await import("../src/lexicon/index.ts");
  const work = {
    inputFormat: "messages-v1",
    outputSchema: { name: "answer", strict: true, schema: { type: "object", properties: { city: { type: "string", maxLength: 8 } }, required: ["city"], additionalProperties: false } },
    tools: [{ type: "function", function: { name: "get_weather", description: "Weather now", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
    toolChoice: "required",
    toolChoiceFunction: "get_weather",
  };
  const withWork = (params: Rec | undefined) =>
    broken((b) => {
      Object.assign(j(b), work);
      if (params) r(b).params = params;
    });
  assert.equal(validateRecord("dev.cocore.compute.job", j(withWork(undefined))).ok, true, "the additive job fields are schema-valid");
  const hashes = { outputSchemaHash: outputSchemaHash({ ...work }), toolSchemaHash: toolSchemaHash({ ...work }) };
  assert.match(hashes.outputSchemaHash!, /^[0-9a-f]{64}$/);
  assert.deepEqual(verifyReceipt(withWork({ maxTokens: 64, temperatureMilli: 0, topPMilli: 1000, ...hashes })), { ok: true, findings: [] });
  assert.deepEqual(codes(withWork(undefined)), ["params-mismatch"], "a receipt silent about the schema and tools");
  assert.deepEqual(codes(withWork({ ...hashes, toolSchemaHash: "0".repeat(64) })), ["params-mismatch"], "a receipt naming other tools");
  // A receipt that claims a schema for a job without one is not that job's work either.
  assert.deepEqual(codes(broken((b) => (r(b).params = { outputSchemaHash: hashes.outputSchemaHash }))), ["params-mismatch"]);
  assert.ok(FINDING_CODES.includes("params-mismatch"));
});
