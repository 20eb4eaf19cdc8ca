// Applying a batch of record operations (one firehose commit, a backfilled repo slice, a bench
// batch) in ONE transaction, together with the cursor that produced it: the ledger machine stores
// and considers the records, then moves the watermark (@cocore/protocol ledger/README.md). This
// module only loads, stores and wires; every rule is the machine's.
import { Ledger, LOG_COLLECTIONS, parseAtUri, type Effects, type MachineEnv, type RecordOp } from "@cocore/protocol";
import type { BatchResult, EngineContext, IngestOp } from "./context.ts";
import { SqlStore } from "./store/sql-store.ts";
import type { PreparedChecks } from "./verifier.ts";

export type { BatchResult, EngineContext, IngestOp, PolicyInUse, Verifier } from "./context.ts";

/** A batch whose records have been checked (schema, signatures ahead), ready for its transaction. */
export interface PreparedBatch {
  ops: IngestOp[];
  checks?: PreparedChecks;
  /** The exchange's own repo read back at start: its published records restore the log. */
  restoreLog?: boolean;
}

/** The machine's environment for this exchange: its DID and its caching verifier. */
export function machineEnv(ctx: EngineContext): MachineEnv {
  return { exchange: ctx.did, verify: (bundle, options) => ctx.verifier.verify(bundle, ctx.did, options.trusted) };
}

/** How far the watermark may move now: what ingestion has reached, less the grace. */
export function watermarkTarget(ctx: EngineContext): number {
  const now = ctx.now();
  return Math.min(now, ctx.ingestedThrough?.(now) ?? now) - (ctx.graceMs ?? 0);
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

  submit(ops: IngestOp[], cursor?: { source: string; seq: number }, opts: { restoreLog?: boolean } = {}): Promise<BatchResult> {
    const prepared = prepareBatch(this.ctx, ops).then((b) => ({ ...b, ...(opts.restoreLog ? { restoreLog: true } : {}) }));
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

/** Settled and rejected receipts of a transition's effects (final statuses, in order). */
export function resultOf(...fxs: Effects[]): BatchResult {
  const last = new Map<string, string>();
  for (const fx of fxs) for (const r of fx.receipts) last.set(r.uri, r.status);
  const out: BatchResult = { settled: [], rejected: [] };
  for (const [uri, status] of last) {
    if (status === "settled") out.settled.push(uri);
    else if (status === "rejected") out.rejected.push(uri);
  }
  return out;
}

function recordOps(batch: PreparedBatch): RecordOp[] {
  const out: RecordOp[] = [];
  batch.ops.forEach((op, i) => {
    if (op.action === "delete") out.push({ action: "delete", uri: op.uri, ...(op.rev ? { rev: op.rev } : {}) });
    else if (op.record && op.cid) {
      const schema = batch.checks?.schema[i];
      out.push({ action: "put", uri: op.uri, cid: op.cid, value: op.record, ...(op.rev ? { rev: op.rev } : {}), ...(schema !== undefined ? { schema } : {}) });
    }
  });
  return out;
}

export async function commitBatch(ctx: EngineContext, batch: PreparedBatch, cursor?: { source: string; seq: number }): Promise<BatchResult> {
  return ctx.ldb.write(async (tx) => {
    const store = new SqlStore(tx, ctx.ldb);
    // The ledger lock before any read (PostgreSQL): a row prefetched ahead of it could be stale.
    await store.meta();
    const values = new Map<string, Record<string, unknown>>();
    batch.ops.forEach((op, i) => {
      if (op.record) values.set(op.uri, op.record);
      const json = batch.checks?.json[i];
      if (json !== undefined) store.jsonFor(op.uri, json);
    });
    await store.prefetchBatch(batch.ops.map((o) => o.uri), values);
    const ledger = new Ledger(store, machineEnv(ctx));
    const ops = recordOps(batch);
    // A ledger starts with the policy it is run under (an exchange's own records bring the rest).
    if ((await store.policies()).length === 0) ops.unshift({ action: "put", uri: ctx.policy.uri, cid: ctx.policy.cid, value: ctx.policy.value });
    const stored = await ledger.apply({ type: "records", ops, seenAt: ctx.now(), ...(batch.restoreLog ? { restoreLog: true } : {}) });
    const advanced = await ledger.apply({ type: "advance", to: watermarkTarget(ctx) });
    await store.flush();
    // Our own records coming back: the outbox rows they answer are published.
    for (const op of batch.ops) {
      const at = parseAtUri(op.uri);
      if (!at || at.did !== ctx.did || !op.cid || !LOG_COLLECTIONS.has(at.collection)) continue;
      await tx.updateTable("outbox").set({ published_uri: op.uri, published_cid: op.cid }).where("collection", "=", at.collection).where("rkey", "=", at.rkey).where("published_uri", "is", null).execute();
    }
    if (cursor) {
      await tx
        .insertInto("cursor")
        .values({ source: cursor.source, seq: cursor.seq })
        .onConflict((oc) => oc.column("source").doUpdateSet({ seq: cursor.seq }))
        .execute();
    }
    return resultOf(stored, advanced);
  });
}
