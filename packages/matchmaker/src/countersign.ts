// brokerageCountersignature (receipt lexicon, PROTOCOL.md §3): the matchmaker vouches that it routed
// a job to a machine. It is made at dispatch time and travels to the agent with the job; the agent
// copies it into the receipt outside the provider-signed bytes. What it signs can be rebuilt from
// the receipt alone: canonical JSON of { authority, machineId, nonce, job: {uri,cid}, inputCommitment }.
// The key is a P-256 key of the matchmaker's (published at GET /v1/identity), not the DID's repo key,
// which a PDS-hosted account does not hold.
import { randomBytes } from "node:crypto";
import { base64Encode, canonicalBytes, sign, signatureBytes, verify, type SigningKey } from "@cocore/protocol";

export interface Countersignature {
  authority: string;
  machineId: string;
  nonce: string;
  /** Base64 DER signature (the agent stores it as atproto bytes). */
  sig: string;
}

function payload(c: { authority: string; machineId: string; nonce: string }, job: { uri: string; cid: string }, inputCommitment: string): Uint8Array {
  return canonicalBytes({ authority: c.authority, machineId: c.machineId, nonce: c.nonce, job: { uri: job.uri, cid: job.cid }, inputCommitment });
}

export function countersign(
  key: SigningKey,
  authority: string,
  machineId: string,
  job: { uri: string; cid: string },
  inputCommitment: string,
): Countersignature {
  const nonce = randomBytes(16).toString("hex");
  const sig = sign(key, payload({ authority, machineId, nonce }, job, inputCommitment));
  return { authority, machineId, nonce, sig: base64Encode(sig) };
}

/**
 * Checks a receipt's brokerageCountersignature against the matchmaker's published key. The
 * receipt may be in JSON form ({"$bytes"}) or lex form (Uint8Array).
 */
export function verifyCountersignature(receipt: Record<string, unknown>, publicKey: string): boolean {
  const c = receipt.brokerageCountersignature as { authority?: unknown; machineId?: unknown; nonce?: unknown; sig?: unknown } | undefined;
  const job = receipt.job as { uri?: unknown; cid?: unknown } | undefined;
  if (!c || !job || typeof c.authority !== "string" || typeof c.machineId !== "string" || typeof c.nonce !== "string") return false;
  if (typeof job.uri !== "string" || typeof job.cid !== "string" || typeof receipt.inputCommitment !== "string") return false;
  const sig = typeof c.sig === "string" ? Buffer.from(c.sig, "base64") : signatureBytes(c.sig);
  if (!sig) return false;
  return verify(publicKey, payload({ authority: c.authority, machineId: c.machineId, nonce: c.nonce }, { uri: job.uri, cid: job.cid }, receipt.inputCommitment), sig);
}
