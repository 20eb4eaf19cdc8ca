// Prompt sealing (PROTOCOL.md §4): NaCl crypto_box (X25519 + XSalsa20-Poly1305) with a fresh
// ephemeral sender key per message.
//
// Convention: the sealed frame is exactly `nonce(24) || box`, as the spec writes it, and that frame
// is what `inputCommitment` hashes. crypto_box needs the sender's public key to open, so the
// ephemeral sender public key (32 bytes) travels *beside* the frame — in the dispatch message that
// carries the sealed bytes (base64, field `senderPublicKey`) — not inside it. Keeping it outside
// means the committed bytes are literally the spec's frame; a verifier holding only the frame and
// the commitment needs nothing else. (We found no published cocore.dev convention placing the key
// inside the frame; if one appears, only the transport changes, not the commitment rule.)
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import nacl from "tweetnacl";

export const NONCE_LENGTH = nacl.box.nonceLength; // 24
export const X25519_KEY_LENGTH = nacl.box.publicKeyLength; // 32
const OVERHEAD = nacl.box.overheadLength; // 16

export interface EncryptionKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export interface Sealed {
  /** `nonce(24) || box` — the bytes committed to by inputCommitment. */
  sealed: Uint8Array;
  /** The per-message ephemeral X25519 public key the recipient needs to open `sealed`. */
  senderPublicKey: Uint8Array;
}

// The X25519 scalar multiplications run in OpenSSL (node:crypto) rather than tweetnacl's JS, which
// costs ~0.6 ms each on a small CPU — on every job's critical path (the agent opens the input and
// derives the reply key before its first token). The results are bit-identical: the same clamped
// scalar multiplication, then crypto_box's HSalsa20 key derivation (crypto_box_beforenm). OpenSSL
// refuses an all-zero shared secret (a low-order peer key); tweetnacl's arithmetic is kept as the
// fallback, and an all-zero result is refused either way (LowOrderKeyError).
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");
const HSALSA_SIGMA = new TextEncoder().encode("expand 32-byte k");
const lowlevel = (nacl as unknown as { lowlevel: { crypto_core_hsalsa20(out: Uint8Array, inp: Uint8Array, k: Uint8Array, c: Uint8Array): number } }).lowlevel;

// A machine opens every job and derives every reply key with the same long-lived secret key:
// parsing it into an OpenSSL key object each time cost about as much as the scalar multiplication.
// The cache is keyed by the caller's array, so an entry lives exactly as long as that array; the
// copy beside it catches an array rewritten in place (e.g. zeroed) and then used again.
const privateKeys = new WeakMap<Uint8Array, { copy: Uint8Array; key: KeyObject }>();

function privateKeyObject(secretKey: Uint8Array, cache = true): KeyObject {
  const hit = privateKeys.get(secretKey);
  if (hit && timingSafeEqual(hit.copy, secretKey)) return hit.key;
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secretKey]), format: "der", type: "pkcs8" });
  if (cache) privateKeys.set(secretKey, { copy: new Uint8Array(secretKey), key });
  return key;
}

function x25519PublicKey(secretKey: Uint8Array, cache = true): Uint8Array {
  const spki = createPublicKey(privateKeyObject(secretKey, cache)).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(SPKI_X25519.length));
}

/**
 * A low-order (e.g. all-zero) peer key makes the X25519 shared secret zero whatever our secret is,
 * so anyone could derive the box key: nothing may be sealed to or opened from such a key.
 */
export class LowOrderKeyError extends Error {
  override readonly name = "LowOrderKeyError";
  constructor() {
    super("X25519 shared secret is all zeros: the peer public key is a low-order point");
  }
}

/** crypto_box_beforenm: HSalsa20 over the X25519 shared secret. */
function boxBefore(peerPublicKey: Uint8Array, ownSecretKey: Uint8Array, cache = true): Uint8Array {
  let shared: Uint8Array;
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519, peerPublicKey]), format: "der", type: "spki" });
    shared = diffieHellman({ privateKey: privateKeyObject(ownSecretKey, cache), publicKey });
  } catch {
    shared = nacl.scalarMult(ownSecretKey, peerPublicKey);
  }
  if (shared.every((b) => b === 0)) throw new LowOrderKeyError();
  const k = new Uint8Array(32);
  lowlevel.crypto_core_hsalsa20(k, new Uint8Array(16), shared, HSALSA_SIGMA);
  shared.fill(0);
  return k;
}

export function generateEncryptionKeyPair(): EncryptionKeyPair {
  const secretKey = new Uint8Array(randomBytes(X25519_KEY_LENGTH));
  return { publicKey: x25519PublicKey(secretKey), secretKey };
}

export function encryptionKeyPairFromSecret(secretKey: Uint8Array): EncryptionKeyPair {
  if (secretKey.length !== X25519_KEY_LENGTH) throw new RangeError("X25519 secret key must be 32 bytes");
  return { publicKey: x25519PublicKey(secretKey), secretKey: new Uint8Array(secretKey) };
}

export function seal(plaintext: Uint8Array, recipientPublicKey: Uint8Array): Sealed {
  if (recipientPublicKey.length !== X25519_KEY_LENGTH) throw new RangeError("X25519 public key must be 32 bytes");
  // The one-use sender key stays out of the key-object cache: nothing of it outlives this call.
  const secretKey = new Uint8Array(randomBytes(X25519_KEY_LENGTH));
  const ephemeral = { publicKey: x25519PublicKey(secretKey, false), secretKey };
  const nonce = nacl.randomBytes(NONCE_LENGTH);
  const box = nacl.box.after(plaintext, nonce, boxBefore(recipientPublicKey, ephemeral.secretKey, false));
  const sealed = new Uint8Array(NONCE_LENGTH + box.length);
  sealed.set(nonce, 0);
  sealed.set(box, NONCE_LENGTH);
  // The ephemeral secret is dropped here: nobody, including us, can open or forge under it later.
  ephemeral.secretKey.fill(0);
  return { sealed, senderPublicKey: ephemeral.publicKey };
}

/** The plaintext, or null when the frame is truncated, tampered with, or not for this key pair. */
export function open(sealed: Uint8Array, senderPublicKey: Uint8Array, recipientSecretKey: Uint8Array): Uint8Array | null {
  if (senderPublicKey.length !== X25519_KEY_LENGTH || recipientSecretKey.length !== X25519_KEY_LENGTH) return null;
  if (sealed.length < NONCE_LENGTH + OVERHEAD) return null;
  let key: Uint8Array;
  try {
    key = boxBefore(senderPublicKey, recipientSecretKey);
  } catch (err) {
    if (err instanceof LowOrderKeyError) return null;
    throw err;
  }
  return nacl.box.open.after(sealed.subarray(NONCE_LENGTH), sealed.subarray(0, NONCE_LENGTH), key);
}

// Reply sealing: the output streamed back to the requester. The requester puts a fresh X25519
// public key (`replyPublicKey`) inside the sealed input, so only the machine that opened the input
// learns it and nobody in between can substitute another. The machine boxes every output piece
// from its own X25519 key (the one the input was sealed to) to that reply key: the requester opens
// with its reply secret key and the machine's encryptionPubKey, which also proves the reply comes
// from the key holder. The X25519 agreement is done once per job (`replyKey`), each piece costs
// one XSalsa20-Poly1305 box with a fresh random nonce. A reply frame is `nonce(24) || box`, like
// the input frame.

/** The precomputed crypto_box key between one side's secret key and the other's public key. */
export function replyKey(peerPublicKey: Uint8Array, ownSecretKey: Uint8Array): Uint8Array {
  if (peerPublicKey.length !== X25519_KEY_LENGTH || ownSecretKey.length !== X25519_KEY_LENGTH) throw new RangeError("X25519 keys must be 32 bytes");
  return boxBefore(peerPublicKey, ownSecretKey);
}

/** One reply frame `nonce(24) || box` under a key from `replyKey`. */
export function sealReply(plaintext: Uint8Array, key: Uint8Array): Uint8Array {
  const nonce = nacl.randomBytes(NONCE_LENGTH);
  const box = nacl.box.after(plaintext, nonce, key);
  const frame = new Uint8Array(NONCE_LENGTH + box.length);
  frame.set(nonce, 0);
  frame.set(box, NONCE_LENGTH);
  return frame;
}

/** The plaintext of one reply frame, or null when it is truncated, tampered with or under another key. */
export function openReply(frame: Uint8Array, key: Uint8Array): Uint8Array | null {
  if (frame.length < NONCE_LENGTH + OVERHEAD) return null;
  return nacl.box.open.after(frame.subarray(NONCE_LENGTH), frame.subarray(0, NONCE_LENGTH), key);
}
