// A receipt's path from stored records to the facts the ledger decides on (README: "A receipt's
// path", steps 1–2): candidacy (are its parts here, is it ours, is it dated sanely) and judgement
// (verifyReceipt under the policy in force at completedAt).
import { brokerageKeyUri } from "../brokerage.ts";
import { NSID } from "../lexicon/index.ts";
import { verifyReceipt, type Finding, type ReceiptBundle, type VerifyOptions, type VerifyResult } from "../verify-receipt.ts";
import type { LedgerStore, RecordRow } from "./store.ts";
import type { Timeline } from "./timeline.ts";

/** What a verified receipt contributes to the ledger, fixed when it is decided. */
export interface ReceiptFacts {
  uri: string;
  cid: string;
  requester: string;
  provider: string;
  jobUri: string;
  price: number;
  currency: string;
  tokens: { in: number; out: number };
  proBono: boolean;
  completedAt: number;
  /** The signing key of the machine that did the work (its attestation's publicKey). */
  machineKey?: string;
  /** The matchmaker whose brokerageCountersignature the receipt carries (verified against its published key). */
  countersignedBy?: string;
  /** The payment authorization (absent only for a replay's pre-verified receipt events). */
  auth: { uri: string; cid: string; nonce: string; scope: string; sessionBudget: number | null } | null;
}

export type Verify = (bundle: ReceiptBundle, options: VerifyOptions) => VerifyResult;

/** How far past the time the exchange first saw a receipt its completedAt may lie. */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;

/** Strong-ref mismatches: a newer version of the implicated record may clear them. */
const STALE_REF_CODES: ReadonlySet<string> = new Set(["job-mismatch", "attestation-invalid", "authorization-invalid", "countersignature-invalid"]);

export function str(v: unknown, key: string): string | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const x = (v as Record<string, unknown>)[key];
  return typeof x === "string" ? x : undefined;
}

export function objOf(v: unknown, key: string): Record<string, unknown> | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const x = (v as Record<string, unknown>)[key];
  return x !== null && typeof x === "object" && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;
}

export function intOf(v: unknown, key: string): number | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const x = (v as Record<string, unknown>)[key];
  return typeof x === "number" && Number.isSafeInteger(x) ? x : undefined;
}

export function repoOf(uri: string | undefined): string | undefined {
  const m = uri ? /^at:\/\/([^/]+)\//.exec(uri) : null;
  return m ? m[1] : undefined;
}

const live = (r: RecordRow | undefined): RecordRow | undefined => (r && r.status !== "deleted" ? r : undefined);

export interface ReceiptParts {
  receipt: RecordRow;
  job?: RecordRow;
  attestation?: RecordRow;
  auth?: RecordRow;
  /** The countersigning matchmaker's brokerageKey record, when the receipt is countersigned. */
  brokerageKey?: RecordRow;
  jobUri: string;
  attUri: string;
  authUri: string | undefined;
  brokerageKeyUri: string | undefined;
}

export async function loadParts(store: LedgerStore, receipt: RecordRow): Promise<ReceiptParts> {
  const jobUri = str(objOf(receipt.value, "job"), "uri") ?? "";
  const attUri = str(objOf(receipt.value, "attestation"), "uri") ?? "";
  const job = jobUri ? live(await store.record(jobUri)) : undefined;
  const attestation = attUri ? live(await store.record(attUri)) : undefined;
  const authUri = str(objOf(job?.value, "paymentAuthorization"), "uri");
  const auth = authUri ? live(await store.record(authUri)) : undefined;
  const authority = str(objOf(receipt.value, "brokerageCountersignature"), "authority");
  const keyUri = authority && /^did:[a-z]+:[a-zA-Z0-9._:%-]+$/.test(authority) ? brokerageKeyUri(authority) : undefined;
  const brokerageKey = keyUri ? live(await store.record(keyUri)) : undefined;
  return { receipt, job, attestation, auth, brokerageKey, jobUri, attUri, authUri, brokerageKeyUri: keyUri };
}

export type Candidacy =
  | { kind: "pending"; waitingFor: string; reason: string }
  | { kind: "ignored"; reason: string }
  | { kind: "rejected"; findings: Finding[] }
  | { kind: "queued"; completedAt: number };

/** Step 1: whether the receipt can be queued, and if not, why. */
export function candidacy(parts: ReceiptParts, exchange: string): Candidacy {
  const { receipt } = parts;
  if (receipt.status === "rejected") return { kind: "rejected", findings: [{ code: "schema-invalid", message: `receipt: ${receipt.reason ?? "does not match its lexicon"}` }] };
  if (!parts.jobUri || !parts.attUri) return { kind: "rejected", findings: [{ code: "schema-invalid", message: "receipt has no job or attestation reference" }] };
  if (!parts.job) return { kind: "pending", waitingFor: parts.jobUri, reason: "waiting for job" };
  if (!parts.attestation) return { kind: "pending", waitingFor: parts.attUri, reason: "waiting for attestation" };
  if (parts.authUri && !parts.auth) return { kind: "pending", waitingFor: parts.authUri, reason: "waiting for paymentAuthorization" };
  if (parts.auth && str(parts.auth.value, "exchange") !== exchange) return { kind: "ignored", reason: "other-exchange" };
  // A countersigned receipt is judged with its matchmaker's published key, like any other part.
  if (parts.brokerageKeyUri && !parts.brokerageKey) return { kind: "pending", waitingFor: parts.brokerageKeyUri, reason: "waiting for the matchmaker's brokerageKey" };
  const completedAt = Date.parse(str(receipt.value, "completedAt") ?? "");
  if (!Number.isSafeInteger(completedAt)) return { kind: "rejected", findings: [{ code: "schema-invalid", message: "receipt.completedAt is not a datetime" }] };
  if (completedAt > receipt.firstSeen + FUTURE_TOLERANCE_MS) {
    const seen = new Date(receipt.firstSeen).toISOString();
    return { kind: "rejected", findings: [{ code: "completed-in-future", message: `completedAt ${str(receipt.value, "completedAt")} is more than 5 minutes after the exchange first saw the receipt (${seen})` }] };
  }
  return { kind: "queued", completedAt };
}

export type Judgement =
  | { ok: true; facts: ReceiptFacts }
  | { ok: false; findings: Finding[]; waitingFor: string | null }
  | { ok: false; pending: { waitingFor: string; reason: string } };

/** The lexicon verdict of a stored record, when it was stored under the collection the part needs. */
function knownSchema(row: RecordRow | undefined, nsid: string): string | null | undefined {
  if (!row || row.collection !== nsid) return undefined;
  return row.status === "rejected" ? (row.reason ?? "schema-invalid") : null;
}

/**
 * Step 2 (verification part): the receipt against the versions stored now and the policy in force
 * at its completedAt. CIDs are trusted (every stored record came through a verified commit, or had
 * its CID computed from its value), and each record's lexicon verdict from when it was stored is
 * reused.
 */
export function judge(parts: ReceiptParts, exchange: string, timeline: Timeline, verify: Verify = verifyReceipt): Judgement {
  const c = candidacy(parts, exchange);
  if (c.kind === "pending") return { ok: false, pending: { waitingFor: c.waitingFor, reason: c.reason } };
  if (c.kind === "rejected") return { ok: false, findings: c.findings, waitingFor: null };
  if (c.kind === "ignored") return { ok: false, findings: [], waitingFor: null };
  const { receipt, job, attestation, auth } = parts;
  const policy = timeline.at(c.completedAt);
  const bundle: ReceiptBundle = {
    receipt: { uri: receipt.uri, cid: receipt.cid, value: receipt.value },
    job: { uri: job!.uri, cid: job!.cid, value: job!.value },
    attestation: { uri: attestation!.uri, cid: attestation!.cid, value: attestation!.value },
    policy: { uri: policy.uri, cid: policy.cid, value: policy.value },
  };
  if (auth) bundle.paymentAuthorization = { uri: auth.uri, cid: auth.cid, value: auth.value };
  if (parts.brokerageKey) bundle.brokerageKey = { uri: parts.brokerageKey.uri, cid: parts.brokerageKey.cid, value: parts.brokerageKey.value };
  const verdict = verify(bundle, {
    exchange,
    trusted: {
      cids: true,
      schema: {
        receipt: knownSchema(receipt, NSID.receipt),
        job: knownSchema(job, NSID.job),
        attestation: knownSchema(attestation, NSID.attestation),
        ...(auth ? { paymentAuthorization: knownSchema(auth, NSID.paymentAuthorization) } : {}),
        // A policy enters the history only once it has passed its lexicon (machine.ts onPolicy).
        policy: null,
      },
    },
  });
  if (verdict.findings.length > 0) {
    const codes = verdict.findings.map((f) => f.code as string);
    const stale = codes.every((x) => STALE_REF_CODES.has(x));
    const waitingFor = !stale
      ? null
      : codes.includes("attestation-invalid")
        ? parts.attUri
        : codes.includes("authorization-invalid")
          ? (parts.authUri ?? null)
          : codes.includes("countersignature-invalid")
            ? (parts.brokerageKeyUri ?? null)
            : parts.jobUri;
    return { ok: false, findings: verdict.findings, waitingFor };
  }
  const price = objOf(receipt.value, "price")!;
  const tokens = objOf(receipt.value, "tokens")!;
  const budget = objOf(auth!.value, "sessionBudget");
  return {
    ok: true,
    facts: {
      uri: receipt.uri,
      cid: receipt.cid,
      requester: str(receipt.value, "requester")!,
      provider: receipt.did,
      jobUri: parts.jobUri,
      price: intOf(price, "amount")!,
      currency: str(price, "currency")!,
      tokens: { in: intOf(tokens, "in")!, out: intOf(tokens, "out")! },
      proBono: receipt.value.proBono === true,
      completedAt: c.completedAt,
      machineKey: str(attestation!.value, "publicKey")!,
      ...(parts.brokerageKey ? { countersignedBy: str(objOf(receipt.value, "brokerageCountersignature"), "authority")! } : {}),
      auth: {
        uri: auth!.uri,
        cid: auth!.cid,
        nonce: str(auth!.value, "nonce")!,
        scope: str(auth!.value, "scope")!,
        sessionBudget: budget && str(budget, "currency") === str(price, "currency") ? (intOf(budget, "amount") ?? null) : budget ? 0 : null,
      },
    },
  };
}
