import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyFile, parseKeyFile, publicKeysOf } from "../src/keyfile.ts";
import { KeyError } from "../src/keys.ts";
import { sign, verify } from "../src/signature.ts";
import { open, seal } from "../src/seal.ts";
import { base64Decode } from "../src/base64.ts";

test("a generated key file parses back to working keys", () => {
  const file = JSON.parse(JSON.stringify(generateKeyFile())) as ReturnType<typeof generateKeyFile>;
  const keys = parseKeyFile(file);
  const pub = publicKeysOf(keys);
  assert.equal(pub.publicKey, file.signing.publicKey);
  assert.ok(verify(pub.publicKey, Buffer.from("m"), sign(keys.signing, Buffer.from("m"))));
  const { sealed, senderPublicKey } = seal(Buffer.from("hi"), base64Decode(pub.encryptionPubKey));
  assert.equal(Buffer.from(open(sealed, senderPublicKey, keys.encryption.secretKey)!).toString(), "hi");
});

test("key files whose public keys do not match their secrets are refused", () => {
  const a = generateKeyFile();
  const b = generateKeyFile();
  assert.throws(() => parseKeyFile({ ...a, signing: { ...a.signing, publicKey: b.signing.publicKey } }), KeyError);
  assert.throws(() => parseKeyFile({ ...a, encryption: { ...a.encryption, publicKey: b.encryption.publicKey } }), KeyError);
  assert.throws(() => parseKeyFile({ format: "other" }), KeyError);
  assert.throws(() => parseKeyFile(null), KeyError);
});
