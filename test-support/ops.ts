// Record operations for tests and benches that feed the exchange directly: the values of
// records.ts, signed where the protocol signs them, as the create ops the firehose would deliver.
import { randomBytes } from "node:crypto";
import { base64Encode, generateEncryptionKeyPair, inputCommitment, signRecord, type SigningKey } from "@cocore/protocol";
import { createOp, type IngestOp } from "@cocore/exchange";
import { attestationValue, authorizationValue, jobValue } from "./records.ts";

const DAY = 86_400_000;

/** A provider's self-signed attestation, valid from a day before `t0` for 30 days after it. */
export function signedAttestationOp(did: string, key: SigningKey, t0: number): IngestOp {
  const value = attestationValue({
    publicKey: key.publicKey,
    encryptionPubKey: base64Encode(generateEncryptionKeyPair().publicKey),
    attestedAt: t0 - DAY,
    expiresAt: t0 + 30 * DAY,
  });
  return createOp(did, "dev.cocore.compute.attestation", signRecord(value, "selfSignature", key));
}

/** A requester's single-job authorization and a job naming it (with a fresh input commitment). */
export function authorizedJobOps(requester: string, o: { exchange: string; ceiling: number; at: number }): { auth: IngestOp; job: IngestOp; commitment: string } {
  const auth = createOp(requester, "dev.cocore.compute.paymentAuthorization", authorizationValue(o));
  const commitment = inputCommitment(randomBytes(16));
  const job = createOp(requester, "dev.cocore.compute.job", jobValue({ ...o, inputCommitment: commitment, paymentAuthorization: { uri: auth.uri, cid: auth.cid! } }));
  return { auth, job, commitment };
}
