// Slots and the waiting lines: which job runs on which machine's slot, and a bounded, fair queue
// per model for the jobs that find every fitting machine busy (fair-queue.ts has the rule).
//
// A job reserves its place in line before admission (so that a full line refuses it before
// anything is held) and joins the line once admitted; it leaves it for a slot, at its deadline
// (queue_timeout), when its requester goes away, or when no live machine can open its prompt any
// more. A freed slot goes to the next fitting job in line synchronously, before anything else can
// see it, so a job arriving later never overtakes one that waits.
import { DispatchError } from "./codes.ts";
import { FairQueue } from "./fair-queue.ts";
import { activeFor, capacityFor, hasSlot, occupy, vacate, type MachineEntry, type Registry, type RouteRequest } from "./registry.ts";
import { expectedWaitMs, retryAfterSeconds, ServiceRate } from "./service-rate.ts";
import type { ModelStatus } from "./wire.ts";

export interface QueueLimits {
  /** Jobs waiting (or being admitted to wait) per model. */
  maxQueuedPerModel: number;
  /** Longest a job waits for a slot; its own expiresAt may end the wait sooner. */
  maxWaitMs: number;
}

/**
 * Sized so that a burst of 100 jobs against one provider with one slot is served: 256 places, and
 * three minutes of waiting — 100 jobs at up to ~1.8 s each.
 */
export const DEFAULT_QUEUE_LIMITS: QueueLimits = { maxQueuedPerModel: 256, maxWaitMs: 180_000 };

/** Position notices at most this often; the same notice again after KEEPALIVE_MS so that idle proxies keep the stream open. */
const NOTICE_EVERY_MS = 1_000;
const KEEPALIVE_MS = 10_000;

export interface QueuedJob {
  uri: string;
  requester: string;
  model: string;
  route: RouteRequest;
  /** Preferred machine (the offer the prompt was sealed for). */
  machineId?: string;
  expiresAtMs: number;
}

export interface QueueNotice {
  position: number;
  waitMs: number;
  queued: number;
}

interface Entry {
  job: QueuedJob;
  enqueuedAt: number;
  grant?: (m: MachineEntry) => void;
  fail?: (e: DispatchError) => void;
  notify?: (n: QueueNotice) => void;
  last?: { position: number; at: number };
  orphanedSince?: number;
  timer?: NodeJS.Timeout;
}

interface Line {
  queue: FairQueue<Entry>;
  admitting: number;
  rate: ServiceRate;
}

export interface QueuesDeps {
  registry: Registry;
  limits: QueueLimits;
  /** How long a waiting job may have no live machine able to open its prompt before it fails. */
  orphanGraceMs: number;
  now: () => number;
}

/** A place in a model's line, reserved before admission. */
export interface Ticket {
  /** Admission was refused (or failed): give the place back. */
  cancel(): void;
  /** Admitted: wait in line for a slot (already occupied for the job when this resolves). */
  wait(signal: AbortSignal, notify: (n: QueueNotice) => void): Promise<MachineEntry>;
}

export class JobQueues {
  private readonly lines = new Map<string, Line>();
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly d: QueuesDeps) {
    d.registry.onChange(() => this.pumpAll());
  }

  private line(model: string): Line {
    let l = this.lines.get(model);
    if (!l) {
      l = { queue: new FairQueue<Entry>(this.d.limits.maxQueuedPerModel), admitting: 0, rate: new ServiceRate() };
      this.lines.set(model, l);
    }
    return l;
  }

  /** Machines that can take `job` at all, best first (throws the routing refusal when none). */
  private candidates(job: QueuedJob, exclude?: ReadonlySet<string>): MachineEntry[] {
    return this.d.registry.candidates({ ...job.route, excludeConnections: exclude }, this.d.now());
  }

  /** A free slot for `job` now, occupied for it; undefined when every fitting machine is busy. */
  tryStart(job: QueuedJob): MachineEntry | undefined {
    // Jobs already waiting get any slot that has come free first.
    this.pump(job.model);
    const free = this.candidates(job).filter((m) => hasSlot(m, job.model));
    const m = free.find((c) => c.machineId === job.machineId) ?? free[0];
    if (m) occupy(m, job.model);
    return m;
  }

  /** Jobs waiting in any line whose prompt is sealed to `m`'s key (only it can run them). */
  waitingFor(m: MachineEntry): number {
    let n = 0;
    for (const l of this.lines.values()) for (const e of l.queue.order()) if (e.job.route.encryptionPubKey === m.encryptionPubKey) n++;
    return n;
  }

  /** Takes a slot even if the machine is full: a job re-dispatched after its machine dropped keeps its turn. */
  occupyAnyway(m: MachineEntry, model: string): MachineEntry {
    occupy(m, model);
    return m;
  }

  /** A job's slot on `m` is free again; `servedMs` is how long a job that completed held it. */
  finished(m: MachineEntry, model: string, servedMs?: number): void {
    vacate(m, model);
    if (servedMs !== undefined) this.line(model).rate.record(servedMs);
    this.pump(model);
  }

  /** Reserves a place in `job`'s line, or refuses with 429 queue_full before anything is held. */
  reserve(job: QueuedJob): Ticket {
    const l = this.line(job.model);
    if (l.queue.size + l.admitting >= l.queue.maxLength) {
      const { slots } = this.capacity(job.model);
      const retryAfter = retryAfterSeconds(l.queue.size + l.admitting, slots, l.rate);
      throw new DispatchError("queue_full", `${l.queue.size + l.admitting} jobs are already waiting for "${job.model}" (the most this matchmaker queues); retry in ${retryAfter} s.`, {
        queued: l.queue.size + l.admitting,
        maxQueued: l.queue.maxLength,
        retryAfterMs: retryAfter * 1000,
      });
    }
    l.admitting += 1;
    let held = true;
    const giveBack = () => {
      if (held) l.admitting -= 1;
      held = false;
    };
    return {
      cancel: giveBack,
      wait: (signal, notify) => {
        giveBack();
        return this.enqueue(job, signal, notify);
      },
    };
  }

  private enqueue(job: QueuedJob, signal: AbortSignal, notify: (n: QueueNotice) => void): Promise<MachineEntry> {
    const l = this.line(job.model);
    const now = this.d.now();
    return new Promise<MachineEntry>((resolve, reject) => {
      const entry: Entry = { job, enqueuedAt: now, notify };
      const leave = () => {
        clearTimeout(entry.timer);
        signal.removeEventListener("abort", onAbort);
        entry.grant = entry.fail = entry.notify = undefined;
        this.maybeStopTicker();
      };
      const onAbort = () => {
        if (!l.queue.remove(entry)) return;
        leave();
        reject(new DispatchError("requester_gone", "The requester went away while the job was waiting for a slot."));
      };
      entry.grant = (m) => {
        leave();
        resolve(m);
      };
      entry.fail = (e) => {
        l.queue.remove(entry);
        leave();
        reject(e);
      };
      if (signal.aborted) return reject(new DispatchError("requester_gone", "The requester went away before the job joined the queue."));
      // The place was reserved, so the line has room.
      l.queue.push(job.requester, entry);
      const byExpiry = job.expiresAtMs < now + this.d.limits.maxWaitMs;
      const deadline = Math.min(now + this.d.limits.maxWaitMs, job.expiresAtMs);
      entry.timer = setTimeout(() => {
        const n = this.notice(entry);
        entry.fail?.(
          new DispatchError(
            "queue_timeout",
            byExpiry
              ? `The job reached its expiresAt while waiting for a slot (still ${n.position} in line); nothing was charged.`
              : `The job waited ${Math.round(this.d.limits.maxWaitMs / 1000)} s for a slot (the most this matchmaker waits) and was still ${n.position} in line; nothing was charged.`,
            { queuePosition: n.position, queueWaitMs: n.waitMs },
          ),
        );
      }, Math.max(0, deadline - now));
      entry.timer.unref?.();
      signal.addEventListener("abort", onAbort);
      // A slot may have freed while admission ran.
      this.pump(job.model);
      if (!l.queue.has(entry)) return;
      this.tell(entry, true);
      this.startTicker();
    });
  }

  private capacity(model: string): { slots: number; busy: number; machines: MachineEntry[] } {
    const machines = this.d.registry.live(this.d.now()).filter((m) => m.models.includes(model));
    let slots = 0;
    let busy = 0;
    for (const m of machines) {
      slots += capacityFor(m, model);
      busy += Math.min(activeFor(m, model), capacityFor(m, model));
    }
    return { slots, busy, machines };
  }

  private notice(entry: Entry): QueueNotice {
    const l = this.line(entry.job.model);
    const position = l.queue.position(entry) ?? 0;
    const { slots } = this.capacity(entry.job.model);
    // A waiting job waits because its machines are busy, even when some other machine has room.
    return { position, waitMs: finite(expectedWaitMs(position, slots, slots, l.rate)), queued: l.queue.size };
  }

  private tell(entry: Entry, force = false): void {
    if (!entry.notify) return;
    const n = this.notice(entry);
    const now = this.d.now();
    const last = entry.last;
    if (!force && last && (now - last.at < NOTICE_EVERY_MS || (n.position === last.position && now - last.at < KEEPALIVE_MS))) return;
    entry.last = { position: n.position, at: now };
    entry.notify(n);
  }

  /** Gives free slots of `model` to waiting jobs, in fair order, until none fits. */
  private pump(model: string): void {
    const l = this.lines.get(model);
    if (!l || l.queue.size === 0) return;
    const now = this.d.now();
    for (;;) {
      const free = this.d.registry.live(now).filter((m) => m.models.includes(model) && hasSlot(m, model));
      if (free.length === 0) return;
      let granted = false;
      for (const m of free) {
        const entry = l.queue.take((e) => this.fits(e, m));
        if (!entry) continue;
        occupy(m, model);
        entry.grant?.(m);
        granted = true;
        break;
      }
      if (!granted) return;
    }
  }

  private pumpAll(): void {
    for (const model of this.lines.keys()) this.pump(model);
  }

  private fits(e: Entry, m: MachineEntry): boolean {
    try {
      return this.candidates(e.job).includes(m);
    } catch {
      return false;
    }
  }

  private startTicker(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => this.tick(), NOTICE_EVERY_MS);
    this.ticker.unref();
  }

  private maybeStopTicker(): void {
    if (this.ticker && [...this.lines.values()].every((l) => l.queue.size === 0)) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Once a second while anything waits: slots that came free by time (a cool-down ended), notices, orphans. */
  private tick(): void {
    const now = this.d.now();
    this.pumpAll();
    for (const l of this.lines.values()) {
      for (const entry of l.queue.order()) {
        let problem: DispatchError | undefined;
        try {
          this.candidates(entry.job);
          entry.orphanedSince = undefined;
        } catch (err) {
          problem = err instanceof DispatchError ? err : new DispatchError("provider_unavailable", String(err));
          entry.orphanedSince ??= now;
        }
        // A machine that dropped usually comes back within seconds with the same key.
        if (problem && now - entry.orphanedSince! > this.d.orphanGraceMs) entry.fail?.(problem);
        else this.tell(entry);
      }
    }
    this.maybeStopTicker();
  }

  /** Per model: who serves it, how busy, how long the line, how fast it moves. */
  status(): ModelStatus[] {
    const now = this.d.now();
    const models = new Set<string>();
    for (const m of this.d.registry.live(now)) for (const id of m.models) models.add(id);
    for (const [id, l] of this.lines) if (l.queue.size + l.admitting > 0) models.add(id);
    return [...models].sort().map((model) => {
      const l = this.lines.get(model);
      const { slots, busy, machines } = this.capacity(model);
      const rate = l?.rate ?? new ServiceRate();
      const queued = l?.queue.size ?? 0;
      return {
        model,
        providers: new Set(machines.map((m) => m.provider)).size,
        machines: machines.length,
        slots,
        busySlots: busy,
        queued,
        admitting: l?.admitting ?? 0,
        servicePerSec: Math.round(rate.perSecond(slots) * 100) / 100,
        serviceSamples: rate.observed,
        expectedWaitMs: finite(expectedWaitMs(queued + 1, slots, queued > 0 ? slots : busy, rate)),
        maxQueued: this.d.limits.maxQueuedPerModel,
        maxWaitMs: this.d.limits.maxWaitMs,
      };
    });
  }

  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }
}

/** JSON has no Infinity: an unknown wait (no slot serves the model) is reported as -1. */
function finite(ms: number): number {
  return Number.isFinite(ms) ? ms : -1;
}
