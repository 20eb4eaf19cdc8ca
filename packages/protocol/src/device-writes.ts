// What a paired machine may write into its owner's repo through the console's write proxy, and
// how each of its requests is signed. A device credential is not the owner's session: it may
// write only the records a provider agent writes (provider, attestation, receipt) and only its
// own — records bound to its machine key — so a stolen credential cannot publish jobs, spend
// through payment authorizations, or overwrite another machine's records.
import { CanonicalError, canonicalBytes } from "./canonical.ts";
import { NSID, fromJsonRecord } from "./lexicon/index.ts";
import { verifyRecordSignature } from "./signature.ts";

/** The collections a paired machine writes (the agent's provider record, attestations, receipts). */
export const DEVICE_COLLECTIONS: readonly string[] = [NSID.provider, NSID.attestation, NSID.receipt];

/** Headers of a device request (besides `authorization: CocoreDevice <token>`). */
export const DEVICE_HEADERS = { at: "x-cocore-device-at", nonce: "x-cocore-device-nonce", sig: "x-cocore-device-sig" } as const;
/** How far a request's `at` may be from the console's clock. */
export const DEVICE_CLOCK_SKEW_MS = 120_000;

export interface DeviceRequest {
  method: string;
  /** Path and query, as sent (`/xrpc/com.atproto.repo.putRecord`). */
  path: string;
  /** SHA-256 hex of the body bytes (of the empty string for a GET). */
  bodySha256: string;
  /** ISO time the machine signed at. */
  at: string;
  nonce: string;
  deviceId: string;
}

/** The bytes the machine key signs for one request: method, path, body, time and nonce together. */
export function deviceRequestBytes(r: DeviceRequest): Uint8Array {
  return canonicalBytes({ v: "cocore-device/1", method: r.method.toUpperCase(), path: r.path, body: r.bodySha256, at: r.at, nonce: r.nonce, device: r.deviceId });
}

/** The bytes the machine key signs when it asks to be paired (proof it holds the key it names). */
export function pairingRequestBytes(r: { publicKey: string; label: string; at: string }): Uint8Array {
  return canonicalBytes({ v: "cocore-pair/1", publicKey: r.publicKey, label: r.label, at: r.at });
}

export type DeviceWriteCode = "collection_not_allowed" | "not_this_machine" | "invalid_record";

export interface DeviceWriteRefusal {
  code: DeviceWriteCode;
  message: string;
}

export interface DeviceWrite {
  action: "create" | "update" | "delete";
  collection: string;
  rkey?: string;
  /** The new value (create/update), in atproto JSON or lex form. */
  value?: unknown;
}

function signedBy(value: Record<string, unknown>, field: string, key: string): boolean {
  try {
    return verifyRecordSignature(fromJsonRecord(value) as Record<string, unknown>, field, key);
  } catch (err) {
    if (err instanceof CanonicalError) return false;
    throw err;
  }
}

/** Whether a record value of `collection` belongs to the machine whose key is `machineKey`. */
export function isMachineRecord(collection: string, value: unknown, machineKey: string): boolean {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  switch (collection) {
    case NSID.provider:
      return v.attestationPubKey === machineKey;
    case NSID.attestation:
      return v.publicKey === machineKey && signedBy(v, "selfSignature", machineKey);
    case NSID.receipt:
      return signedBy(v, "enclaveSignature", machineKey);
    default:
      return false;
  }
}

/**
 * Why the machine may not make this write, or null when it may. `existing` is the record now at
 * the write's rkey (null: none; undefined: not looked up, only allowed for a create without rkey).
 */
export function deviceWriteProblem(w: DeviceWrite, machineKey: string, existing: unknown): DeviceWriteRefusal | null {
  if (!DEVICE_COLLECTIONS.includes(w.collection)) {
    return { code: "collection_not_allowed", message: `a paired machine writes only ${DEVICE_COLLECTIONS.join(", ")}; not ${w.collection}` };
  }
  if (w.action !== "delete") {
    const v = w.value as Record<string, unknown> | undefined;
    if (!v || typeof v !== "object" || Array.isArray(v)) return { code: "invalid_record", message: "the write has no record value" };
    if (v.$type !== undefined && v.$type !== w.collection) return { code: "invalid_record", message: `the record's $type is not ${w.collection}` };
    if (!isMachineRecord(w.collection, v, machineKey)) return { code: "not_this_machine", message: `the ${w.collection} record is not bound to this machine's key` };
  }
  if (existing !== null && existing !== undefined && !isMachineRecord(w.collection, existing, machineKey)) {
    return { code: "not_this_machine", message: `${w.collection}/${w.rkey ?? ""} belongs to another machine` };
  }
  if (existing === undefined && (w.action !== "create" || w.rkey !== undefined)) {
    throw new Error("deviceWriteProblem: the record at the rkey must be looked up first");
  }
  return null;
}
