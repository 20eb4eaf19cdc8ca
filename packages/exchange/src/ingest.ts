// Applying one firehose commit so that it is never lost: the cursor only moves past a commit that
// was applied, or that was written to `dead_letters` (in the same transaction as the cursor) after
// failing the same way `deadLetterAfter` times in a row. Transient failures (the database being
// unreachable, lock timeouts) are retried with capped exponential backoff for as long as it takes.
import { fromJsonRecord, toJsonRecord } from "@cocore/protocol";
import { applyBatch, type BatchResult, type EngineContext, type IngestOp } from "./engine.ts";
import { toInt } from "./ints.ts";

export interface CommitRef {
  source: string;
  seq: number;
  did: string;
}

export interface DurableApplyOptions {
  log(line: string): void;
  /** True once the exchange is closing: stop retrying (the cursor stays before this commit). */
  stopping(): boolean;
  /** Identical consecutive failures before a commit is dead-lettered (default 5). */
  deadLetterAfter?: number;
  /** Backoff cap (default 30 s); the first retry waits `baseDelayMs` (default 50 ms). */
  maxDelayMs?: number;
  baseDelayMs?: number;
  sleep?(ms: number): Promise<void>;
  /** The apply step (default applyBatch with the cursor); a test seam for injected failures. */
  apply?(ctx: EngineContext, ops: IngestOp[], cursor: { source: string; seq: number }): Promise<BatchResult>;
}

export type DurableOutcome = "applied" | "dead-lettered" | "stopped";

// Connection and resource errors say nothing about the commit: retry them forever.
const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "57P01", "57P02", "57P03", "53300", "55P03", "40001", "40P01"]);

export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (TRANSIENT_CODES.has(code) || code.startsWith("08") || code.startsWith("53"))) return true;
  const msg = err instanceof Error ? err.message : String(err);
  return /connection (terminated|refused|reset)|timeout|Client has encountered a connection error|database is locked/i.test(msg);
}

const describe = (err: unknown) => (err instanceof Error ? `${(err as { code?: unknown }).code ? `${String((err as { code?: unknown }).code)}: ` : ""}${err.message}` : String(err));
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function applyCommitDurably(ctx: EngineContext, ops: IngestOp[], commit: CommitRef, opts: DurableApplyOptions): Promise<DurableOutcome> {
  const apply = opts.apply ?? ((c, o, cursor) => applyBatch(c, o, cursor));
  const limit = opts.deadLetterAfter ?? 5;
  // Slept in short slices so that closing does not wait out a long backoff.
  const sleep =
    opts.sleep ??
    (async (ms: number) => {
      for (let left = ms; left > 0 && !opts.stopping(); left -= 100) await defaultSleep(Math.min(100, left));
    });
  const base = opts.baseDelayMs ?? 50;
  const cap = opts.maxDelayMs ?? 30_000;
  let lastError = "";
  let same = 0;
  for (let attempt = 0; ; attempt++) {
    if (opts.stopping()) return "stopped";
    try {
      await apply(ctx, ops, { source: commit.source, seq: commit.seq });
      return "applied";
    } catch (err) {
      const message = describe(err);
      const transient = isTransient(err);
      same = !transient && message === lastError ? same + 1 : transient ? 0 : 1;
      lastError = transient ? "" : message;
      if (same >= limit) {
        try {
          await deadLetter(ctx, ops, commit, message, attempt + 1);
          opts.log(`DEAD LETTER: seq ${commit.seq} from ${commit.did} (${commit.source}) failed ${same} times with "${message}"; stored in dead_letters, replay it once fixed`);
          return "dead-lettered";
        } catch (dlErr) {
          opts.log(`seq ${commit.seq}: could not store the dead letter: ${describe(dlErr)} (retrying)`);
        }
      } else if (attempt === 0 || attempt % 10 === 0) {
        opts.log(`seq ${commit.seq} from ${commit.did} not applied (attempt ${attempt + 1}${transient ? ", transient" : ""}): ${message}; retrying`);
      }
      await sleep(Math.min(cap, base * 2 ** Math.min(attempt, 20)));
    }
  }
}

async function deadLetter(ctx: EngineContext, ops: IngestOp[], commit: CommitRef, error: string, attempts: number): Promise<void> {
  const stored = JSON.stringify(ops.map((o) => ({ ...o, ...(o.record ? { record: toJsonRecord(o.record) } : {}) })));
  await ctx.ldb.write(async (tx) => {
    await tx
      .insertInto("dead_letters")
      .values({ source: commit.source, seq: commit.seq, did: commit.did, ops: stored, error, attempts, at: new Date(ctx.now()).toISOString(), replayed_at: null })
      .onConflict((oc) => oc.columns(["source", "seq"]).doUpdateSet({ error, attempts, replayed_at: null }))
      .execute();
    await tx
      .insertInto("cursor")
      .values({ source: commit.source, seq: commit.seq })
      .onConflict((oc) => oc.column("source").doUpdateSet({ seq: commit.seq }))
      .execute();
  });
}

export interface DeadLetter {
  source: string;
  seq: number;
  did: string;
  error: string;
  attempts: number;
  at: string;
  replayedAt: string | null;
  ops: IngestOp[];
}

export async function listDeadLetters(ctx: Pick<EngineContext, "ldb">, opts: { includeReplayed?: boolean } = {}): Promise<DeadLetter[]> {
  let q = ctx.ldb.db.selectFrom("dead_letters").selectAll().orderBy("source").orderBy("seq");
  if (!opts.includeReplayed) q = q.where("replayed_at", "is", null);
  return (await q.execute()).map((r) => ({
    source: r.source,
    seq: toInt(r.seq, "seq"),
    did: r.did,
    error: r.error,
    attempts: toInt(r.attempts, "attempts"),
    at: r.at,
    replayedAt: r.replayed_at,
    ops: (JSON.parse(r.ops) as IngestOp[]).map((o) => ({ ...o, ...(o.record ? { record: fromJsonRecord(o.record) as Record<string, unknown> } : {}) })),
  }));
}

/**
 * Applies the dead letters not replayed yet, in (source, seq) order, each in its own transaction;
 * one that still fails stays (its new error recorded). The cursor is not touched: it is already past them.
 */
export async function replayDeadLetters(ctx: EngineContext): Promise<{ replayed: number; failed: number }> {
  let replayed = 0;
  let failed = 0;
  for (const d of await listDeadLetters(ctx)) {
    try {
      await applyBatch(ctx, d.ops);
      await ctx.ldb.db.updateTable("dead_letters").set({ replayed_at: new Date(ctx.now()).toISOString() }).where("source", "=", d.source).where("seq", "=", d.seq).execute();
      replayed++;
    } catch (err) {
      await ctx.ldb.db.updateTable("dead_letters").set({ error: describe(err), attempts: d.attempts + 1 }).where("source", "=", d.source).where("seq", "=", d.seq).execute();
      failed++;
    }
  }
  return { replayed, failed };
}
