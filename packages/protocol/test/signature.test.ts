import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { exportSigningKey, generateSigningKey, importSigningKey, isValidPublicKey } from "../src/keys.ts";
import { sign, signingPayload, signRecord, verify, verifyRecordSignature } from "../src/signature.ts";
import { base64Decode } from "../src/base64.ts";
import { canonicalJson } from "../src/canonical.ts";

const key = generateSigningKey();
const other = generateSigningKey();

// P-256 group order: a signature (r, s) is equally valid as (r, n − s).
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function derInts(der: Uint8Array): [bigint, bigint] {
  assert.equal(der[0], 0x30);
  let i = 2;
  const ints: bigint[] = [];
  for (let k = 0; k < 2; k++) {
    assert.equal(der[i], 0x02);
    const len = der[i + 1]!;
    ints.push(BigInt("0x" + Buffer.from(der.subarray(i + 2, i + 2 + len)).toString("hex")));
    i += 2 + len;
  }
  return [ints[0]!, ints[1]!];
}

function derInt(n: bigint): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  let bytes = Buffer.from(hex, "hex");
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.of(0), bytes]);
  return Buffer.concat([Buffer.of(0x02, bytes.length), bytes]);
}

function der(r: bigint, s: bigint): Uint8Array {
  const body = Buffer.concat([derInt(r), derInt(s)]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}

test("public keys are base64 of the 64-byte raw point", () => {
  assert.equal(base64Decode(key.publicKey).length, 64);
  assert.ok(isValidPublicKey(key.publicKey));
  assert.ok(!isValidPublicKey(Buffer.alloc(64, 1).toString("base64")), "a point off the curve is refused");
  assert.ok(!isValidPublicKey(Buffer.concat([Buffer.of(4), base64Decode(key.publicKey)]).toString("base64")), "0x04-prefixed form is refused");
});

test("sign then verify holds, and fails for other bytes or another key", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 1, maxLength: 8 }), (bytes, extra) => {
      const sig = sign(key, bytes);
      assert.ok(verify(key.publicKey, bytes, sig));
      assert.ok(!verify(other.publicKey, bytes, sig));
      assert.ok(!verify(key.publicKey, Buffer.concat([bytes, extra]), sig));
    }),
    { numRuns: 50 },
  );
});

test("high-S and low-S forms of a signature both verify", () => {
  for (let i = 0; i < 8; i++) {
    const bytes = Buffer.from(`message ${i}`);
    const sig = sign(key, bytes);
    const [r, s] = derInts(sig);
    const flipped = der(r, N - s);
    assert.ok(verify(key.publicKey, bytes, sig));
    assert.ok(verify(key.publicKey, bytes, flipped), "the other-S form verifies");
    const high = s > N / 2n ? sig : flipped;
    assert.ok(derInts(high)[1] > N / 2n);
    assert.ok(verify(key.publicKey, bytes, high));
  }
});

test("malformed signatures simply do not verify", () => {
  assert.ok(!verify(key.publicKey, Buffer.from("x"), Uint8Array.of(1, 2, 3)));
  assert.ok(!verify("not base64!", Buffer.from("x"), sign(key, Buffer.from("x"))));
});

test("private keys round-trip through JWK", () => {
  const restored = importSigningKey(exportSigningKey(key));
  assert.equal(restored.publicKey, key.publicKey);
  const sig = sign(restored, Buffer.from("hello"));
  assert.ok(verify(key.publicKey, Buffer.from("hello"), sig));
});

test("record signatures exclude $type, the signature field and (receipts) brokerageCountersignature", () => {
  const record = { $type: "dev.cocore.compute.receipt", b: 2, a: "x", brokerageCountersignature: { sig: Uint8Array.of(1) } };
  assert.equal(Buffer.from(signingPayload(record, "enclaveSignature")).toString(), canonicalJson({ a: "x", b: 2 }));
  assert.equal(
    Buffer.from(signingPayload(record, "selfSignature")).toString(),
    canonicalJson({ a: "x", b: 2, brokerageCountersignature: { sig: "AQ==" } }),
  );
  const signed = signRecord({ a: "x", b: 2 }, "enclaveSignature", key);
  assert.ok(signed.enclaveSignature instanceof Uint8Array);
  assert.ok(verifyRecordSignature(signed, "enclaveSignature", key.publicKey));
  assert.ok(verifyRecordSignature({ ...signed, $type: "anything", brokerageCountersignature: { nonce: "n" } }, "enclaveSignature", key.publicKey));
  const jsonForm = { ...signed, enclaveSignature: { $bytes: Buffer.from(signed.enclaveSignature).toString("base64") } };
  assert.ok(verifyRecordSignature(jsonForm, "enclaveSignature", key.publicKey));
  assert.ok(!verifyRecordSignature({ ...signed, c: 0 }, "enclaveSignature", key.publicKey));
  assert.ok(!verifyRecordSignature({ a: "x", b: 2 }, "enclaveSignature", key.publicKey));
});
