// The machine's dev.cocore.compute.attestation: a self-signed statement of its keys and posture,
// valid for 24 h (cocore.dev's window) and renewed well before it lapses, because a receipt whose
// completedAt falls outside its attestation's window does not verify (PROTOCOL.md §5.6).
import { base64Encode, fromJsonRecord, signRecord, verifyRecordSignature, type SigningKey } from "@cocore/protocol";
import { createRecord, type Agent, type RecordRef } from "@cocore/atproto";
import { clip128, serialNumberHash, type HostFacts } from "./host.ts";

export const ATTESTATION_COLLECTION = "dev.cocore.compute.attestation";
export const ATTESTATION_VALIDITY_MS = 24 * 60 * 60 * 1000;

export interface AttestationInput {
  signingKey: SigningKey;
  encryptionPublicKey: Uint8Array;
  host: HostFacts;
  serialSalt: string;
  binaryHash: string;
  now: Date;
  validityMs?: number;
}

export interface PublishedAttestation extends RecordRef {
  attestedAt: string;
  expiresAt: string;
  value: Record<string, unknown>;
}

/** The signed record value (selfSignature in JSON form so it survives JSON round trips). */
export function buildAttestation(input: AttestationInput): Record<string, unknown> {
  const attestedAt = input.now.toISOString();
  const expiresAt = new Date(input.now.getTime() + (input.validityMs ?? ATTESTATION_VALIDITY_MS)).toISOString();
  const unsigned = {
    $type: ATTESTATION_COLLECTION,
    publicKey: input.signingKey.publicKey,
    encryptionPubKey: base64Encode(input.encryptionPublicKey),
    sigScheme: "p256",
    encScheme: "x25519",
    chipName: clip128(input.host.chip),
    hardwareModel: clip128(input.host.hardwareModel),
    serialNumberHash: serialNumberHash(input.serialSalt, input.host.machineId),
    osVersion: clip128(input.host.osVersion),
    binaryHash: input.binaryHash,
    sipEnabled: input.host.sipEnabled,
    secureBootEnabled: input.host.secureBootEnabled,
    // The signing key is a file in the state directory, not a hardware key store.
    secureEnclaveAvailable: false,
    authenticatedRootEnabled: input.host.authenticatedRootEnabled,
    attestedAt,
    expiresAt,
    tier: "best-effort",
  };
  const signed = signRecord(unsigned, "selfSignature", input.signingKey);
  return { ...signed, selfSignature: { $bytes: base64Encode(signed.selfSignature) } };
}

export async function publishAttestation(agent: Agent, input: AttestationInput): Promise<PublishedAttestation> {
  const value = buildAttestation(input);
  const ref = await createRecord(agent, ATTESTATION_COLLECTION, value);
  return { ...ref, value, attestedAt: value.attestedAt as string, expiresAt: value.expiresAt as string };
}

/** Renew when less than this fraction of the window is left (about 6 h of a 24 h window). */
export function attestationNeedsRenewal(att: { attestedAt: string; expiresAt: string }, now: Date, marginMs?: number): boolean {
  const start = Date.parse(att.attestedAt);
  const end = Date.parse(att.expiresAt);
  const margin = marginMs ?? Math.max(60_000, (end - start) / 4);
  return now.getTime() >= end - margin;
}

/** Whether an attestation value (JSON or lex form) carries a valid selfSignature by its publicKey. */
export function verifyAttestationSignature(value: Record<string, unknown>): boolean {
  const lex = fromJsonRecord(value) as Record<string, unknown>;
  return typeof lex.publicKey === "string" && verifyRecordSignature(lex, "selfSignature", lex.publicKey);
}
