// Applying a batch of record operations (one firehose commit, a backfilled repo, or a bench
// batch) to the ledger in ONE transaction, together with the cursor that produced it. The order of
// work inside a batch: store the records; apply our own published facts (grants, refreshes,
// patronage) read back; evaluate new receipts and receipts that were waiting for a record that
// just arrived; then retry parked receipts of anyone whose balance went up.
import { NSID } from "@cocore/protocol";
import { selectByKeys, type LookupSpec } from "./db/bulk.ts";
import { settlementKey, type BatchResult, type EngineContext, type IngestOp } from "./context.ts";
import { objOf, str } from "./fields.ts";
import { applyFacts } from "./facts.ts";
import { parseAtUri, RecordCache, schemaCheck } from "./records.ts";
import { evaluateReceipts, retryParked } from "./settle.ts";
import type { PreparedChecks } from "./verifier.ts";
import { UnitOfWork } from "./uow.ts";

export type { BatchResult, EngineContext, IngestOp, PolicyInUse, Verifier } from "./context.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Receipts waiting for one of the given records: pending ones (the record was missing) and
 * rejected ones (judged against a version of it that may have been stale; settle.ts).
 */
const WAITING_FOR: LookupSpec = { table: "receipts", columns: ["uri", "status"], keys: ["waiting_for"], where: "waiting_for is not null and status in ('pending', 'rejected')" };

/** A batch whose records have been checked (schema, signatures ahead), ready for its transaction. */
export interface PreparedBatch {
  ops: IngestOp[];
  checks?: PreparedChecks;
}

/** The database-free part of a batch; may run while the previous batch's transaction does. */
export async function prepareBatch(ctx: EngineContext, ops: IngestOp[]): Promise<PreparedBatch> {
  const relevant = ops.filter((op) => parseAtUri(op.uri)?.collection.startsWith("dev.cocore.") ?? false);
  if (!ctx.verifier.prepare) return { ops: relevant };
  const checks = await ctx.verifier.prepare(
    relevant.map((op) => ({ uri: op.uri, collection: parseAtUri(op.uri)!.collection, cid: op.cid, record: op.action === "delete" ? undefined : op.record })),
  );
  return { ops: relevant, checks };
}

export async function applyBatch(ctx: EngineContext, ops: IngestOp[], cursor?: { source: string; seq: number }): Promise<BatchResult> {
  return commitBatch(ctx, await prepareBatch(ctx, ops), cursor);
}

/**
 * Batches applied in order, each prepared as soon as it is submitted: the record checks of the
 * next batch (in worker threads) overlap the transaction of the current one.
 */
export class BatchPipeline {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: EngineContext) {}

  submit(ops: IngestOp[], cursor?: { source: string; seq: number }): Promise<BatchResult> {
    const prepared = prepareBatch(this.ctx, ops);
    prepared.catch(() => {}); // reported through the commit below
    const run = this.tail.then(async () => commitBatch(this.ctx, await prepared, cursor));
    this.tail = run.catch(() => {});
    return run;
  }

  /** Resolves when everything submitted so far has been committed (or failed). */
  async idle(): Promise<void> {
    await this.tail;
  }
}

export async function commitBatch(ctx: EngineContext, batch: PreparedBatch, cursor?: { source: string; seq: number }): Promise<BatchResult> {
  const result: BatchResult = { settled: [], rejected: [] };
  const relevant = batch.ops;
  const checks = batch.checks;
  await ctx.ldb.write(async (tx) => {
    const u = new UnitOfWork(tx, ctx.ldb, ctx.policy.ledger);
    const recs = new RecordCache(tx, ctx.ldb);
    await recs.load(relevant.map((o) => o.uri));
    const candidates = new Set<string>();
    const arrived = new Set<string>();
    const facts: { uri: string; collection: string; value: Record<string, unknown> }[] = [];
    const ownRecords: { collection: string; rkey: string; uri: string; cid: string; value: Record<string, unknown> }[] = [];
    const firstSeen = iso(ctx.now());
    for (const [i, op] of relevant.entries()) {
      const at = parseAtUri(op.uri)!;
      const prev = recs.peek(op.uri);
      // An older version replayed after a newer one (a rebuild: the backfill brought the current
      // version, then the stream replays earlier commits; or sources delivering out of order).
      if (op.rev && prev?.rev && op.rev < prev.rev) continue;
      if (op.action === "delete") {
        recs.markDeleted(op.uri, op.rev);
        continue;
      }
      if (!op.record || !op.cid) continue;
      if (prev && prev.cid === op.cid && prev.status !== "deleted") {
        if (op.rev) recs.bumpRev(op.uri, op.rev);
        continue; // a duplicate or replay
      }
      const checked = checks?.schema[i];
      const problem = checked === undefined ? schemaCheck(at.collection, op.record) : checked;
      recs.put({
        uri: op.uri,
        did: at.did,
        collection: at.collection,
        rkey: at.rkey,
        cid: op.cid,
        status: problem ? "rejected" : "accepted",
        reason: problem,
        first_seen: prev?.first_seen ?? firstSeen,
        rev: op.rev ?? null,
        lex: op.record,
        ...(checks?.json[i] !== undefined ? { json: checks.json[i] } : {}),
      });
      if (at.did === ctx.did) {
        ownRecords.push({ collection: at.collection, rkey: at.rkey, uri: op.uri, cid: op.cid, value: op.record });
        if (!problem && (at.collection === NSID.tokenGrant || at.collection === NSID.tokenRefresh || at.collection === NSID.tokenPatronage)) {
          facts.push({ uri: op.uri, collection: at.collection, value: op.record });
        }
      }
      if (at.collection === NSID.receipt) candidates.add(op.uri);
      else if (at.collection === NSID.job || at.collection === NSID.paymentAuthorization || at.collection === NSID.attestation) {
        arrived.add(op.uri);
      }
    }

    // Our own records coming back: the outbox rows they answer are published.
    for (const r of ownRecords) {
      const settled = r.collection === NSID.settlement ? str(objOf(r.value, "receipt"), "uri") : undefined;
      if (settled) {
        // Our settlement of this receipt exists (whatever rkey an older version chose): it is
        // the one, reused by flushOutbox and never written a second time.
        await tx
          .insertInto("own_settlements")
          .values({ receipt_uri: settled, uri: r.uri, cid: r.cid, rkey: r.rkey })
          .onConflict((oc) => oc.column("receipt_uri").doNothing())
          .execute();
        await tx
          .updateTable("outbox")
          .set({ rkey: r.rkey, published_uri: r.uri, published_cid: r.cid })
          .where("key", "=", settlementKey(settled))
          .where("published_uri", "is", null)
          .execute();
      }
      await tx
        .updateTable("outbox")
        .set({ published_uri: r.uri, published_cid: r.cid })
        .where("collection", "=", r.collection)
        .where("rkey", "=", r.rkey)
        .where("published_uri", "is", null)
        .execute();
    }

    if (facts.length > 0) await applyFacts(ctx, u, facts);

    const rejudge = new Set<string>();
    for (const w of await selectByKeys<{ uri: string; status: string }>(ctx.ldb, tx, WAITING_FOR, [...arrived].map((a) => [a]))) {
      candidates.add(w.uri);
      if (w.status === "rejected") rejudge.add(w.uri);
    }
    if (candidates.size > 0) await evaluateReceipts(ctx, u, recs, [...candidates], result, false, rejudge);
    await retryParked(ctx, u, recs, result);

    await recs.flush();
    await u.flush();
    if (cursor) {
      await tx
        .insertInto("cursor")
        .values({ source: cursor.source, seq: cursor.seq })
        .onConflict((oc) => oc.column("source").doUpdateSet({ seq: cursor.seq }))
        .execute();
    }
  });
  return result;
}
