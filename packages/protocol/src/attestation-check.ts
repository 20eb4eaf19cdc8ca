// What a provider's attestation record proves, checked the same way wherever a key is trusted: by
// the client before it seals a prompt to a machine, by the matchmaker when it routes on trust,
// and by receipt verification. Pure: the time is an input.
import { recordCid } from "./cid.ts";
import { isValidPublicKey } from "./keys.ts";
import { NSID, validateRecord } from "./lexicon/index.ts";
import { signatureBytes, signingPayload, verify } from "./signature.ts";

export type TrustLevel = "self-attested" | "hardware-attested";

/**
 * The trust level an attestation establishes. Hardware evidence (a secure-enclave key, an MDA
 * certificate chain) is not verified by cocore yet, and a key kept in a file and signing its own
 * posture proves nothing about the hardware: every attestation is self-attested, whatever its
 * fields claim.
 */
export function trustLevelOf(_attestation: Record<string, unknown>): TrustLevel {
  return "self-attested";
}

/**
 * Whether a level meets a job's acceptedTrustLevel: `self-attested` accepts any machine,
 * `hardware-attested` only a hardware-attested one; a value we do not know accepts nothing (a
 * requirement we cannot judge is not met).
 */
export function meetsTrustLevel(level: TrustLevel, accepted: string | undefined): boolean {
  if (accepted === undefined || accepted === "self-attested") return true;
  if (accepted === "hardware-attested") return level === "hardware-attested";
  return false;
}

export interface AttestationProblem {
  code: "attestation-invalid" | "attestation-expired" | "attestation-key-mismatch" | "trust-level-unmet";
  message: string;
}

/**
 * An attestation as fetched from its owner's repo, against what someone offers in its name: it
 * must be the record at `cid` (recomputed), in `provider`'s repo, lexicon-valid, signed by its own
 * publicKey, valid at `at`, attest the keys offered, and meet the trust level asked for.
 */
export function checkAttestation(
  att: { uri: string; cid?: string; value: Record<string, unknown> },
  expect: { provider: string; at: number; encryptionPubKey?: string; publicKey?: string; acceptedTrustLevel?: string },
): AttestationProblem[] {
  const out: AttestationProblem[] = [];
  const v = att.value;
  const repo = /^at:\/\/([^/]+)\/([^/]+)\//.exec(att.uri);
  if (!repo || repo[2] !== NSID.attestation) out.push({ code: "attestation-invalid", message: `${att.uri} is not an attestation record` });
  else if (repo[1] !== expect.provider) out.push({ code: "attestation-invalid", message: `the attestation is in ${repo[1]}'s repo, not the provider ${expect.provider}'s` });
  const cid = recordCid(v);
  if (att.cid !== undefined && cid !== att.cid) out.push({ code: "attestation-invalid", message: `the attestation's content hashes to ${cid}, not the ${att.cid} it was offered as` });
  const valid = validateRecord(NSID.attestation, v);
  if (!valid.ok) out.push({ code: "attestation-invalid", message: `the attestation does not match its lexicon: ${valid.message}` });
  const publicKey = typeof v.publicKey === "string" ? v.publicKey : undefined;
  const sig = signatureBytes(v.selfSignature);
  let signed = false;
  try {
    signed = publicKey !== undefined && isValidPublicKey(publicKey) && sig !== null && verify(publicKey, signingPayload(v, "selfSignature"), sig);
  } catch {
    signed = false;
  }
  if (!signed) out.push({ code: "attestation-invalid", message: "the attestation's selfSignature does not verify under its publicKey" });
  const from = Date.parse(String(v.attestedAt));
  const until = Date.parse(String(v.expiresAt));
  if (!(expect.at >= from && expect.at <= until)) out.push({ code: "attestation-expired", message: `${new Date(expect.at).toISOString()} is outside the attestation's window [${String(v.attestedAt)}, ${String(v.expiresAt)}]` });
  if (expect.encryptionPubKey !== undefined && v.encryptionPubKey !== expect.encryptionPubKey) {
    out.push({ code: "attestation-key-mismatch", message: "the encryption key offered is not the one the provider's attestation states" });
  }
  if (expect.publicKey !== undefined && publicKey !== expect.publicKey) {
    out.push({ code: "attestation-key-mismatch", message: "the signing key offered is not the one the provider's attestation states" });
  }
  const level = trustLevelOf(v);
  if (!meetsTrustLevel(level, expect.acceptedTrustLevel)) out.push({ code: "trust-level-unmet", message: `the machine is ${level}; ${expect.acceptedTrustLevel} was asked for` });
  return out;
}
