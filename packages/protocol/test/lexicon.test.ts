import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NSID, fromJsonRecord, lexicons, toJsonRecord, validateRecord } from "../src/lexicon/index.ts";

const here = dirname(fileURLToPath(import.meta.url));
// A copy of ../shared/vectors/receipt-bundle-valid.json (made by an independent implementation).
const vectorPath = resolve(here, "fixtures/receipt-bundle-valid.json");

const did = (s: string) => `did:plc:${s.padEnd(24, "a")}`;
const ref = (nsid: string, rkey: string) => ({
  uri: `at://${did("r")}/${nsid}/${rkey}`,
  cid: "bafyreie73mdexmv65tazibbpn57hcy4egll4xxipri6aqkybgq7a2jpc34",
});

function job(): Record<string, unknown> {
  return {
    $type: NSID.job,
    model: "fortunes-char",
    inputCommitment: "a".repeat(64),
    maxTokensOut: 64,
    priceCeiling: { amount: 5000, currency: "TOK" },
    acceptedTrustLevel: "self-attested",
    acceptedExchanges: [did("x")],
    paymentAuthorization: ref(NSID.paymentAuthorization, "3n36z2ubxqt2b"),
    nonce: "0".repeat(32),
    expiresAt: "2026-11-20T12:10:00.000Z",
    createdAt: "2026-11-20T11:59:30.000Z",
  };
}

function receiptJson(): Record<string, unknown> {
  return {
    $type: NSID.receipt,
    job: ref(NSID.job, "3n36z2uc3nu2b"),
    requester: did("r"),
    model: "fortunes-char",
    inputCommitment: "a".repeat(64),
    outputCommitment: "b".repeat(64),
    tokens: { in: 40, out: 64 },
    startedAt: "2026-11-20T12:00:00.000Z",
    completedAt: "2026-11-20T12:00:02.000Z",
    price: { amount: 104, currency: "TOK" },
    attestation: ref(NSID.attestation, "3n36z2uc5mf2b"),
    enclaveSignature: { $bytes: "MEUCIF61rBBBDo0c8yY/plBtVybUncCZ5Xos3RDL4ohe95+VAiEAoGn+we7MZYLUfbWm0ycIN/+Z/02N2vSXzB+24Tdcd9I=" },
  };
}

// The structure of seed 001 with cocore.dev's published values.
function seedPolicy(): Record<string, unknown> {
  return {
    $type: NSID.exchangePolicy,
    exchange: did("x"),
    active: true,
    fee: { bps: 500, minMinor: 0, currency: "TOK" },
    supportedCurrencies: ["TOK"],
    selfLoop: { feeWaived: true },
    processor: "closed-loop",
    tokenRate: { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" },
    tokenFloor: 100_000,
    tokenGrant: 1_000_000,
    treasuryDid: did("x"),
    termsUri: "https://example.com/terms",
    termsVersion: "2026-11",
    weeklyRefresh: { amountPerDid: 70_000, cadenceMinutes: 10_080 },
    patronageDistribution: { fractionBps: 8000, cadenceDays: 30 },
    createdAt: "2026-11-19T12:00:00.000Z",
  };
}

function assertFails(result: ReturnType<typeof validateRecord>, pattern: RegExp) {
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(result.message, pattern);
}

test("the independent receipt bundle's records all validate", () => {
  const bundle = JSON.parse(readFileSync(vectorPath, "utf8")) as Record<string, { value: { $type: string } }>;
  const parts = Object.keys(bundle);
  assert.deepEqual(parts.sort(), ["attestation", "job", "paymentAuthorization", "policy", "receipt"]);
  for (const part of parts) {
    const value = fromJsonRecord(bundle[part]!.value) as { $type: string };
    assert.deepEqual(validateRecord(value.$type, value), { ok: true }, part);
  }
});

test("a receipt validates and bytes round-trip between JSON and lex form", () => {
  const lex = fromJsonRecord(receiptJson()) as { enclaveSignature: unknown };
  assert.ok(lex.enclaveSignature instanceof Uint8Array);
  assert.deepEqual(validateRecord(NSID.receipt, lex), { ok: true });
  // lexToJson writes $bytes as unpadded base64 (the atproto data model form); parsing it back
  // gives the same bytes.
  const json = toJsonRecord(lex) as Record<string, unknown>;
  const sig = (receiptJson().enclaveSignature as { $bytes: string }).$bytes;
  assert.deepEqual(json, { ...receiptJson(), enclaveSignature: { $bytes: sig.replace(/=+$/, "") } });
  assert.deepEqual(fromJsonRecord(json), lex);
});

test("bytes left in JSON form are rejected", () => {
  assertFails(validateRecord(NSID.receipt, receiptJson()), /enclaveSignature/);
});

test("a two-letter currency fails with the validator's message", () => {
  const r = fromJsonRecord({ ...receiptJson(), price: { amount: 104, currency: "CC" } });
  const result = validateRecord(NSID.receipt, r);
  assert.deepEqual(result, { ok: false, message: "Record/price/currency must not be shorter than 3 characters" });
});

test("job limits: maxTokensOut in 1..2,000,000 and a 32-char nonce", () => {
  assert.deepEqual(validateRecord(NSID.job, job()), { ok: true });
  assert.deepEqual(validateRecord(NSID.job, { ...job(), maxTokensOut: 2_000_000 }), { ok: true });
  assertFails(validateRecord(NSID.job, { ...job(), maxTokensOut: 0 }), /maxTokensOut/);
  assertFails(validateRecord(NSID.job, { ...job(), maxTokensOut: 2_000_001 }), /maxTokensOut/);
  assertFails(validateRecord(NSID.job, { ...job(), nonce: "0".repeat(31) }), /nonce/);
  assertFails(validateRecord(NSID.job, { ...job(), nonce: "0".repeat(33) }), /nonce/);
  assertFails(validateRecord(NSID.job, { ...job(), inputCommitment: "a".repeat(63) }), /inputCommitment/);
  assertFails(validateRecord(NSID.job, { ...job(), acceptedExchanges: Array(17).fill(did("x")) }), /acceptedExchanges/);
  const { nonce: _omit, ...noNonce } = job();
  assertFails(validateRecord(NSID.job, noNonce), /nonce/);
});

test("unknown extra fields are allowed", () => {
  assert.deepEqual(validateRecord(NSID.job, { ...job(), somethingNew: { nested: [1, 2] } }), { ok: true });
  assert.deepEqual(validateRecord(NSID.exchangePolicy, { ...seedPolicy(), futureKnob: "on" }), { ok: true });
});

test("a policy of the seed's shape validates; its constraints hold", () => {
  assert.deepEqual(validateRecord(NSID.exchangePolicy, seedPolicy()), { ok: true });
  assertFails(validateRecord(NSID.exchangePolicy, { ...seedPolicy(), supportedCurrencies: [] }), /supportedCurrencies/);
  assertFails(validateRecord(NSID.exchangePolicy, { ...seedPolicy(), fee: { bps: 10_001, minMinor: 0, currency: "TOK" } }), /bps/);
  assertFails(validateRecord(NSID.exchangePolicy, { ...seedPolicy(), weeklyRefresh: { amountPerDid: 1, cadenceMinutes: 59 } }), /cadenceMinutes/);
  const { selfLoop: _omit, ...noSelfLoop } = seedPolicy();
  assertFails(validateRecord(NSID.exchangePolicy, noSelfLoop), /selfLoop/);
});

test("$type is filled in when missing and checked when present", () => {
  const { $type: _omit, ...untyped } = job();
  assert.deepEqual(validateRecord(NSID.job, untyped), { ok: true });
  assertFails(validateRecord(NSID.receipt, job()), /Invalid \$type/);
  assertFails(validateRecord("dev.cocore.compute.nope", job()), /.+/);
  assertFails(validateRecord(NSID.job, "not an object"), /must be an object/);
});

test("tokenPatronage requires tokensCredited >= 1 and a full period", () => {
  const patronage = {
    $type: NSID.tokenPatronage,
    exchange: did("x"),
    recipient: did("r"),
    period: { start: "2026-11-19T12:00:00.000Z", end: "2026-12-19T12:00:00.000Z" },
    patronageScore: 10,
    totalPatronage: 100,
    tokensCredited: 1,
    treasuryBefore: 1000,
    policy: ref(NSID.exchangePolicy, "3n36z2ubvsc2b"),
    createdAt: "2026-12-19T12:00:00.000Z",
  };
  assert.deepEqual(validateRecord(NSID.tokenPatronage, patronage), { ok: true });
  assertFails(validateRecord(NSID.tokenPatronage, { ...patronage, tokensCredited: 0 }), /tokensCredited/);
  assertFails(validateRecord(NSID.tokenPatronage, { ...patronage, period: { start: "2026-11-19T12:00:00.000Z" } }), /end/);
});

test("provider records accept the later additive fields", () => {
  const provider = {
    $type: NSID.provider,
    machineLabel: "box",
    chip: "AMD EPYC",
    ramGB: 64,
    supportedModels: ["fortunes-char"],
    priceList: [{ modelId: "fortunes-char", inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" }],
    encryptionPubKey: "ezUGGZFLcIByYVfx1yO6/ZeMoV5KhO6xo+guXh7OTSA=",
    attestationPubKey: "Hm9dnHWN+pqwUqksQC5ivVSsJb9P13UBCnSQ8sPB43JETVDySofq3OD8+CWw3tVkHiBW9PxkMPj4UVFHCyGJ5Q==",
    trustLevel: "self-attested",
    createdAt: "2026-11-20T11:00:00.000Z",
    proBono: { mode: "direct", dids: [did("r")] },
    tier: "best-effort",
    region: "DE",
    shareLocation: true,
    toolCalls: false,
    engineFault: { code: "model-load-failed", message: "no", at: "2026-11-20T11:00:00.000Z", models: ["m"] },
    advisorFault: { code: "unreachable", message: "no", at: "2026-11-20T11:00:00.000Z" },
  };
  assert.deepEqual(validateRecord(NSID.provider, provider), { ok: true });
  assertFails(validateRecord(NSID.provider, { ...provider, proBono: { dids: [] } }), /mode/);
  assertFails(validateRecord(NSID.provider, { ...provider, advisorFault: { code: "x", message: "y" } }), /at/);
});

test("every NSID constant names a loaded lexicon", () => {
  for (const nsid of Object.values(NSID)) assert.equal(lexicons.get(nsid)?.id, nsid);
  assert.equal(lexicons.get("dev.cocore.compute.nope"), undefined);
});
