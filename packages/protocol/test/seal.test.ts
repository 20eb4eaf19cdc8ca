import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import nacl from "tweetnacl";
import { encryptionKeyPairFromSecret, generateEncryptionKeyPair, LowOrderKeyError, NONCE_LENGTH, open, replyKey, seal } from "../src/seal.ts";
import { inputCommitment, outputCommitment, sha256Hex } from "../src/commitment.ts";

const recipient = generateEncryptionKeyPair();

test("seal then open round-trips", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (plaintext) => {
      const { sealed, senderPublicKey } = seal(plaintext, recipient.publicKey);
      assert.equal(sealed.length, NONCE_LENGTH + 16 + plaintext.length, "frame is nonce || box");
      assert.deepEqual(open(sealed, senderPublicKey, recipient.secretKey), plaintext);
    }),
    { numRuns: 50 },
  );
});

test("any flipped byte makes opening fail", () => {
  const plaintext = Buffer.from("a secret prompt");
  const { sealed, senderPublicKey } = seal(plaintext, recipient.publicKey);
  fc.assert(
    fc.property(fc.nat(sealed.length - 1), fc.integer({ min: 1, max: 255 }), (index, mask) => {
      const tampered = Uint8Array.from(sealed);
      tampered[index]! ^= mask;
      assert.equal(open(tampered, senderPublicKey, recipient.secretKey), null);
    }),
  );
  const key = Uint8Array.from(senderPublicKey);
  key[0]! ^= 1;
  assert.equal(open(sealed, key, recipient.secretKey), null, "a different sender key fails");
  assert.equal(open(sealed.subarray(0, 30), senderPublicKey, recipient.secretKey), null, "truncated frame fails");
});

test("each seal uses a fresh ephemeral sender key and nonce", () => {
  const a = seal(Buffer.from("x"), recipient.publicKey);
  const b = seal(Buffer.from("x"), recipient.publicKey);
  assert.notDeepEqual(a.senderPublicKey, b.senderPublicKey);
  assert.notDeepEqual(a.sealed.subarray(0, NONCE_LENGTH), b.sealed.subarray(0, NONCE_LENGTH));
  assert.equal(open(a.sealed, a.senderPublicKey, generateEncryptionKeyPair().secretKey), null, "other recipients cannot open");
});

test("key pair from secret reproduces the public key", () => {
  assert.deepEqual(encryptionKeyPairFromSecret(recipient.secretKey).publicKey, recipient.publicKey);
});

test("commitments are SHA-256 hex of the exact bytes", () => {
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const { sealed } = seal(Buffer.from("p"), recipient.publicKey);
  assert.equal(inputCommitment(sealed), sha256Hex(sealed));
  assert.equal(outputCommitment("héllo"), sha256Hex(Buffer.from("héllo", "utf8")));
});

// Low-order X25519 points: with any of them the shared secret is zero, so anyone derives the box key.
const LOW_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
].map((h) => new Uint8Array(Buffer.from(h, "hex")));

test("a low-order key is refused: seal and replyKey throw, open returns null", () => {
  for (const bad of LOW_ORDER) {
    assert.throws(() => seal(new TextEncoder().encode("secret prompt"), bad), LowOrderKeyError);
    assert.throws(() => replyKey(bad, recipient.secretKey), LowOrderKeyError);
    // A frame "from" a low-order sender key: its box key is public knowledge (zero shared secret).
    const nonce = nacl.randomBytes(NONCE_LENGTH);
    const box = nacl.box.after(new TextEncoder().encode("forged"), nonce, nacl.box.before(bad, nacl.randomBytes(32)));
    assert.equal(open(new Uint8Array([...nonce, ...box]), bad, recipient.secretKey), null);
  }
});
