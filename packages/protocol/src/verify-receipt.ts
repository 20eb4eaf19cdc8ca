// Offline receipt verification: every rule of PROTOCOL.md §5.6, reported as findings with stable
// codes. All checks run and all failures are collected, so a caller (the exchange, the CLI, an
// auditor) learns every reason a receipt is refused, and a single broken field always surfaces
// under its own code. Pure: the verification time is an input, never the clock.
import { meetsTrustLevel, trustLevelOf } from "./attestation-check.ts";
import { countersignatureProblems } from "./brokerage.ts";
import { CanonicalError } from "./canonical.ts";
import { recordCid } from "./cid.ts";
import { isValidPublicKey } from "./keys.ts";
import { workProblems } from "./job-work.ts";
import { parseAtUri } from "./at-uri.ts";
import { fromJsonRecord, NSID, validateRecord } from "./lexicon/index.ts";
import { PricingError, tokenRatePrice } from "./pricing.ts";
import { signatureBytes, signingPayload, verify, verifyRecordSignature } from "./signature.ts";

/** Stable finding codes (a contract: never renamed, only added to). */
export const FINDING_CODES = [
  "schema-invalid",
  "canonical-invalid",
  "bad-signature",
  "price-over-ceiling",
  "price-mismatch",
  "currency-mismatch",
  "expired",
  "commitment-mismatch",
  "requester-mismatch",
  "job-mismatch",
  "exchange-not-accepted",
  "provider-not-accepted",
  "authorization-invalid",
  "nonce-reused",
  "attestation-expired",
  "attestation-invalid",
  "pro-bono-nonzero",
  "policy-invalid",
  "cid-mismatch",
  "completed-in-future",
  "started-before-job",
  "completed-before-start",
  "tokens-over-max",
  "session-budget-exceeded",
  "trust-level-unmet",
  "not-dispatched-provider",
  "countersignature-invalid",
  "countersignature-missing",
  "params-mismatch",
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export interface Finding {
  code: FindingCode;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  findings: Finding[];
}

/** A record as found in a repo: its value (lex form: bytes as Uint8Array) and, when known, where it lives. */
export interface RecordRef {
  uri?: string;
  cid?: string;
  value: Record<string, unknown>;
}

export interface ReceiptBundle {
  receipt: RecordRef;
  job: RecordRef;
  attestation: RecordRef;
  paymentAuthorization?: RecordRef;
  policy?: RecordRef;
  /**
   * The brokerageKey record of the authority of the receipt's brokerageCountersignature (brokerage.ts).
   * Given, the countersignature is checked against it; absent, it is not judged (unless required).
   */
  brokerageKey?: RecordRef;
}

export interface VerifyOptions {
  /** The settling exchange's DID. Default: policy.exchange, else paymentAuthorization.exchange. */
  exchange?: string;
  /**
   * Verification time (ISO 8601). The attestation window and the authorization's expiry are
   * judged at this instant. Default: the receipt's completedAt, which is what makes an old
   * receipt verify forever; pass a later time to ask "would this still be accepted now?".
   */
  at?: string;
  /** The exchange's "authorization nonce unused" rule: nonces already consumed by other jobs. */
  usedNonces?: ReadonlySet<string> | ((nonce: string) => boolean);
  /**
   * The exchange's session-budget rule: what receipts under this `session` authorization have
   * already been charged. The receipt's price on top of it must stay within `sessionBudget`.
   */
  sessionCharged?: number;
  /**
   * The exchange's dispatch binding: the provider DID (and, when known, machine key) its
   * matchmaker dispatched this job to. A receipt by anyone else is not the dispatched work.
   */
  dispatchedTo?: DispatchTarget;
  /**
   * The receipt must carry a brokerageCountersignature that verifies against `bundle.brokerageKey`
   * (the job was dispatched by a matchmaker that countersigns: the exchange's, or the client's own).
   */
  requireCountersignature?: boolean;
  /**
   * Checks the caller has already made on these exact records, so that bulk verification (an
   * exchange settling thousands of receipts a second) does each expensive step once per record
   * rather than once per receipt. Every rule still runs; only how a fact is established changes.
   */
  trusted?: TrustedFacts;
}

export interface TrustedFacts {
  /**
   * Each given `cid` is known to name its value (the record came through a verified repo commit),
   * so strong-refs are compared with it as given instead of re-hashing the value.
   */
  cids?: boolean;
  /**
   * Lexicon validation already done (at ingestion) per part: null = valid, else the problem.
   * Parts left out are validated here.
   */
  schema?: Partial<Record<"receipt" | "job" | "attestation" | "paymentAuthorization" | "policy", string | null>>;
  /**
   * A verdict from an earlier check of `field` of the record with this cid under `publicKey`, or
   * undefined to check now. Consulted only together with `cids` (the cid then pins the content).
   */
  signature?: (cid: string, field: "enclaveSignature" | "selfSignature", publicKey: string) => boolean | undefined;
}

const PART_NSID = {
  receipt: NSID.receipt,
  job: NSID.job,
  attestation: NSID.attestation,
  paymentAuthorization: NSID.paymentAuthorization,
  policy: NSID.exchangePolicy,
} as const;

type Part = keyof typeof PART_NSID;

/** The input itself is unusable (not a bundle); distinct from a bundle that fails verification. */
export class BundleError extends Error {
  override readonly name = "BundleError";
}

// ---------------------------------------------------------------------------------------------
// Bundle input

const WRAPPER_KEYS = new Set(["uri", "cid", "value"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function normalizeRef(raw: unknown, part: Part | "brokerageKey"): RecordRef {
  if (!isObject(raw)) throw new BundleError(`${part} is not an object`);
  const wrapped = isObject(raw.value) && Object.keys(raw).every((k) => WRAPPER_KEYS.has(k));
  const value = wrapped ? raw.value : raw;
  if (wrapped) {
    if (raw.uri !== undefined && typeof raw.uri !== "string") throw new BundleError(`${part}.uri is not a string`);
    if (raw.cid !== undefined && typeof raw.cid !== "string") throw new BundleError(`${part}.cid is not a string`);
  }
  let lex: unknown;
  try {
    lex = fromJsonRecord(value);
  } catch (err) {
    throw new BundleError(`${part}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(lex)) throw new BundleError(`${part} value is not an object`);
  const ref: RecordRef = { value: lex };
  if (wrapped && typeof raw.uri === "string") ref.uri = raw.uri;
  if (wrapped && typeof raw.cid === "string") ref.cid = raw.cid;
  return ref;
}

/**
 * Turn a parsed bundle document into lex-form records. Accepts each record wrapped as
 * `{ uri?, cid?, value }` or bare, with bytes in JSON form (`{"$bytes"}`) or already Uint8Array.
 * Throws BundleError when receipt, job or attestation is missing or a part is not a record.
 */
export function normalizeBundle(json: unknown): ReceiptBundle {
  if (!isObject(json)) throw new BundleError("bundle is not a JSON object");
  for (const part of ["receipt", "job", "attestation"] as const) {
    if (json[part] === undefined || json[part] === null) throw new BundleError(`bundle has no ${part}`);
  }
  const bundle: ReceiptBundle = {
    receipt: normalizeRef(json.receipt, "receipt"),
    job: normalizeRef(json.job, "job"),
    attestation: normalizeRef(json.attestation, "attestation"),
  };
  if (json.paymentAuthorization != null) bundle.paymentAuthorization = normalizeRef(json.paymentAuthorization, "paymentAuthorization");
  if (json.policy != null) bundle.policy = normalizeRef(json.policy, "policy");
  if (json.brokerageKey != null) bundle.brokerageKey = normalizeRef(json.brokerageKey, "brokerageKey");
  return bundle;
}

// ---------------------------------------------------------------------------------------------
// Field access that tolerates schema-invalid input (schema problems are reported separately)

function str(obj: unknown, key: string): string | undefined {
  const v = isObject(obj) ? obj[key] : undefined;
  return typeof v === "string" ? v : undefined;
}

function int(obj: unknown, key: string): number | undefined {
  const v = isObject(obj) ? obj[key] : undefined;
  return typeof v === "number" && Number.isSafeInteger(v) ? v : undefined;
}

function obj(o: unknown, key: string): Record<string, unknown> | undefined {
  const v = isObject(o) ? o[key] : undefined;
  return isObject(v) ? v : undefined;
}

function strings(o: unknown, key: string): string[] | undefined {
  const v = isObject(o) ? o[key] : undefined;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;
}

function time(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}


// ---------------------------------------------------------------------------------------------
// Verification

// Attestations are shared by every receipt a machine writes in a day; remembering which
// (payload, signature, key) triples already verified keeps bulk verification at one ECDSA
// operation per receipt. The key includes the full signed content, so a hit cannot be forged.
const attestationVerified = new Set<string>();
const ATTESTATION_CACHE_LIMIT = 1024;

function attestationSignatureOk(value: Record<string, unknown>, publicKey: string, trustedCid: string | undefined): boolean {
  // A trusted CID pins the whole content, so it can stand in for the payload in the cache key.
  const shortKey = trustedCid === undefined ? undefined : `cid:${trustedCid}|${publicKey}`;
  if (shortKey !== undefined && attestationVerified.has(shortKey)) return true;
  const sig = signatureBytes(value.selfSignature);
  if (!sig) return false;
  const payload = signingPayload(value, "selfSignature");
  const cacheKey = shortKey ?? `${publicKey}|${Buffer.from(sig).toString("base64")}|${Buffer.from(payload).toString("latin1")}`;
  if (attestationVerified.has(cacheKey)) return true;
  const ok = verify(publicKey, payload, sig);
  if (ok) {
    if (attestationVerified.size >= ATTESTATION_CACHE_LIMIT) attestationVerified.clear();
    attestationVerified.add(cacheKey);
  }
  return ok;
}

function schemaProblems(part: Part, ref: RecordRef, known: string | null | undefined): string | undefined {
  const nsid = PART_NSID[part];
  const declared = ref.value.$type;
  if (declared !== undefined && declared !== nsid) return `$type is ${JSON.stringify(declared)}, expected ${nsid}`;
  if (known !== undefined) return known ?? undefined;
  const result = validateRecord(nsid, ref.value);
  return result.ok ? undefined : result.message;
}

// A class rather than a closure: a function created per call costs an extra property definition
// under tsx (which keeps function names), on the exchange's per-receipt path.
class Findings {
  readonly items: Finding[] = [];
  add(code: FindingCode, message: string): void {
    this.items.push({ code, message });
  }
}

/**
 * A session authorization's budget rule (PROTOCOL.md §5.6): the charges settled under it, with this
 * one, stay within `sessionBudget` (null: the authorization sets none).
 */
export function sessionBudgetFinding(budget: number | null, charged: number, charge: number): Finding | null {
  if (budget === null || charged + charge <= budget) return null;
  return { code: "session-budget-exceeded", message: `settling ${charge} would take the session's charges to ${charged + charge}, over its budget ${budget}` };
}

/** Where a job was dispatched: the provider DID and, when known, the machine's public key. */
export interface DispatchTarget {
  provider: string;
  machineKey: string | null;
}

/** A receipt by `provider`'s machine `machineKey` for a job dispatched to `to` (null: it is that work). */
export function dispatchFinding(jobUri: string, to: DispatchTarget, provider: string | undefined, machineKey: string | undefined): Finding | null {
  if (to.provider === provider && (to.machineKey === null || to.machineKey === machineKey)) return null;
  const sameProvider = to.provider === provider;
  return {
    code: "not-dispatched-provider",
    message: `job ${jobUri} was dispatched to ${to.provider}${to.machineKey ? " (another machine)" : ""}, not to ${provider ?? "an unknown provider"}${sameProvider ? "'s machine that signed this receipt" : ""}`,
  };
}

export function verifyReceipt(bundle: ReceiptBundle, options: VerifyOptions = {}): VerifyResult {
  const found = new Findings();

  const receipt = bundle.receipt.value;
  const job = bundle.job.value;
  const att = bundle.attestation.value;
  const auth = bundle.paymentAuthorization?.value;
  const policy = bundle.policy?.value;

  // Schema, and whether each given CID really names the given value.
  const trusted = options.trusted;
  const cids: Partial<Record<Part, string>> = {};
  for (const part of Object.keys(PART_NSID) as Part[]) {
    const ref = bundle[part];
    if (!ref) continue;
    const problem = schemaProblems(part, ref, trusted?.schema?.[part]);
    if (problem) found.add("schema-invalid", `${part}: ${problem}`);
    if (trusted?.cids && ref.cid) {
      cids[part] = ref.cid;
      continue;
    }
    const computed = recordCid(ref.value);
    if (computed && ref.cid && computed !== ref.cid) found.add("cid-mismatch", `${part}: given cid ${ref.cid} but the value hashes to ${computed}`);
    const cid = computed ?? ref.cid;
    if (cid) cids[part] = cid;
  }

  // Who is who. The requester owns the job's repo; the provider owns the receipt's repo.
  const receiptRef = obj(receipt, "job");
  const attRef = obj(receipt, "attestation");
  const jobUri = parseAtUri(bundle.job.uri ?? str(receiptRef, "uri"));
  const receiptUri = parseAtUri(bundle.receipt.uri);
  const attUri = parseAtUri(bundle.attestation.uri ?? str(attRef, "uri"));
  const requesterDid = jobUri?.did;
  const providerDid = receiptUri?.did ?? attUri?.did;

  // Strong-ref from the receipt to the job.
  {
    const refUri = str(receiptRef, "uri");
    const refCid = str(receiptRef, "cid");
    const problems: string[] = [];
    if (refUri && parseAtUri(refUri)?.collection !== NSID.job) problems.push(`receipt.job.uri ${refUri} is not a ${NSID.job} record`);
    if (bundle.job.uri && refUri !== bundle.job.uri) problems.push(`receipt.job.uri is ${refUri ?? "missing"}, the job is ${bundle.job.uri}`);
    if (cids.job && refCid !== cids.job) problems.push(`receipt.job.cid is ${refCid ?? "missing"}, the job's cid is ${cids.job}`);
    if (!bundle.job.uri && !cids.job) problems.push("the job has neither uri nor cid to match receipt.job against");
    for (const p of problems) found.add("job-mismatch", p);
  }

  const requester = str(receipt, "requester");
  if (requesterDid === undefined) found.add("requester-mismatch", "cannot tell who owns the job: no at-uri for it");
  else if (requester !== requesterDid) found.add("requester-mismatch", `receipt.requester is ${requester ?? "missing"} but the job is in ${requesterDid}'s repo`);

  const rIn = str(receipt, "inputCommitment");
  const jIn = str(job, "inputCommitment");
  if (rIn !== jIn) found.add("commitment-mismatch", `receipt.inputCommitment ${rIn ?? "missing"} differs from the job's ${jIn ?? "missing"}`);

  // Time. Job expiry is judged at completedAt (a fact of the receipt); validity windows at `at`.
  const completedAt = time(str(receipt, "completedAt"));
  let at = completedAt;
  if (options.at !== undefined) {
    at = time(options.at);
    if (at === undefined) throw new RangeError(`verification time ${JSON.stringify(options.at)} is not an ISO 8601 time`);
    if (completedAt !== undefined && completedAt > at) {
      found.add("completed-in-future", `receipt completedAt ${str(receipt, "completedAt")} is after the verification time ${options.at}`);
    }
  }
  const jobExpires = time(str(job, "expiresAt"));
  if (completedAt !== undefined && jobExpires !== undefined && completedAt > jobExpires) {
    found.add("expired", `completedAt ${str(receipt, "completedAt")} is after the job's expiresAt ${str(job, "expiresAt")}`);
  }
  // The work happens inside the job's life: a receipt cannot start before its job existed, nor
  // finish before it started (either would let a provider move its ledger time at will).
  const startedAt = time(str(receipt, "startedAt"));
  const jobCreated = time(str(job, "createdAt"));
  if (startedAt !== undefined && jobCreated !== undefined && startedAt < jobCreated) {
    found.add("started-before-job", `startedAt ${str(receipt, "startedAt")} is before the job's createdAt ${str(job, "createdAt")}`);
  }
  if (startedAt !== undefined && completedAt !== undefined && completedAt < startedAt) {
    found.add("completed-before-start", `completedAt ${str(receipt, "completedAt")} is before startedAt ${str(receipt, "startedAt")}`);
  }
  // The work the job asked for (its output schema, its tools) is the work the receipt states.
  for (const p of workProblems(job, receipt.params)) found.add("params-mismatch", p);
  const tokensOut = int(obj(receipt, "tokens"), "out");
  const maxOut = int(job, "maxTokensOut");
  if (tokensOut !== undefined && maxOut !== undefined && tokensOut > maxOut) {
    found.add("tokens-over-max", `tokens.out ${tokensOut} exceeds the job's maxTokensOut ${maxOut}`);
  }

  // Attestation: its own signature, its place (provider's repo), the receipt's reference, its window.
  const publicKey = str(att, "publicKey");
  const keyOk = publicKey !== undefined && isValidPublicKey(publicKey);
  if (!keyOk) found.add("attestation-invalid", "attestation.publicKey is not standard base64 of a 64-byte P-256 point");
  const sigScheme = str(att, "sigScheme");
  if (sigScheme !== undefined && sigScheme !== "p256") found.add("attestation-invalid", `attestation.sigScheme ${sigScheme} is not p256`);
  if (keyOk) {
    try {
      const attCid = trusted?.cids ? bundle.attestation.cid : undefined;
      const known = attCid ? trusted?.signature?.(attCid, "selfSignature", publicKey) : undefined;
      if (!(known ?? attestationSignatureOk(att, publicKey, attCid))) found.add("attestation-invalid", "attestation.selfSignature does not verify under its publicKey");
    } catch (err) {
      if (!(err instanceof CanonicalError)) throw err;
      found.add("canonical-invalid", `attestation: ${err.message}`);
    }
  }
  {
    const refUri = str(attRef, "uri");
    const refCid = str(attRef, "cid");
    if (refUri && parseAtUri(refUri)?.collection !== NSID.attestation) found.add("attestation-invalid", `receipt.attestation.uri ${refUri} is not a ${NSID.attestation} record`);
    if (bundle.attestation.uri && refUri !== bundle.attestation.uri) found.add("attestation-invalid", `receipt.attestation.uri is ${refUri ?? "missing"}, the attestation is ${bundle.attestation.uri}`);
    if (cids.attestation && refCid !== cids.attestation) found.add("attestation-invalid", `receipt.attestation.cid is ${refCid ?? "missing"}, the attestation's cid is ${cids.attestation}`);
    if (attUri && providerDid && attUri.did !== providerDid) found.add("attestation-invalid", `the attestation is in ${attUri.did}'s repo, not the provider ${providerDid}'s`);
  }
  // The job's trust requirement against what the attestation establishes (attestation-check.ts).
  const level = trustLevelOf(att);
  if (!meetsTrustLevel(level, str(job, "acceptedTrustLevel"))) {
    found.add("trust-level-unmet", `the job accepts ${str(job, "acceptedTrustLevel") ?? "nothing"}; the provider's attestation establishes ${level}`);
  }
  const attestedAt = time(str(att, "attestedAt"));
  const attExpires = time(str(att, "expiresAt"));
  if (at !== undefined && attestedAt !== undefined && attExpires !== undefined && (at < attestedAt || at > attExpires)) {
    found.add("attestation-expired", `${new Date(at).toISOString()} is outside the attestation's window [${str(att, "attestedAt")}, ${str(att, "expiresAt")}]`);
  }

  // The receipt's own signature, by the attestation's key.
  if (keyOk) {
    try {
      const known = trusted?.cids && bundle.receipt.cid ? trusted.signature?.(bundle.receipt.cid, "enclaveSignature", publicKey) : undefined;
      if (!(known ?? verifyRecordSignature(receipt, "enclaveSignature", publicKey))) found.add("bad-signature", "receipt.enclaveSignature does not verify under the attestation's publicKey");
    } catch (err) {
      if (!(err instanceof CanonicalError)) throw err;
      found.add("canonical-invalid", `receipt: ${err.message}`);
    }
  } else {
    found.add("bad-signature", "receipt.enclaveSignature cannot be verified: the attestation has no usable publicKey");
  }

  // The settling exchange, its policy, and whether the job and authorization let it settle.
  const exchange = options.exchange ?? str(policy, "exchange") ?? str(auth, "exchange");
  if (policy) {
    const policyExchange = str(policy, "exchange");
    if (options.exchange && policyExchange !== options.exchange) found.add("policy-invalid", `the policy belongs to ${policyExchange ?? "no exchange"}, not ${options.exchange}`);
    const policyRepo = parseAtUri(bundle.policy?.uri)?.did;
    if (policyRepo && policyRepo !== policyExchange) found.add("policy-invalid", `policy.exchange ${policyExchange ?? "missing"} is not the repo ${policyRepo} it is published in`);
  }
  const acceptedExchanges = strings(job, "acceptedExchanges");
  if (acceptedExchanges && exchange !== undefined && !acceptedExchanges.includes(exchange)) {
    found.add("exchange-not-accepted", `exchange ${exchange} is not in the job's acceptedExchanges`);
  }
  const acceptedProviders = strings(job, "acceptedProviders");
  if (acceptedProviders && acceptedProviders.length > 0) {
    if (providerDid === undefined) found.add("provider-not-accepted", "the job names acceptedProviders but the receipt's repo is unknown");
    else if (!acceptedProviders.includes(providerDid)) found.add("provider-not-accepted", `provider ${providerDid} is not in the job's acceptedProviders`);
  }
  if (options.dispatchedTo) {
    const wrong = dispatchFinding(bundle.job.uri ?? "(this job)", options.dispatchedTo, providerDid, str(att, "publicKey"));
    if (wrong) found.add(wrong.code, wrong.message);
  }
  // The matchmaker's countersignature, against the key its authority publishes (brokerage.ts).
  const countersignature = receipt.brokerageCountersignature;
  if (countersignature === undefined) {
    if (options.requireCountersignature) found.add("countersignature-missing", "the receipt carries no brokerageCountersignature, but the job was dispatched by a matchmaker that countersigns");
  } else if (bundle.brokerageKey !== undefined || options.requireCountersignature) {
    const jobRef = { uri: str(receiptRef, "uri") ?? "", cid: str(receiptRef, "cid") ?? "" };
    const from = jobCreated ?? Number.NEGATIVE_INFINITY;
    const to = startedAt ?? completedAt ?? Number.POSITIVE_INFINITY;
    for (const p of countersignatureProblems(countersignature, bundle.brokerageKey, { job: jobRef, inputCommitment: rIn ?? "", ...(providerDid ? { provider: providerDid } : {}), window: { from, to } })) {
      found.add("countersignature-invalid", p);
    }
  }

  const ceiling = obj(job, "priceCeiling");
  if (!auth) {
    found.add("authorization-invalid", "no paymentAuthorization given");
  } else {
    const authRef = bundle.paymentAuthorization!;
    const jobAuthRef = obj(job, "paymentAuthorization");
    const jaUri = str(jobAuthRef, "uri");
    const jaCid = str(jobAuthRef, "cid");
    if (authRef.uri && jaUri !== authRef.uri) found.add("authorization-invalid", `job.paymentAuthorization.uri is ${jaUri ?? "missing"}, the authorization is ${authRef.uri}`);
    if (cids.paymentAuthorization && jaCid !== cids.paymentAuthorization) found.add("authorization-invalid", `job.paymentAuthorization.cid is ${jaCid ?? "missing"}, the authorization's cid is ${cids.paymentAuthorization}`);
    if (!authRef.uri && !cids.paymentAuthorization) found.add("authorization-invalid", "the authorization has neither uri nor cid to match the job's reference against");
    const authRepo = parseAtUri(authRef.uri ?? jaUri)?.did;
    if (authRepo && requesterDid && authRepo !== requesterDid) found.add("authorization-invalid", `the authorization is in ${authRepo}'s repo, not the requester ${requesterDid}'s`);
    const authExchange = str(auth, "exchange");
    if (exchange !== undefined && authExchange !== exchange) found.add("authorization-invalid", `the authorization names exchange ${authExchange ?? "none"}, not ${exchange}`);
    const authExpires = time(str(auth, "expiresAt"));
    if (at !== undefined && authExpires !== undefined && at > authExpires) found.add("authorization-invalid", `the authorization expired at ${str(auth, "expiresAt")}`);
    const authCeiling = obj(auth, "ceiling");
    const aAmount = int(authCeiling, "amount");
    const jAmount = int(ceiling, "amount");
    if (str(authCeiling, "currency") !== str(ceiling, "currency")) {
      found.add("authorization-invalid", `authorization ceiling currency ${str(authCeiling, "currency") ?? "missing"} differs from the job's ${str(ceiling, "currency") ?? "missing"}`);
    } else if (aAmount !== undefined && jAmount !== undefined && aAmount < jAmount) {
      found.add("authorization-invalid", `authorization ceiling ${aAmount} is below the job's priceCeiling ${jAmount}`);
    }
    if (options.sessionCharged !== undefined && str(auth, "scope") === "session") {
      const budget = obj(auth, "sessionBudget");
      const limit = budget === undefined ? null : str(budget, "currency") === str(obj(receipt, "price"), "currency") ? (int(budget, "amount") ?? 0) : 0;
      const over = sessionBudgetFinding(limit, options.sessionCharged, int(obj(receipt, "price"), "amount") ?? 0);
      if (over) found.add(over.code, over.message);
    }
    const nonce = str(auth, "nonce");
    const used = options.usedNonces;
    if (nonce !== undefined && used && (typeof used === "function" ? used(nonce) : used.has(nonce))) {
      found.add("nonce-reused", `authorization nonce ${nonce} was already used`);
    }
  }

  // Price: currency, ceiling, the policy's token rate, pro bono.
  const price = obj(receipt, "price");
  const amount = int(price, "amount");
  const currency = str(price, "currency");
  const tokens = obj(receipt, "tokens");
  if (currency !== str(ceiling, "currency")) {
    found.add("currency-mismatch", `price currency ${currency ?? "missing"} differs from the job's ceiling currency ${str(ceiling, "currency") ?? "missing"}`);
  } else if (amount !== undefined && int(ceiling, "amount") !== undefined && amount > int(ceiling, "amount")!) {
    found.add("price-over-ceiling", `price ${amount} exceeds the job's priceCeiling ${int(ceiling, "amount")}`);
  }
  if (policy) {
    const supported = strings(policy, "supportedCurrencies");
    if (supported && currency !== undefined && !supported.includes(currency)) found.add("currency-mismatch", `the exchange does not settle in ${currency}`);
    const rate = obj(policy, "tokenRate");
    if (rate) {
      const rateCurrency = str(rate, "currency");
      const tIn = int(tokens, "in");
      const tOut = int(tokens, "out");
      const inRate = int(rate, "inputPricePerMTok");
      const outRate = int(rate, "outputPricePerMTok");
      if (rateCurrency !== currency) {
        found.add("currency-mismatch", `price currency ${currency ?? "missing"} differs from the policy's tokenRate currency ${rateCurrency ?? "missing"}`);
      } else if (amount !== undefined && tIn !== undefined && tOut !== undefined && inRate !== undefined && outRate !== undefined) {
        try {
          const expected = tokenRatePrice({ inputPricePerMTok: inRate, outputPricePerMTok: outRate }, { in: tIn, out: tOut });
          if (amount !== expected) found.add("price-mismatch", `price ${amount} is not the tokenRate price ${expected} for ${tIn} in / ${tOut} out`);
        } catch (err) {
          if (!(err instanceof PricingError)) throw err;
          found.add("price-mismatch", `tokenRate price cannot be computed: ${err.message}`);
        }
      }
    }
  }
  if (receipt.proBono === true && (amount !== 0 || int(tokens, "in") !== 0 || int(tokens, "out") !== 0)) {
    found.add("pro-bono-nonzero", `pro bono receipt has price ${amount ?? "?"} and tokens ${int(tokens, "in") ?? "?"}/${int(tokens, "out") ?? "?"}; all must be 0`);
  }

  return { ok: found.items.length === 0, findings: found.items };
}
