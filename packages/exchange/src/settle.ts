// Receipt settlement: verifying a receipt against its job, authorization, attestation and the
// policy, then settling it (posting its hold, moving tokens, consuming the nonce, queueing the
// signed settlement record), parking it when the balance does not cover it, rejecting it, or
// leaving it pending until a missing record arrives. Parked receipts are retried on credit.
import { NSID, type ReceiptBundle } from "@cocore/protocol";
import { selectByKeys, type LookupSpec } from "./db/bulk.ts";
import type { NoncesTable } from "./db/schema.ts";
import { mintRecord, settlementKey, strongRef, type BatchResult, type BundlePart, type EngineContext, type PolicyInUse } from "./context.ts";
import { intOf, objOf, str } from "./fields.ts";
import { toInt } from "./ints.ts";
import { receiptMovements, splitLedgerReceipt } from "./ledger.ts";
import { schemaCheck, type RecordCache } from "./records.ts";
import { chunks, type ReceiptRowUpdate, type UnitOfWork } from "./uow.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/** Findings a stale stored version of a referenced record can cause: strong-ref mismatches. */
export const STALE_REF_CODES: ReadonlySet<string> = new Set(["job-mismatch", "attestation-invalid", "authorization-invalid"]);

const NONCE_BY_KEY: LookupSpec = { table: "nonces", columns: ["requester", "nonce", "auth_uri", "job_uri"], keys: ["requester", "nonce"] };
const RECEIPT_BY_URI: LookupSpec = { table: "receipts", columns: ["uri", "status", "cid"], keys: ["uri"] };
const RECEIPT_BY_JOB: LookupSpec = { table: "receipts", columns: ["uri", "job_uri", "status"], keys: ["job_uri"] };

// The policy in use is validated once, not once per receipt.
const policySchemas = new WeakMap<PolicyInUse, string | null>();
function policySchema(p: PolicyInUse): string | null {
  let v = policySchemas.get(p);
  if (v === undefined) policySchemas.set(p, (v = schemaCheck(NSID.exchangePolicy, p.value)));
  return v;
}

export async function retryParked(ctx: EngineContext, u: UnitOfWork, recs: RecordCache, result: BatchResult): Promise<void> {
  const tried = new Set<string>();
  for (let round = 0; round < 8 && u.credited.size > 0; round++) {
    const credited = [...u.credited];
    u.credited.clear();
    const parked = new Set<string>();
    for (const chunk of chunks(credited)) {
      const rows = await u.tx.selectFrom("receipts").select("uri").where("status", "=", "parked").where("requester", "in", chunk).execute();
      for (const r of rows) if (!u.receipts.has(r.uri) || u.receipts.get(r.uri)!.status === "parked") parked.add(r.uri);
    }
    for (const [uri, r] of u.receipts) if (r.status === "parked" && credited.includes(r.requester ?? "")) parked.add(uri);
    const fresh = [...parked].filter((p) => !tried.has(`${round}:${p}`));
    if (fresh.length === 0) break;
    for (const p of fresh) tried.add(`${round}:${p}`);
    await evaluateReceipts(ctx, u, recs, fresh, result, true);
  }
}

interface LoadedReceipt {
  uri: string;
  cid: string;
  value: Record<string, unknown>;
  provider: string;
  jobUri: string;
  attUri: string;
  requester: string;
}

// The per-receipt steps below are module functions rather than closures made in the loop: under
// tsx (which keeps function names) each closure made per receipt cost a property definition.

function reject(u: UnitOfWork, result: BatchResult, base: ReceiptRowUpdate, r: LoadedReceipt, authUri: string | undefined, findings: { code: string; message: string }[]): void {
  // A rejection that a newer version of a referenced record could undo remembers that record
  // (in waiting_for), so that its next version has the receipt judged again.
  const codes = findings.map((f) => f.code);
  const stale = codes.every((c) => STALE_REF_CODES.has(c));
  const recheck = !stale ? null : codes.includes("attestation-invalid") ? r.attUri : codes.includes("authorization-invalid") ? (authUri ?? null) : r.jobUri;
  u.setReceipt({ ...base, status: "rejected", reason: codes.join(","), waiting_for: recheck, findings: JSON.stringify(findings) });
  result.rejected.push(r.uri);
}

function waitFor(u: UnitOfWork, base: ReceiptRowUpdate, what: string, uri: string): void {
  u.setReceipt({ ...base, status: "pending", reason: `waiting for ${what}`, waiting_for: uri });
}

/** The ingestion-time schema result of a bundle part, when the stored row is of the right collection. */
function knownSchema(schema: Partial<Record<BundlePart, string | null>>, recs: RecordCache, part: BundlePart, uri: string | undefined, nsid: string): void {
  const row = uri ? recs.peek(uri) : undefined;
  if (row && row.collection === nsid) schema[part] = row.status === "rejected" ? (row.reason ?? "schema-invalid") : null;
}

/** Verify and settle (or park, reject, leave pending) receipts, in the given order. */
export async function evaluateReceipts(
  ctx: EngineContext,
  u: UnitOfWork,
  recs: RecordCache,
  uris: string[],
  result: BatchResult,
  retryingParked: boolean,
  /** Rejected receipts to judge again although their own version has not changed. */
  rejudge?: ReadonlySet<string>,
): Promise<void> {
  const tx = u.tx;
  const policy = ctx.policy;
  await recs.load(uris);
  // Every account a settlement of these receipts could touch is locked (PostgreSQL) BEFORE their
  // statuses are read: a concurrent transaction settling one of them (it locks the same accounts,
  // the treasury at least) has then committed, and we see `settled`, or waits for us.
  const parties = new Set<string>([policy.ledger.treasury]);
  for (const uri of uris) {
    const row = recs.peek(uri);
    const requester = str(recs.value(uri), "requester");
    if (row) parties.add(row.did);
    if (requester) parties.add(requester);
  }
  await u.loadAccounts(parties);
  const existing = new Map<string, { status: string; cid: string }>();
  const stored = uris.filter((x) => !u.receipts.has(x)).map((x) => [x]);
  for (const r of await selectByKeys<{ uri: string; status: string; cid: string }>(ctx.ldb, tx, RECEIPT_BY_URI, stored)) existing.set(r.uri, r);
  for (const [uri, r] of u.receipts) existing.set(uri, r);
  const list: LoadedReceipt[] = [];
  for (const uri of uris) {
    const row = recs.peek(uri);
    const value = recs.value(uri);
    if (!row || !value) continue;
    const prior = existing.get(uri);
    // Settled stays settled (an edited or deleted receipt changes nothing); a rejection stands
    // for the version it judged; receipts for other exchanges are not ours to judge.
    if (prior && (prior.status === "settled" || prior.status === "ignored")) continue;
    if (prior && prior.status === "rejected" && prior.cid === row.cid && !rejudge?.has(uri)) continue;
    if (prior && prior.status === "parked" && !retryingParked && prior.cid === row.cid) continue;
    list.push({
      uri,
      cid: row.cid,
      value,
      provider: row.did,
      jobUri: str(objOf(value, "job"), "uri") ?? "",
      attUri: str(objOf(value, "attestation"), "uri") ?? "",
      requester: str(value, "requester") ?? "",
    });
  }
  if (list.length === 0) return;
  await recs.load(list.flatMap((r) => [r.jobUri, r.attUri]).filter(Boolean));
  if (ctx.verifier.noteAttestation) for (const r of list) if (r.attUri) ctx.verifier.noteAttestation(r.attUri, recs.value(r.attUri));
  const authUri = (r: LoadedReceipt) => str(objOf(recs.value(r.jobUri), "paymentAuthorization"), "uri");
  await recs.load(list.map(authUri).filter((x): x is string => !!x));

  // The accounts were locked above, before the holds are read too: a concurrent releaseHold
  // (which locks the requester first too) has then either committed or waits for us.
  const jobUris = [...new Set(list.map((r) => r.jobUri).filter(Boolean))];
  const holds = new Map<string, { key: string; amount: number }>();
  const settledJobs = new Map<string, string>();
  for (const chunk of chunks(jobUris)) {
    for (const h of await tx.selectFrom("holds").select(["key", "job_uri", "amount"]).where("job_uri", "in", chunk).where("state", "=", "pending").execute()) {
      if (!u.holdUpdates.has(h.key)) holds.set(h.job_uri, { key: h.key, amount: toInt(h.amount, "hold") });
    }
    for (const s of await selectByKeys<{ uri: string; job_uri: string; status: string }>(ctx.ldb, tx, RECEIPT_BY_JOB, chunk.map((j) => [j]))) {
      if (s.status === "settled") settledJobs.set(s.job_uri, s.uri);
    }
  }
  for (const h of u.holdInserts) if (!u.holdUpdates.has(h.key)) holds.set(h.job_uri, { key: h.key, amount: h.amount });
  for (const r of u.receipts.values()) if (r.status === "settled") settledJobs.set(r.job_uri, r.uri);
  const nonceKeys = new Map<string, { auth_uri: string; job_uri: string }>();
  const authValue = (r: LoadedReceipt) => {
    const a = authUri(r);
    return a ? recs.value(a) : undefined;
  };
  const noncePairs = new Map<string, [string, string]>();
  for (const r of list) {
    const nonce = str(authValue(r), "nonce");
    if (nonce) noncePairs.set(`${r.requester} ${nonce}`, [r.requester, nonce]);
  }
  // By the whole primary key (requester, nonce): a lookup by nonce alone cannot use the index.
  for (const n of await selectByKeys<NoncesTable>(ctx.ldb, tx, NONCE_BY_KEY, [...noncePairs.values()])) nonceKeys.set(`${n.requester} ${n.nonce}`, n);
  for (const n of u.nonces) nonceKeys.set(`${n.requester} ${n.nonce}`, n);

  for (const r of list) {
    const completedAt = str(r.value, "completedAt") ?? null;
    const base: ReceiptRowUpdate = {
      uri: r.uri,
      cid: r.cid,
      job_uri: r.jobUri,
      requester: r.requester || null,
      provider: r.provider,
      status: "pending",
      reason: null,
      waiting_for: null,
      findings: null,
      completed_at: completedAt,
      kind: null,
      settled_at: null,
      charged: null,
      payout: null,
      fee: null,
    };
    const job = r.jobUri ? recs.value(r.jobUri) : undefined;
    const att = r.attUri ? recs.value(r.attUri) : undefined;
    const aUri = authUri(r);
    if (!r.jobUri || !r.attUri) {
      reject(u, result, base, r, aUri, [{ code: "schema-invalid", message: "receipt has no job or attestation reference" }]);
      continue;
    }
    if (!job) {
      waitFor(u, base, "job", r.jobUri);
      continue;
    }
    if (!att) {
      waitFor(u, base, "attestation", r.attUri);
      continue;
    }
    const auth = aUri ? recs.value(aUri) : undefined;
    if (aUri && !auth) {
      waitFor(u, base, "paymentAuthorization", aUri);
      continue;
    }
    if (auth && str(auth, "exchange") !== ctx.did) {
      u.setReceipt({ ...base, status: "ignored", reason: "other-exchange" });
      continue;
    }
    const bundle: ReceiptBundle = {
      receipt: { uri: r.uri, cid: r.cid, value: r.value },
      job: { uri: r.jobUri, cid: recs.peek(r.jobUri)!.cid, value: job },
      attestation: { uri: r.attUri, cid: recs.peek(r.attUri)!.cid, value: att },
      policy: { uri: policy.uri, cid: policy.cid, value: policy.value },
    };
    if (aUri && auth) bundle.paymentAuthorization = { uri: aUri, cid: recs.peek(aUri)!.cid, value: auth };
    // CIDs came with verified repo commits (or the repo export); each record's lexicon check was
    // done when it was stored, against its own collection, which is only the part's lexicon when
    // the reference points into the right collection (otherwise the verifier validates itself).
    const schema: Partial<Record<BundlePart, string | null>> = {};
    knownSchema(schema, recs, "receipt", r.uri, NSID.receipt);
    knownSchema(schema, recs, "job", r.jobUri, NSID.job);
    knownSchema(schema, recs, "attestation", r.attUri, NSID.attestation);
    knownSchema(schema, recs, "paymentAuthorization", aUri, NSID.paymentAuthorization);
    schema.policy = policySchema(policy);
    const verdict = ctx.verifier.verify(bundle, ctx.did, { cids: true, schema });
    const findings = [...verdict.findings];
    const nonce = str(auth, "nonce");
    if (nonce && aUri) {
      const used = nonceKeys.get(`${r.requester} ${nonce}`);
      const session = str(auth, "scope") === "session";
      if (used && (used.auth_uri !== aUri || (!session && used.job_uri !== r.jobUri))) {
        findings.push({ code: "nonce-reused", message: `authorization nonce ${nonce} was already used by ${used.job_uri}` });
      }
    }
    const settledBy = settledJobs.get(r.jobUri);
    if (settledBy && settledBy !== r.uri) {
      findings.push({ code: "nonce-reused", message: `job ${r.jobUri} was already settled by receipt ${settledBy}` });
    }
    if (findings.length > 0) {
      reject(u, result, base, r, aUri, findings);
      continue;
    }
    const atMs = Date.parse(completedAt!);
    const price = objOf(r.value, "price")!;
    const amount = intOf(price, "amount")!;
    const currency = str(price, "currency")!;
    u.touch(r.requester, atMs, (m) => mintRecord(ctx, m));
    if (r.provider !== r.requester) u.touch(r.provider, atMs, (m) => mintRecord(ctx, m));
    const split = splitLedgerReceipt({ requester: r.requester, provider: r.provider, price: amount, proBono: r.value.proBono === true }, policy.ledger);
    const req = u.account(r.requester);
    const hold = holds.get(r.jobUri);
    // Other jobs' holds stay protected: a receipt may use its own hold, never theirs.
    const covered = hold ? split.charged <= req.balance - (req.held - hold.amount) : split.charged <= req.balance - req.held;
    if (!covered) {
      u.setReceipt({ ...base, status: "parked", reason: "insufficient-balance" });
      continue;
    }
    // A receipt settled on a retry after being parked takes effect when the credit that paid
    // for it did (as in the ledger's replay), never before its own completedAt.
    let settleMs = atMs;
    if (retryingParked) {
      for (const t of u.transfers) if (t.to === r.requester && t.amount > 0) settleMs = Math.max(settleMs, Date.parse(t.at));
    }
    if (hold) {
      req.held -= hold.amount;
      u.markDirty(r.requester);
      u.holdUpdates.set(hold.key, "posted");
      holds.delete(r.jobUri);
    }
    for (const m of receiptMovements({ uri: r.uri, requester: r.requester, provider: r.provider }, split, policy.ledger, settleMs)) u.apply(m, r.uri);
    if (nonce && aUri && !nonceKeys.has(`${r.requester} ${nonce}`)) {
      const n = { requester: r.requester, nonce, auth_uri: aUri, job_uri: r.jobUri };
      u.nonces.push(n);
      nonceKeys.set(`${r.requester} ${nonce}`, n);
    }
    settledJobs.set(r.jobUri, r.uri);
    const settledAt = iso(settleMs);
    u.setReceipt({ ...base, status: "settled", kind: split.kind, settled_at: settledAt, charged: split.charged, payout: split.payout, fee: split.fee });
    u.outbox.push({
      key: settlementKey(r.uri),
      collection: NSID.settlement,
      // The rkey comes from the receipt's completedAt, a record time that never changes: a
      // rebuild that settles it at another time (a parked receipt) still names the same record.
      atMs,
      record: {
        $type: NSID.settlement,
        receipt: { uri: r.uri, cid: r.cid },
        requesterAuthorization: { uri: aUri!, cid: bundle.paymentAuthorization!.cid! },
        amountCharged: { amount: split.charged, currency },
        providerPayout: { amount: split.payout, currency },
        exchangeFee: { amount: split.fee, currency },
        processorReference: { $bytes: Buffer.from(`rcpt:${r.uri}`).subarray(0, 1024).toString("base64") },
        status: "settled",
        policy: strongRef(policy),
        settledAt,
      },
    });
    result.settled.push(r.uri);
  }
}
