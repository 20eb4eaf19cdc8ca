// Plain record values for tests and benches: one place that knows what a well-formed
// attestation, payment authorization and job look like, so fixtures cannot drift apart.
import { randomBytes } from "node:crypto";
import { outputCommitment } from "@cocore/protocol";

const iso = (ms: number) => new Date(ms).toISOString();

/** An unsigned attestation for a test host; sign it with signRecord(value, "selfSignature", key). */
export function attestationValue(o: { publicKey: string; encryptionPubKey: string; attestedAt: number; expiresAt: number }): Record<string, unknown> {
  return {
    $type: "dev.cocore.compute.attestation",
    publicKey: o.publicKey,
    encryptionPubKey: o.encryptionPubKey,
    sigScheme: "p256",
    encScheme: "x25519",
    chipName: "Test CPU",
    hardwareModel: "test machine",
    serialNumberHash: "a".repeat(64),
    osVersion: "Debian 12",
    binaryHash: "b".repeat(64),
    sipEnabled: false,
    secureBootEnabled: false,
    secureEnclaveAvailable: false,
    authenticatedRootEnabled: false,
    attestedAt: iso(o.attestedAt),
    expiresAt: iso(o.expiresAt),
  };
}

/** A single-job authorization created at `at`, valid for a day. */
export function authorizationValue(o: { exchange: string; ceiling: number; at: number; nonce?: string }): Record<string, unknown> {
  return {
    $type: "dev.cocore.compute.paymentAuthorization",
    exchange: o.exchange,
    ceiling: { amount: o.ceiling, currency: "TOK" },
    scope: "singleJob",
    nonce: o.nonce ?? randomBytes(16).toString("hex"),
    expiresAt: iso(o.at + 86_400_000),
    createdAt: iso(o.at),
  };
}

/** A job created at `at`, expiring an hour later. */
export function jobValue(o: {
  exchange: string;
  ceiling: number;
  at: number;
  inputCommitment: string;
  paymentAuthorization: { uri: string; cid: string };
  model?: string;
  maxTokensOut?: number;
  acceptedProviders?: string[];
}): Record<string, unknown> {
  return {
    $type: "dev.cocore.compute.job",
    model: o.model ?? "m",
    inputCommitment: o.inputCommitment,
    maxTokensOut: o.maxTokensOut ?? 1000,
    priceCeiling: { amount: o.ceiling, currency: "TOK" },
    acceptedTrustLevel: "self-attested",
    acceptedExchanges: [o.exchange],
    ...(o.acceptedProviders && { acceptedProviders: o.acceptedProviders }),
    paymentAuthorization: o.paymentAuthorization,
    nonce: randomBytes(16).toString("hex"),
    expiresAt: iso(o.at + 3_600_000),
    createdAt: iso(o.at),
  };
}

/** An unsigned receipt by the provider of `attestation` for `job`, priced at tokens in + out. */
export function receiptValue(o: {
  job: { uri: string; cid: string };
  requester: string;
  inputCommitment: string;
  tokens: { in: number; out: number };
  startedAt: number;
  completedAt: number;
  attestation: { uri: string; cid: string };
  proBono?: boolean;
}): Record<string, unknown> {
  return {
    $type: "dev.cocore.compute.receipt",
    job: { uri: o.job.uri, cid: o.job.cid },
    requester: o.requester,
    model: "m",
    inputCommitment: o.inputCommitment,
    outputCommitment: outputCommitment("y"),
    tokens: o.tokens,
    startedAt: iso(o.startedAt),
    completedAt: iso(o.completedAt),
    price: { amount: o.tokens.in + o.tokens.out, currency: "TOK" },
    attestation: { uri: o.attestation.uri, cid: o.attestation.cid },
    ...(o.proBono ? { proBono: true } : {}),
  };
}
