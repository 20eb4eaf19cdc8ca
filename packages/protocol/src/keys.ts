// P-256 signing keys. On the wire a public key is standard base64 of the raw 64-byte X‖Y point
// (PROTOCOL.md §4: no 0x04 prefix). Private keys are stored as JWK ({kty:"EC", crv:"P-256", x, y, d})
// because JWK is plain JSON, fits our key files, and node:crypto imports it without ASN.1 handling.
import { createPublicKey, createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { base64Decode, base64Encode } from "./base64.ts";

export interface P256PrivateJwk {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
  d: string;
}

export interface SigningKey {
  /** Standard base64 of the raw 64-byte X‖Y point. */
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

export class KeyError extends Error {
  override readonly name = "KeyError";
}

function rawPublicFromJwk(jwk: { x?: string; y?: string }): string {
  if (!jwk.x || !jwk.y) throw new KeyError("EC key has no public point");
  const x = Buffer.from(jwk.x, "base64url");
  const y = Buffer.from(jwk.y, "base64url");
  if (x.length !== 32 || y.length !== 32) throw new KeyError("P-256 coordinates must be 32 bytes");
  return base64Encode(Buffer.concat([x, y]));
}

function fromPrivateKeyObject(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new KeyError("not a P-256 private key");
  }
  return { privateKey, publicKey: rawPublicFromJwk(privateKey.export({ format: "jwk" })) };
}

export function generateSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return fromPrivateKeyObject(privateKey);
}

export function exportSigningKey(key: SigningKey): P256PrivateJwk {
  const jwk = key.privateKey.export({ format: "jwk" });
  if (!jwk.x || !jwk.y || !jwk.d) throw new KeyError("private key export is incomplete");
  return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, d: jwk.d };
}

export function importSigningKey(jwk: P256PrivateJwk): SigningKey {
  if (jwk?.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string") throw new KeyError("expected a P-256 private JWK");
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: { ...jwk }, format: "jwk" });
  } catch (err) {
    throw new KeyError(`invalid P-256 private key: ${err instanceof Error ? err.message : String(err)}`);
  }
  return fromPrivateKeyObject(privateKey);
}

// Verifying thousands of receipts from the same few providers would otherwise re-parse the same
// point each time; importing dominates the cost of a single verify.
const publicKeyCache = new Map<string, KeyObject | null>();
const PUBLIC_KEY_CACHE_LIMIT = 4096;

/** A node:crypto KeyObject for a wire-format public key, or null when it is not a P-256 point. */
export function publicKeyObject(publicKey: string): KeyObject | null {
  const cached = publicKeyCache.get(publicKey);
  if (cached !== undefined) return cached;
  let result: KeyObject | null = null;
  try {
    const raw = base64Decode(publicKey);
    if (raw.length === 64) {
      result = createPublicKey({
        key: {
          kty: "EC",
          crv: "P-256",
          x: Buffer.from(raw.subarray(0, 32)).toString("base64url"),
          y: Buffer.from(raw.subarray(32)).toString("base64url"),
        },
        format: "jwk",
      });
    }
  } catch {
    result = null; // not base64, or a point off the curve
  }
  if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) publicKeyCache.clear();
  publicKeyCache.set(publicKey, result);
  return result;
}

/** True when `publicKey` is standard base64 of a valid P-256 point. */
export function isValidPublicKey(publicKey: string): boolean {
  return publicKeyObject(publicKey) !== null;
}
