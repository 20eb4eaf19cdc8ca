// ECDSA P-256 / SHA-256 with DER signatures, and the record signing rule of PROTOCOL.md §4: the
// signed bytes are the canonical JSON of the record without `$type`, its own signature field and,
// for receipts (signature field `enclaveSignature`), `brokerageCountersignature`, which the
// matchmaker adds after the provider has signed.
import { sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { base64Decode } from "./base64.ts";
import { canonicalBytes } from "./canonical.ts";
import { publicKeyObject, type SigningKey } from "./keys.ts";

/** DER-encoded ECDSA signature over SHA-256(bytes). */
export function sign(key: SigningKey, bytes: Uint8Array): Uint8Array {
  const sig = nodeSign("sha256", bytes, key.privateKey);
  return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
}

/**
 * Verify a DER signature. OpenSSL accepts both low-S and high-S forms, which §4 requires since
 * other producers do not normalise; malformed DER or a bad key is simply "does not verify".
 */
export function verify(publicKey: string, bytes: Uint8Array, derSignature: Uint8Array): boolean {
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  try {
    return nodeVerify("sha256", bytes, key, derSignature);
  } catch {
    return false;
  }
}

export type SignatureField = "enclaveSignature" | "selfSignature" | "sig";

/** Fields left out of the signed bytes besides the signature itself. */
function excludedFields(sigField: string): readonly string[] {
  return sigField === "enclaveSignature" ? ["$type", sigField, "brokerageCountersignature"] : ["$type", sigField];
}

/** The exact bytes a record's `sigField` signs. Throws CanonicalError for non-canonical content. */
export function signingPayload(record: Readonly<Record<string, unknown>>, sigField: string): Uint8Array {
  const excluded = excludedFields(sigField);
  const rest: Record<string, unknown> = {};
  for (const key of Object.keys(record)) if (!excluded.includes(key)) rest[key] = record[key];
  return canonicalBytes(rest);
}

/** A copy of `record` with `sigField` set to a fresh signature (lex-form bytes). */
export function signRecord<T extends object, F extends string>(record: T, sigField: F, key: SigningKey): Omit<T, F> & Record<F, Uint8Array> {
  const signature = sign(key, signingPayload(record as Record<string, unknown>, sigField));
  return { ...record, [sigField]: signature } as Omit<T, F> & Record<F, Uint8Array>;
}

/** The signature bytes from lex form (Uint8Array) or JSON form ({"$bytes": b64}); null otherwise. */
export function signatureBytes(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (value && typeof value === "object" && typeof (value as { $bytes?: unknown }).$bytes === "string") {
    try {
      return base64Decode((value as { $bytes: string }).$bytes);
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Whether `record[sigField]` is a valid signature by `publicKey`. Throws CanonicalError when the
 * record has no canonical form, so callers can report that distinctly from a wrong signature.
 */
export function verifyRecordSignature(record: Readonly<Record<string, unknown>>, sigField: string, publicKey: string): boolean {
  const sig = signatureBytes(record[sigField]);
  if (!sig) return false;
  return verify(publicKey, signingPayload(record, sigField), sig);
}
