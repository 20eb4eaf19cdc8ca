// Record intake (README: "A receipt's path", step 1): a delivery batch stored, the exchange's own
// policies and (in a rebuild) its published log taken in, and every receipt the batch concerns
// made pending, ignored, rejected or queued at its effective time.
import { parseAtUri } from "../at-uri.ts";
import { NSID, validateRecord } from "../lexicon/index.ts";
import { candidacy, loadParts, objOf, str, type ReceiptFacts } from "./facts.ts";
import type { LedgerInput, RecordOp } from "./inputs.ts";
import { applyLogRecord, LOG_COLLECTIONS } from "./log.ts";
import { nonceKey, type Ledger } from "./machine.ts";
import type { ReceiptRow } from "./store.ts";
import { policyAsPublished } from "./timeline.ts";
import { LedgerError } from "./types.ts";

/** The receipt statuses nothing can change any more (README: "Settled is final"). */
export const DECIDED: ReadonlySet<string> = new Set(["settled", "parked", "ignored"]);
/** Stores a batch, then considers every receipt it concerns (in uri order). */
export async function onRecords(l: Ledger, input: Extract<LedgerInput, { type: "records" }>): Promise<void> {
  const receipts = new Set<string>();
  const parts: string[] = [];
  for (const op of input.ops) {
    const changed = op.action === "delete" ? await onDelete(l, op.uri, op.rev) : await onPut(l, op, input.seenAt, input.restoreLog === true);
    if (!changed) continue;
    if (changed === NSID.receipt) receipts.add(op.uri);
    else if (changed === NSID.job || changed === NSID.paymentAuthorization || changed === NSID.attestation || changed === NSID.brokerageKey) parts.push(op.uri);
  }
  if (parts.length > 0) for (const w of await l.store.waitingFor(parts)) receipts.add(w);
  // at:// uris are ASCII (their syntax allows nothing else), so code-unit order is byte order.
  for (const uri of [...receipts].sort()) await candidate(l, uri);
}

/** Stores one version; returns its collection when it is new, else undefined. */
export async function onPut(l: Ledger, op: Extract<RecordOp, { action: "put" }>, seenAt: number, restoreLog: boolean): Promise<string | undefined> {
  const prev = await l.store.record(op.uri);
  // An older version replayed after a newer one (a backfill then the stream; sources out of order).
  if (op.rev && prev?.rev && op.rev < prev.rev) return undefined;
  const at = parseAtUri(op.uri);
  if (!at) return undefined;
  if (prev && prev.cid === op.cid && prev.status !== "deleted") {
    if (op.rev && (prev.rev === null || prev.rev < op.rev)) l.store.putRecord({ ...prev, rev: op.rev });
    return undefined;
  }
  const problem = op.schema !== undefined ? op.schema : schemaProblem(at.collection, op.value);
  const row = {
    uri: op.uri,
    did: at.did,
    collection: at.collection,
    rkey: at.rkey,
    cid: op.cid,
    value: op.value,
    status: problem ? ("rejected" as const) : ("accepted" as const),
    reason: problem,
    firstSeen: prev?.firstSeen ?? seenAt,
    rev: op.rev ?? null,
  };
  l.store.putRecord(row);
  if (at.did === l.env.exchange && !problem) {
    if (at.collection === NSID.exchangePolicy) await onPolicy(l, row.uri, row.cid, row.value);
    // Our own published log read back to rebuild: restored as it was decided.
    else if (restoreLog && LOG_COLLECTIONS.has(at.collection)) await applyLogRecord(l, { uri: row.uri, cid: row.cid, collection: at.collection, rkey: at.rkey, value: row.value }, { overdraw: true });
  }
  return at.collection;
}

export async function onDelete(l: Ledger, uri: string, rev?: string): Promise<undefined> {
  const prev = await l.store.record(uri);
  if (!prev || prev.status === "deleted") return;
  if (rev && prev.rev && rev < prev.rev) return;
  l.store.putRecord({ ...prev, status: "deleted", ...(rev ? { rev } : {}) });
  if (prev.collection !== NSID.receipt) return;
  // A receipt withdrawn before it was decided is forgotten; a decided one stands.
  const r = await l.store.receipt(uri);
  if (r && !DECIDED.has(r.status)) l.store.deleteReceipt(uri);
}

export async function onPolicy(l: Ledger, uri: string, cid: string, value: Record<string, unknown>): Promise<void> {
  const createdAt = Date.parse(str(value, "createdAt") ?? "");
  if (!Number.isSafeInteger(createdAt)) return;
  const timeline = await l.policies();
  if (timeline.byUri(uri)) return; // a later version (active flipped) is the same policy
  // Decisions already made stand: a policy dated before the watermark cannot govern them.
  if (timeline.size > 0 && createdAt < l.meta.watermark) return;
  if (str(value, "exchange") !== l.env.exchange) return;
  const first = policyAsPublished(value, cid);
  const row = { uri, cid: first.cid, createdAt, value: first.value };
  try {
    timeline.add(row);
  } catch (err) {
    if (err instanceof LedgerError) return; // an unusable policy governs nothing
    throw err;
  }
  l.store.putPolicy(row);
  // The first policies of a new ledger: ledger time begins at the earliest.
  if (timeline.size === 1 && l.meta.decisionMs === 0) {
    l.meta.watermark = timeline.genesis;
    l.metaDirty = true;
  }
}

/** Step 1 of a receipt's path: pending, ignored, rejected or queued at its effective time. */
export async function candidate(l: Ledger, uri: string): Promise<void> {
  const rec = await l.store.record(uri);
  if (!rec || rec.status === "deleted") return;
  const prior = await l.store.receipt(uri);
  if (prior && DECIDED.has(prior.status)) {
    if (prior.status === "settled" && prior.facts === null && prior.cid === rec.cid) await restoreClaims(l, prior, rec.value);
    return;
  }
  if (prior && prior.status === "queued" && prior.cid === rec.cid) return;
  const parts = await loadParts(l.store, rec);
  const c = candidacy(parts, l.env.exchange);
  const base: ReceiptRow = {
    uri,
    cid: rec.cid,
    jobUri: parts.jobUri,
    requester: str(rec.value, "requester") ?? null,
    provider: rec.did,
    status: "pending",
    reason: null,
    waitingFor: null,
    findings: null,
    completedAt: null,
    eff: null,
    facts: null,
    settlement: null,
  };
  switch (c.kind) {
    case "pending":
      l.store.putReceipt({ ...base, reason: c.reason, waitingFor: c.waitingFor });
      return;
    case "ignored":
      l.store.putReceipt({ ...base, status: "ignored", reason: c.reason });
      return l.changed(uri, "ignored");
    case "rejected":
      return l.reject(base, c.findings, null);
    case "queued":
      l.store.putReceipt({ ...base, status: "queued", completedAt: c.completedAt, eff: Math.max(c.completedAt, l.meta.watermark) });
      return l.changed(uri, "queued");
  }
}

/** A replay's pre-verified receipt: queued as it is. */
export async function queueFacts(l: Ledger, f: ReceiptFacts): Promise<void> {
  const prior = await l.store.receipt(f.uri);
  if (prior) {
    if (prior.facts && JSON.stringify(prior.facts) !== JSON.stringify(f)) throw new LedgerError("idempotency-conflict", `receipt ${f.uri} was already seen with a different payload`);
    return;
  }
  const policy = (await l.policies()).at(f.completedAt);
  const base: ReceiptRow = {
    uri: f.uri,
    cid: f.cid,
    jobUri: f.jobUri,
    requester: f.requester,
    provider: f.provider,
    status: "queued",
    reason: null,
    waitingFor: null,
    findings: null,
    completedAt: f.completedAt,
    eff: Math.max(f.completedAt, l.meta.watermark),
    facts: f,
    settlement: null,
  };
  if (f.currency !== policy.ledger.currency) {
    return l.reject(base, [{ code: "currency-mismatch", message: `price currency ${f.currency} is not the ledger currency ${policy.ledger.currency}` }], null);
  }
  l.store.putReceipt(base);
  l.changed(f.uri, "queued");
}

/** A receipt settled by our own published log (rebuild): its claims once its record is known. */
export async function restoreClaims(l: Ledger, row: ReceiptRow, value: Record<string, unknown>): Promise<void> {
  const jobUri = str(objOf(value, "job"), "uri") ?? "";
  if (!jobUri || (await l.store.claim(`job:${jobUri}`))) return;
  l.store.putClaim({ key: `job:${jobUri}`, receipt: row.uri, authUri: null, jobUri });
  const job = await l.store.record(jobUri);
  const authUri = str(objOf(job?.value, "paymentAuthorization"), "uri");
  const auth = authUri ? await l.store.record(authUri) : undefined;
  const nonce = str(auth?.value, "nonce");
  if (auth && nonce && row.requester) {
    const key = nonceKey(row.requester, nonce);
    if (!(await l.store.claim(key))) l.store.putClaim({ key, receipt: row.uri, authUri: auth.uri, jobUri });
    if (str(auth.value, "scope") === "session" && row.settlement) l.store.putBudgetUsed(auth.uri, (await l.store.budgetUsed(auth.uri)) + row.settlement.charged);
  }
  l.store.putReceipt({ ...row, jobUri });
}

function schemaProblem(collection: string, value: Record<string, unknown>): string | null {
  if (!collection.startsWith("dev.cocore.")) return null;
  const v = validateRecord(collection, value);
  return v.ok ? null : v.message;
}
