// The durable receipt queue: a completed job's signed receipt is appended here (fsync'd) BEFORE
// the first attempt to write it to the PDS, and marked done only after the PDS acknowledged it.
// Each receipt carries its rkey from the start, and the write is a putRecord to that rkey, so a
// retry after a write whose answer was lost replaces the record with identical bytes instead of
// creating a second receipt for the same job. Format: append-only JSONL, one of
//   {"op":"enqueue","rkey","jobUri","value"}   value in atproto JSON form ($bytes)
//   {"op":"done","rkey","uri","cid"}
// compacted (pending entries only, atomic rename) when the queue is opened.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { putRecord, type Agent, type RecordRef } from "@cocore/atproto";

export const RECEIPT_COLLECTION = "dev.cocore.compute.receipt";

export interface QueuedReceipt {
  rkey: string;
  jobUri: string;
  value: Record<string, unknown>;
  attempts: number;
  lastError?: string;
}

type Line =
  | { op: "enqueue"; rkey: string; jobUri: string; value: Record<string, unknown> }
  | { op: "done"; rkey: string; uri: string; cid: string };

export class ReceiptQueue {
  private pending = new Map<string, QueuedReceipt>();
  private flushing: Promise<void> | undefined;

  private constructor(readonly path: string) {}

  static open(path: string): ReceiptQueue {
    const q = new ReceiptQueue(path);
    if (existsSync(path)) {
      for (const raw of readFileSync(path, "utf8").split("\n")) {
        if (!raw.trim()) continue;
        let line: Line;
        try {
          line = JSON.parse(raw) as Line;
        } catch {
          continue; // a torn final line from a crash mid-append; its receipt was never acknowledged as queued
        }
        if (line.op === "enqueue") q.pending.set(line.rkey, { rkey: line.rkey, jobUri: line.jobUri, value: line.value, attempts: 0 });
        else if (line.op === "done") q.pending.delete(line.rkey);
      }
    }
    q.compact();
    return q;
  }

  private compact(): void {
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      for (const r of this.pending.values()) writeSync(fd, JSON.stringify({ op: "enqueue", rkey: r.rkey, jobUri: r.jobUri, value: r.value }) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }

  private append(line: Line): void {
    const fd = openSync(this.path, "a", 0o600);
    try {
      writeSync(fd, JSON.stringify(line) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Durably records a receipt that must reach the PDS. */
  enqueue(rkey: string, jobUri: string, value: Record<string, unknown>): void {
    this.append({ op: "enqueue", rkey, jobUri, value });
    this.pending.set(rkey, { rkey, jobUri, value, attempts: 0 });
  }

  markDone(rkey: string, ref: RecordRef): void {
    this.append({ op: "done", rkey, uri: ref.uri, cid: ref.cid });
    this.pending.delete(rkey);
  }

  list(): QueuedReceipt[] {
    return [...this.pending.values()];
  }

  get size(): number {
    return this.pending.size;
  }

  /** Writes one queued receipt; on failure it stays queued and the error is returned. */
  async writeOne(agent: Agent, rkey: string): Promise<RecordRef> {
    const item = this.pending.get(rkey);
    if (!item) throw new Error(`receipt ${rkey} is not queued`);
    item.attempts++;
    try {
      const ref = await putRecord(agent, RECEIPT_COLLECTION, rkey, item.value);
      this.markDone(rkey, ref);
      return ref;
    } catch (err) {
      item.lastError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  /** Tries every queued receipt once (serialised: concurrent callers share one pass). */
  flush(agent: Agent): Promise<void> {
    this.flushing ??= (async () => {
      try {
        for (const item of this.list()) {
          try {
            await this.writeOne(agent, item.rkey);
          } catch {
            // stays queued for the next pass
          }
        }
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }
}
