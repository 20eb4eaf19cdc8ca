// The on-disk key file a provider keeps (written by `cocore keys generate`): its P-256 signing key
// and X25519 encryption key. Pure (de)serialisation; reading and writing the file is the caller's.
// Public parts use the wire encodings of the attestation record so they can be pasted into one.
import { base64Decode, base64Encode } from "./base64.ts";
import { exportSigningKey, generateSigningKey, importSigningKey, KeyError, type P256PrivateJwk, type SigningKey } from "./keys.ts";
import { encryptionKeyPairFromSecret, generateEncryptionKeyPair, type EncryptionKeyPair } from "./seal.ts";

export interface KeyFile {
  format: "cocore-keys/1";
  signing: { scheme: "p256"; publicKey: string; privateKeyJwk: P256PrivateJwk };
  encryption: { scheme: "x25519"; publicKey: string; secretKey: string };
}

export interface ProviderKeys {
  signing: SigningKey;
  encryption: EncryptionKeyPair;
}

/** The public halves, named as in dev.cocore.compute.attestation. */
export interface PublicKeys {
  publicKey: string;
  encryptionPubKey: string;
  sigScheme: "p256";
  encScheme: "x25519";
}

export function keyFileFrom(keys: ProviderKeys): KeyFile {
  return {
    format: "cocore-keys/1",
    signing: { scheme: "p256", publicKey: keys.signing.publicKey, privateKeyJwk: exportSigningKey(keys.signing) },
    encryption: { scheme: "x25519", publicKey: base64Encode(keys.encryption.publicKey), secretKey: base64Encode(keys.encryption.secretKey) },
  };
}

export function generateKeyFile(): KeyFile {
  return keyFileFrom({ signing: generateSigningKey(), encryption: generateEncryptionKeyPair() });
}

/** Parse and check a key file: the stored public keys must match the private ones. */
export function parseKeyFile(json: unknown): ProviderKeys {
  const doc = json as Partial<KeyFile> | null;
  if (!doc || typeof doc !== "object" || doc.format !== "cocore-keys/1") throw new KeyError("not a cocore key file (format cocore-keys/1)");
  if (!doc.signing?.privateKeyJwk || !doc.encryption?.secretKey) throw new KeyError("key file lacks a signing or encryption key");
  const signing = importSigningKey(doc.signing.privateKeyJwk);
  if (doc.signing.publicKey !== undefined && doc.signing.publicKey !== signing.publicKey) throw new KeyError("signing publicKey does not match its private key");
  let encryption: EncryptionKeyPair;
  try {
    encryption = encryptionKeyPairFromSecret(base64Decode(doc.encryption.secretKey));
  } catch (err) {
    throw new KeyError(`invalid X25519 secret key: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (doc.encryption.publicKey !== undefined && doc.encryption.publicKey !== base64Encode(encryption.publicKey)) {
    throw new KeyError("encryption publicKey does not match its secret key");
  }
  return { signing, encryption };
}

export function publicKeysOf(keys: ProviderKeys): PublicKeys {
  return { publicKey: keys.signing.publicKey, encryptionPubKey: base64Encode(keys.encryption.publicKey), sigScheme: "p256", encScheme: "x25519" };
}
