// Builds a fresh, fully valid receipt bundle with our own keys, for tests that break one thing.
import { recordCid } from "../src/cid.ts";
import { inputCommitment, outputCommitment } from "../src/commitment.ts";
import { generateSigningKey, type SigningKey } from "../src/keys.ts";
import { generateEncryptionKeyPair, seal } from "../src/seal.ts";
import { signRecord } from "../src/signature.ts";
import type { ReceiptBundle } from "../src/verify-receipt.ts";
import { base64Encode } from "../src/base64.ts";
import { attestationValue } from "../../../test-support/records.ts";

export const REQUESTER = "did:plc:requester0000000000000a";
export const PROVIDER = "did:plc:provider00000000000000b";
export const EXCHANGE = "did:plc:exchange00000000000000c";

export interface Built {
  bundle: ReceiptBundle;
  key: SigningKey;
  /** Re-sign the attestation and receipt and refresh cids and strong-refs after edits. */
  reseal(bundle: ReceiptBundle, opts?: RelinkOptions): ReceiptBundle;
}

type Rec = Record<string, unknown>;

function ref(uri: string, value: Rec) {
  return { uri, cid: recordCid(value)!, value };
}

/** Recompute cids, strong-refs and signatures so that only the deliberate breakage remains. */
export interface RelinkOptions {
  /** Leave receipt.job, receipt.attestation and job.paymentAuthorization as they are. */
  keepRefs?: boolean;
  /** Key for the attestation's selfSignature; null keeps the current signature. */
  attestationKey?: SigningKey | null;
  /** Key for the receipt's enclaveSignature; null keeps the current signature. */
  receiptKey?: SigningKey | null;
}

export function relink(bundle: ReceiptBundle, key: SigningKey, opts: RelinkOptions = {}): ReceiptBundle {
  // Re-signing changes the attestation's cid (ECDSA is randomised), which would break refs kept as they are.
  const attestationKey = opts.attestationKey === undefined ? (opts.keepRefs ? null : key) : opts.attestationKey;
  const receiptKey = opts.receiptKey === undefined ? key : opts.receiptKey;
  const out = structuredClone(bundle);
  if (out.paymentAuthorization) out.paymentAuthorization.cid = recordCid(out.paymentAuthorization.value)!;
  if (out.policy) out.policy.cid = recordCid(out.policy.value)!;
  if (!opts.keepRefs && out.paymentAuthorization) {
    out.job.value.paymentAuthorization = { uri: out.paymentAuthorization.uri, cid: out.paymentAuthorization.cid };
  }
  out.job.cid = recordCid(out.job.value)!;
  if (attestationKey) out.attestation.value = signRecord(out.attestation.value, "selfSignature", attestationKey);
  out.attestation.cid = recordCid(out.attestation.value)!;
  if (!opts.keepRefs) {
    out.receipt.value.job = { uri: out.job.uri, cid: out.job.cid };
    out.receipt.value.attestation = { uri: out.attestation.uri, cid: out.attestation.cid };
  }
  if (receiptKey) out.receipt.value = signRecord(out.receipt.value, "enclaveSignature", receiptKey);
  out.receipt.cid = recordCid(out.receipt.value)!;
  return out;
}

export function buildBundle(): Built {
  const key = generateSigningKey();
  const enc = generateEncryptionKeyPair();
  const sealed = seal(Buffer.from("tell me a fortune"), enc.publicKey).sealed;
  const policy: Rec = {
    $type: "dev.cocore.compute.exchangePolicy",
    exchange: EXCHANGE,
    active: true,
    fee: { bps: 500, minMinor: 0, currency: "TOK" },
    supportedCurrencies: ["TOK"],
    selfLoop: { feeWaived: true },
    tokenRate: { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" },
    tokenGrant: 1_000_000,
    tokenFloor: 100_000,
    createdAt: "2026-11-19T12:00:00.000Z",
  };
  const auth: Rec = {
    $type: "dev.cocore.compute.paymentAuthorization",
    exchange: EXCHANGE,
    ceiling: { amount: 5000, currency: "TOK" },
    scope: "singleJob",
    nonce: "0123456789abcdef0123456789abcdef",
    expiresAt: "2026-11-20T13:00:00.000Z",
    createdAt: "2026-11-20T11:59:00.000Z",
  };
  const job: Rec = {
    $type: "dev.cocore.compute.job",
    model: "fortunes-char",
    inputCommitment: inputCommitment(sealed),
    maxTokensOut: 64,
    priceCeiling: { amount: 5000, currency: "TOK" },
    acceptedTrustLevel: "self-attested",
    acceptedExchanges: [EXCHANGE],
    acceptedProviders: [PROVIDER],
    paymentAuthorization: { uri: "", cid: "" },
    nonce: "fedcba9876543210fedcba9876543210",
    expiresAt: "2026-11-20T12:10:00.000Z",
    createdAt: "2026-11-20T11:59:30.000Z",
  };
  const attestation: Rec = attestationValue({
    publicKey: key.publicKey,
    encryptionPubKey: base64Encode(enc.publicKey),
    attestedAt: Date.parse("2026-11-20T11:00:00.000Z"),
    expiresAt: Date.parse("2026-11-21T11:00:00.000Z"),
  });
  const receipt: Rec = {
    $type: "dev.cocore.compute.receipt",
    job: { uri: "", cid: "" },
    requester: REQUESTER,
    model: "fortunes-char",
    inputCommitment: inputCommitment(sealed),
    outputCommitment: outputCommitment("You will write many tests."),
    tokens: { in: 40, out: 64 },
    startedAt: "2026-11-20T12:00:00.000Z",
    completedAt: "2026-11-20T12:00:02.000Z",
    price: { amount: 104, currency: "TOK" },
    attestation: { uri: "", cid: "" },
  };
  const bundle: ReceiptBundle = {
    receipt: ref(`at://${PROVIDER}/dev.cocore.compute.receipt/3n36z2uc5mg2b`, receipt),
    job: ref(`at://${REQUESTER}/dev.cocore.compute.job/3n36z2uc3nu2b`, job),
    attestation: ref(`at://${PROVIDER}/dev.cocore.compute.attestation/3n36z2uc5mf2b`, attestation),
    paymentAuthorization: ref(`at://${REQUESTER}/dev.cocore.compute.paymentAuthorization/3n36z2ubxqt2b`, auth),
    policy: ref(`at://${EXCHANGE}/dev.cocore.compute.exchangePolicy/3n36z2ubvsc2b`, policy),
  };
  return { bundle: relink(bundle, key), key, reseal: (b, opts) => relink(b, key, opts) };
}
