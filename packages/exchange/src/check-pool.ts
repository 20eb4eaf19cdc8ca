// A pool of worker threads for the CPU-bound per-record checks of bulk ingest (lexicon validation,
// P-256 verification), so that verification spreads over the machine's cores while the main thread
// does the database work of the previous batch. Workers are referenced only while they have work,
// so an idle pool never keeps the process alive.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { CheckItem, CheckResult } from "./check.ts";

interface Pending {
  resolve(out: CheckResult[]): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export function defaultCheckWorkers(): number {
  // The ingesting thread keeps a core for the database work of the batch before.
  return Math.max(1, availableParallelism() - 1);
}

export class CheckPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  constructor(readonly size = defaultCheckWorkers()) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(new URL("./check-worker.mjs", import.meta.url));
    const slot: Slot = { worker, pending: new Map() };
    worker.unref();
    worker.on("message", (msg: { id: number; out?: CheckResult[]; error?: string }) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (slot.pending.size === 0) worker.unref();
      if (msg.out) p.resolve(msg.out);
      else p.reject(new Error(`check worker: ${msg.error ?? "no answer"}`));
    });
    const fail = (err: Error) => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      // A dead worker is replaced; the batches it held are checked inline by the caller.
      const i = this.slots.indexOf(slot);
      if (i >= 0 && !this.closed) this.slots[i] = this.spawn();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (!this.closed) fail(new Error(`check worker exited with code ${code}`));
    });
    return slot;
  }

  /** Resolves once every worker has loaded its code (a first batch need not wait for that). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.send(s, [])));
  }

  /** Checks `items` spread over the workers; results in the same order. */
  async run(items: CheckItem[]): Promise<CheckResult[]> {
    if (this.closed) throw new Error("check pool is closed");
    const n = Math.min(this.slots.length, Math.max(1, items.length));
    // Interleaved, so that expensive items (receipts with a signature) spread evenly.
    const parts: CheckItem[][] = Array.from({ length: n }, () => []);
    items.forEach((it, i) => parts[i % n]!.push(it));
    const answers = await Promise.all(parts.map((part, w) => this.send(this.slots[w]!, part)));
    const out: CheckResult[] = new Array<CheckResult>(items.length);
    answers.forEach((a, w) => a.forEach((r, j) => (out[j * n + w] = r)));
    return out;
  }

  private send(slot: Slot, items: CheckItem[]): Promise<CheckResult[]> {
    const id = ++this.nextId;
    return new Promise<CheckResult[]>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.ref();
      try {
        slot.worker.postMessage({ id, items });
      } catch (err) {
        // Not cloneable: nothing reached the worker, so nothing will answer (the caller checks inline).
        slot.pending.delete(id);
        if (slot.pending.size === 0) slot.worker.unref();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
