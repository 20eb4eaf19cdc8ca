// A receipt's verification bundle gathered from the public records it points at: the receipt on
// the provider's PDS, the job and its payment authorization on the requester's, the attestation,
// the countersigning matchmaker's brokerageKey, and the policy it settles under. Anyone can do
// this (an explorer, an auditor, a competing exchange): no session and no exchange are needed.
import { getRecord, resolvePds, type IdResolver, type RecordEntry } from "@cocore/atproto";
import { brokerageKeyUri, normalizeBundle, parseAtUri, verifyReceipt, type ReceiptBundle, type VerifyResult } from "@cocore/protocol";
import { ClientError } from "./errors.ts";

/** Reads one public record by URI; null when its repo has no such record. */
export type RecordReader = (uri: string) => Promise<RecordEntry | null>;

/** A reader that finds each repo's PDS from its DID document (cached) and reads without auth. */
export function publicRecordReader(idResolver: IdResolver): RecordReader {
  const pds = new Map<string, Promise<string>>();
  return async (uri) => {
    const p = parseAtUri(uri);
    if (!p) throw new ClientError("invalid_uri", `${uri} is not a record URI (at://did/collection/rkey).`);
    let url = pds.get(p.did);
    if (!url) {
      url = resolvePds(idResolver, p.did);
      pds.set(p.did, url);
      url.catch(() => pds.delete(p.did));
    }
    return getRecord(await url, p.did, p.collection, p.rkey);
  };
}

export interface GatheredBundle {
  bundle: ReceiptBundle;
  /** Where each part came from, for links (absent parts were not referenced or not found). */
  sources: { receipt: string; job: string; attestation: string; paymentAuthorization?: string; policy?: string; brokerageKey?: string };
  /** Referenced records that could not be read. */
  missing: string[];
}

const refOf = (v: unknown): { uri: string; cid: string } | undefined => {
  const r = v as { uri?: unknown; cid?: unknown } | undefined;
  return typeof r?.uri === "string" && typeof r.cid === "string" ? { uri: r.uri, cid: r.cid } : undefined;
};

/**
 * Reads the records `receiptUri` refers to. `policy` is the one the receipt settles under when
 * known (its settlement names it), else the caller's choice (the exchange's current policy).
 * Throws ClientError receipt_missing / job_missing / attestation_missing when a part the verdict
 * cannot do without is not there.
 */
export async function gatherReceiptBundle(read: RecordReader, receiptUri: string, o: { policy?: RecordEntry } = {}): Promise<GatheredBundle> {
  const receipt = await read(receiptUri);
  if (!receipt) throw new ClientError("receipt_missing", `No receipt at ${receiptUri}.`);
  const jobRef = refOf(receipt.value.job);
  const attRef = refOf(receipt.value.attestation);
  if (!jobRef) throw new ClientError("invalid_receipt", `The receipt ${receiptUri} names no job.`);
  if (!attRef) throw new ClientError("invalid_receipt", `The receipt ${receiptUri} names no attestation.`);
  const authority = (receipt.value.brokerageCountersignature as { authority?: unknown } | undefined)?.authority;
  const keyUri = typeof authority === "string" ? brokerageKeyUri(authority) : undefined;
  const missing: string[] = [];
  const optional = (uri: string | undefined) =>
    uri
      ? read(uri).then(
          (r) => (r ?? (missing.push(uri), null)),
          () => (missing.push(uri), null),
        )
      : Promise.resolve(null);
  const [job, attestation, brokerageKey] = await Promise.all([read(jobRef.uri), read(attRef.uri), optional(keyUri)]);
  if (!job) throw new ClientError("job_missing", `The receipt's job ${jobRef.uri} is not on the requester's PDS.`);
  if (!attestation) throw new ClientError("attestation_missing", `The receipt's attestation ${attRef.uri} is not on the provider's PDS.`);
  const authUri = refOf(job.value.paymentAuthorization)?.uri;
  const paymentAuthorization = await optional(authUri);
  const bundle = normalizeBundle({
    receipt,
    job,
    attestation,
    ...(paymentAuthorization ? { paymentAuthorization } : {}),
    ...(o.policy ? { policy: o.policy } : {}),
    ...(brokerageKey ? { brokerageKey } : {}),
  });
  return {
    bundle,
    sources: {
      receipt: receipt.uri,
      job: job.uri,
      attestation: attestation.uri,
      ...(paymentAuthorization ? { paymentAuthorization: paymentAuthorization.uri } : {}),
      ...(o.policy ? { policy: o.policy.uri } : {}),
      ...(brokerageKey ? { brokerageKey: brokerageKey.uri } : {}),
    },
    missing,
  };
}

/** The protocol core's verdict on a gathered bundle, as a third party sees it. */
export function verifyGathered(g: GatheredBundle, exchange?: string): VerifyResult {
  return verifyReceipt(g.bundle, {
    ...(exchange ? { exchange } : {}),
    // A countersigned receipt whose key record cannot be read is not judged as valid by default.
    requireCountersignature: g.bundle.receipt.value.brokerageCountersignature !== undefined,
  });
}
