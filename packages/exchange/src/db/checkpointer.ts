// WAL checkpoints off the writer's thread. SQLite's automatic checkpoint runs inside the commit
// that crosses the threshold, on the writer's connection: copying tens of megabytes back into the
// database file and two fsyncs, about 40% of what a bulk commit costs. Here the writer only
// appends to the WAL; a worker thread with its own connection runs passive checkpoints after
// commits, which never block the writer.
import { statSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type BetterSqlite3 from "better-sqlite3";

/** At most this often a commit asks the worker for a checkpoint (each one ends in an fsync). */
const KICK_INTERVAL_MS = 200;
/**
 * The WAL file is cut back to this size whenever it restarts, so a larger file means a WAL that
 * has not restarted since it grew past it. A WAL restarts only at the start of a write after a
 * checkpoint that copied every frame, and the worker, running beside a busy writer, often ends a
 * frame or two short; the writer then finishes the job itself at commit (a passive checkpoint
 * with little left to copy), so that the WAL, and the index SQLite searches on every page read,
 * stay small.
 */
const SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

export class Checkpointer {
  private readonly worker: Worker;
  private running = false;
  private again = false;
  private closed = false;
  private lastKick = 0;
  /** The last error the worker reported, kept for diagnostics; checkpoints are retried anyway. */
  lastError: string | undefined;

  constructor(
    private readonly file: string,
    private readonly writer: BetterSqlite3.Database,
  ) {
    writer.pragma("wal_autocheckpoint = 0");
    writer.pragma(`journal_size_limit = ${SIZE_LIMIT_BYTES}`);
    this.worker = new Worker(new URL("./checkpoint-worker.mjs", import.meta.url), { workerData: { file } });
    this.worker.unref();
    this.worker.on("message", (msg: { done?: boolean; error?: string }) => {
      if (!msg.done) return;
      if (msg.error) this.lastError = msg.error;
      this.running = false;
      // After close() the worker stays referenced until it has exited (close awaits that).
      if (this.closed) return;
      if (this.again) this.kick();
      else this.worker.unref();
    });
    // A worker that dies leaves the writer to checkpoint on its own: SQLite's automatic
    // checkpoint is restored.
    this.worker.on("error", (err) => {
      this.lastError = err.message;
      this.closed = true;
      if (writer.open) writer.pragma("wal_autocheckpoint = 10000");
    });
  }

  private walBytes(): number {
    try {
      return statSync(`${this.file}-wal`).size;
    } catch {
      return 0;
    }
  }

  /** Called after each committed write transaction. */
  afterCommit(): void {
    if (this.closed) return;
    try {
      this.afterCommitUnsafe();
    } catch (err) {
      // The transaction has committed: a checkpoint that failed (I/O) must not make it look failed.
      this.lastError = err instanceof Error ? err.message : String(err);
    }
  }

  private afterCommitUnsafe(): void {
    if (this.walBytes() > SIZE_LIMIT_BYTES) {
      this.writer.pragma("wal_checkpoint(passive)");
      return;
    }
    const now = Date.now();
    if (now - this.lastKick >= KICK_INTERVAL_MS) {
      this.lastKick = now;
      this.kick();
    }
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.again = false;
    this.worker.ref();
    this.worker.postMessage("go");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.postMessage("close");
    await new Promise<void>((resolve) => {
      this.worker.once("exit", () => resolve());
      this.worker.ref();
    });
  }
}
