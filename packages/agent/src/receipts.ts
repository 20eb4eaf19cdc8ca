// Building and signing a dev.cocore.compute.receipt (PROTOCOL.md §3, §4). The value is produced in
// atproto JSON form ({"$bytes"}) so it can sit in the JSONL queue and be written as is; the CID is
// computed locally from the lex form, so the strong-ref is known before the PDS write.
import { base64Decode, base64Encode, fromJsonRecord, outputCommitment, recordCid, signRecord, tokenRatePrice, type SigningKey } from "@cocore/protocol";
import type { BrokerageCountersignature, StrongRef, TokenCounts } from "./matchmaker-protocol.ts";
import type { TokenRate } from "./policy.ts";

export interface ReceiptParams {
  maxTokens: number;
  seed?: number;
  temperatureMilli: number;
  topPMilli: number;
  /** receipt params.outputSchemaHash / toolSchemaHash (@cocore/protocol job-work.ts), when the job has them. */
  outputSchemaHash?: string;
  toolSchemaHash?: string;
}

export interface ReceiptInput {
  job: StrongRef;
  requester: string;
  model: string;
  inputCommitment: string;
  output: string;
  /** SHA-256 hex of the sealed reply frames as delivered (matchmaker-protocol.ts, "Output sealing"). */
  outputCipherCommitment?: string;
  /** Exact counts metered by the engine. */
  tokens: TokenCounts;
  startedAt: string;
  completedAt: string;
  rate: TokenRate;
  attestation: StrongRef;
  params: ReceiptParams;
  proBono: boolean;
  brokerageCountersignature?: BrokerageCountersignature;
  signingKey: SigningKey;
}

export interface BuiltReceipt {
  /** atproto JSON form, ready to write. */
  value: Record<string, unknown>;
  cid: string;
  /** What the receipt states (pro bono: zero). */
  tokens: TokenCounts;
  price: { amount: number; currency: string };
}

export function buildReceipt(input: ReceiptInput): BuiltReceipt {
  // Pro bono receipts state zero tokens and zero price (receipt lexicon: nothing is settled).
  const tokens = input.proBono ? { in: 0, out: 0 } : { in: input.tokens.in, out: input.tokens.out };
  const price = { amount: input.proBono ? 0 : tokenRatePrice(input.rate, tokens), currency: input.rate.currency };
  const params: Record<string, number | string> = {
    maxTokens: input.params.maxTokens,
    temperatureMilli: input.params.temperatureMilli,
    topPMilli: input.params.topPMilli,
  };
  if (input.params.seed !== undefined) params.seed = input.params.seed;
  if (input.params.outputSchemaHash !== undefined) params.outputSchemaHash = input.params.outputSchemaHash;
  if (input.params.toolSchemaHash !== undefined) params.toolSchemaHash = input.params.toolSchemaHash;
  const unsigned: Record<string, unknown> = {
    $type: "dev.cocore.compute.receipt",
    job: { uri: input.job.uri, cid: input.job.cid },
    requester: input.requester,
    model: input.model,
    inputCommitment: input.inputCommitment,
    outputCommitment: outputCommitment(input.output),
    ...(input.outputCipherCommitment !== undefined && { outputCipherCommitment: input.outputCipherCommitment }),
    tokens,
    startedAt: input.startedAt,
    completedAt: input.completedAt,
    price,
    attestation: { uri: input.attestation.uri, cid: input.attestation.cid },
    params,
    tier: "best-effort",
  };
  if (input.proBono) unsigned.proBono = true;
  const signed = signRecord(unsigned, "enclaveSignature", input.signingKey);
  const value: Record<string, unknown> = { ...signed, enclaveSignature: { $bytes: base64Encode(signed.enclaveSignature) } };
  if (input.brokerageCountersignature) {
    const b = input.brokerageCountersignature;
    value.brokerageCountersignature = { authority: b.authority, machineId: b.machineId, nonce: b.nonce, sig: { $bytes: base64Encode(base64Decode(b.sig)) } };
  }
  const cid = recordCid(fromJsonRecord(value));
  if (!cid) throw new Error("receipt has no dag-cbor form");
  return { value, cid, tokens, price };
}

const DID = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/;

/**
 * Whether a countersignature fits the receipt lexicon (#brokerageCountersignature): checked before
 * the engine runs, so that a malformed one from the matchmaker is dropped rather than making the
 * receipt invalid (or buildReceipt throw) after the work is done.
 */
export function isValidCountersignature(c: unknown): c is BrokerageCountersignature {
  if (!c || typeof c !== "object") return false;
  const b = c as Record<string, unknown>;
  if (typeof b.authority !== "string" || b.authority.length > 2048 || !DID.test(b.authority)) return false;
  if (typeof b.machineId !== "string" || b.machineId.length === 0 || Buffer.byteLength(b.machineId) > 256) return false;
  if (typeof b.nonce !== "string" || b.nonce.length === 0 || Buffer.byteLength(b.nonce) > 128) return false;
  if (typeof b.sig !== "string" || b.sig.length === 0 || b.sig.length > 344) return false;
  try {
    const sig = base64Decode(b.sig);
    return sig.length > 0 && sig.length <= 256;
  } catch {
    return false;
  }
}

/** Whether this requester is served for free under the provider record's proBono election. */
export function isProBono(election: unknown, requester: string): boolean {
  const e = election as { mode?: unknown; dids?: unknown } | undefined;
  if (!e || typeof e !== "object") return false;
  if (e.mode === "any") return true;
  if (e.mode === "direct") return Array.isArray(e.dids) && e.dids.includes(requester);
  return false;
}
