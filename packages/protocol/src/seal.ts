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

export function generateEncryptionKeyPair(): EncryptionKeyPair {
  const kp = nacl.box.keyPair();
  return { publicKey: kp.publicKey, secretKey: kp.secretKey };
}

export function encryptionKeyPairFromSecret(secretKey: Uint8Array): EncryptionKeyPair {
  if (secretKey.length !== X25519_KEY_LENGTH) throw new RangeError("X25519 secret key must be 32 bytes");
  const kp = nacl.box.keyPair.fromSecretKey(secretKey);
  return { publicKey: kp.publicKey, secretKey: kp.secretKey };
}

export function seal(plaintext: Uint8Array, recipientPublicKey: Uint8Array): Sealed {
  if (recipientPublicKey.length !== X25519_KEY_LENGTH) throw new RangeError("X25519 public key must be 32 bytes");
  const ephemeral = nacl.box.keyPair();
  const nonce = nacl.randomBytes(NONCE_LENGTH);
  const box = nacl.box(plaintext, nonce, recipientPublicKey, ephemeral.secretKey);
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
  return nacl.box.open(sealed.subarray(NONCE_LENGTH), sealed.subarray(0, NONCE_LENGTH), senderPublicKey, recipientSecretKey);
}
