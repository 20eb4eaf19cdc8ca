// The matchmaker's brokerageCountersignature (receipt lexicon, PROTOCOL.md §3): its statement that
// it routed a job to a machine, made at dispatch and copied by the agent into the receipt outside
// the provider-signed bytes. What it signs can be rebuilt from the receipt alone: the canonical
// JSON of { authority, machineId, nonce, job: {uri, cid}, inputCommitment }. The key is published
// as the authority's dev.cocore.compute.brokerageKey record (rkey `self`), so the exchange, the
// client and an auditor check it from public records: one rule, here, for all of them.
import { base64Decode, base64Encode } from "./base64.ts";
import { canonicalBytes } from "./canonical.ts";
import { isValidPublicKey, type SigningKey } from "./keys.ts";
import { NSID, validateRecord } from "./lexicon/index.ts";
import { sign, signatureBytes, verify } from "./signature.ts";

export interface Countersignature {
  authority: string;
  machineId: string;
  nonce: string;
  /** Base64 DER signature (the agent stores it as atproto bytes). */
  sig: string;
}

/** The record key of a matchmaker's brokerageKey record. */
export const BROKERAGE_KEY_RKEY = "self";

/** Where `authority` publishes its countersignature key. */
export function brokerageKeyUri(authority: string): string {
  return `at://${authority}/${NSID.brokerageKey}/${BROKERAGE_KEY_RKEY}`;
}

function payload(c: { authority: string; machineId: string; nonce: string }, job: { uri: string; cid: string }, inputCommitment: string): Uint8Array {
  return canonicalBytes({ authority: c.authority, machineId: c.machineId, nonce: c.nonce, job: { uri: job.uri, cid: job.cid }, inputCommitment });
}

/** Signs the routing of `job` to `machineId` (`nonce`: fresh per countersignature, chosen by the caller). */
export function countersign(
  key: SigningKey,
  c: { authority: string; machineId: string; nonce: string },
  job: { uri: string; cid: string },
  inputCommitment: string,
): Countersignature {
  return { authority: c.authority, machineId: c.machineId, nonce: c.nonce, sig: base64Encode(sign(key, payload(c, job, inputCommitment))) };
}

/** The keys of a brokerageKey record value, each with the window it signs in (ms; until undefined = in use). */
export function brokerageKeys(value: Record<string, unknown>): Array<{ publicKey: string; from: number; until?: number }> {
  const out: Array<{ publicKey: string; from: number; until?: number }> = [];
  for (const k of Array.isArray(value.keys) ? (value.keys as Array<Record<string, unknown>>) : []) {
    const from = Date.parse(String(k?.validFrom));
    const until = k?.validUntil === undefined ? undefined : Date.parse(String(k.validUntil));
    if (typeof k?.publicKey === "string" && Number.isFinite(from) && (until === undefined || Number.isFinite(until))) out.push({ publicKey: k.publicKey, from, ...(until !== undefined ? { until } : {}) });
  }
  return out;
}

export interface CountersignatureContext {
  job: { uri: string; cid: string };
  inputCommitment: string;
  /** The provider DID the work is attributed to: the machineId, an at:// URI, must be in its repo. */
  provider?: string;
  /**
   * When the countersignature was made lies in [from, to] (a dispatch happens after the job was
   * written and before the work started); a key whose window meets that span may have signed it.
   */
  window: { from: number; to: number };
}

/**
 * Problems with a countersignature (JSON or lex form) against its authority's brokerageKey record
 * (as found at brokerageKeyUri(authority); absent: undefined). Empty when it holds.
 */
export function countersignatureProblems(cs: unknown, keyRecord: { uri?: string; value: Record<string, unknown> } | undefined, ctx: CountersignatureContext): string[] {
  const c = cs as { authority?: unknown; machineId?: unknown; nonce?: unknown; sig?: unknown } | undefined;
  if (!c || typeof c !== "object" || typeof c.authority !== "string" || typeof c.machineId !== "string" || typeof c.nonce !== "string") {
    return ["the brokerageCountersignature lacks authority, machineId or nonce"];
  }
  const sig = typeof c.sig === "string" ? decodeOrNull(c.sig) : signatureBytes(c.sig);
  if (!sig) return ["the brokerageCountersignature has no signature bytes"];
  if (!keyRecord) return [`${c.authority} publishes no brokerage key (${brokerageKeyUri(c.authority)})`];
  const out: string[] = [];
  if (keyRecord.uri !== undefined && keyRecord.uri !== brokerageKeyUri(c.authority)) out.push(`the key record ${keyRecord.uri} is not ${c.authority}'s brokerage key`);
  const valid = validateRecord(NSID.brokerageKey, keyRecord.value);
  if (!valid.ok) out.push(`the brokerage key record does not match its lexicon: ${valid.message}`);
  const machineRepo = /^at:\/\/([^/]+)\//.exec(c.machineId)?.[1];
  if (ctx.provider !== undefined && machineRepo !== undefined && machineRepo !== ctx.provider) {
    out.push(`the countersignature routes the job to ${c.machineId}, not to a machine of ${ctx.provider}`);
  }
  const bytes = payload({ authority: c.authority, machineId: c.machineId, nonce: c.nonce }, ctx.job, ctx.inputCommitment);
  const keys = brokerageKeys(keyRecord.value).filter((k) => isValidPublicKey(k.publicKey) && k.from <= ctx.window.to && (k.until === undefined || k.until >= ctx.window.from));
  if (!keys.some((k) => verify(k.publicKey, bytes, sig))) {
    out.push(keys.length === 0 ? `no key of ${c.authority} was valid when the job was dispatched` : `the countersignature does not verify under ${c.authority}'s published key for this job and input`);
  }
  return out;
}

function decodeOrNull(text: string): Uint8Array | null {
  try {
    return base64Decode(text);
  } catch {
    return null;
  }
}
