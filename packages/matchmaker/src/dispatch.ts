// One dispatch, from request to terminal event: local checks, routing, a slot (or a place in the
// model's queue, queues.ts), admission at the exchange (in parallel with the first attempt when a
// slot is free — output is held back until it succeeds — and before joining the queue otherwise,
// so a waiting job is always covered by its hold), relaying the sealed input out and the sealed
// output back (the matchmaker never sees plaintext), up to MAX_ATTEMPTS machines holding the
// prompt's key when one produces nothing, and releasing the hold whenever no receipt will follow.
import { base64Decode, fromJsonRecord, inputCommitment, jobWork, NSID, offersTools, recordCid, validateRecord, type SigningKey } from "@cocore/protocol";
import { AdmissionGate, untilExpiry } from "./admission-gate.ts";
import type { AgentHub } from "./agents.ts";
import { runAttempt } from "./attempt.ts";
import { DispatchError } from "./codes.ts";
import type { AdmitInput, ExchangeClient } from "./exchange-client.ts";
import type { DispatchGuard } from "./limits.ts";
import type { JobQueues, QueuedJob } from "./queues.ts";
import type { JobNeeds, MachineEntry, Registry } from "./registry.ts";
import type { DispatchEvent, DispatchRequest } from "./wire.ts";

export interface DispatchTimeouts {
  /** From sending the job until the agent's accepted/error. */
  acceptMs: number;
  /** From acceptance until the first chunk (the agent may queue behind other jobs). */
  firstChunkMs: number;
  /** Longest silence between chunks. */
  idleMs: number;
  /** How long to wait for the sealed-to machine to come back after it dropped. */
  reconnectGraceMs: number;
  /** How long a job whose machine dropped mid-answer is held for that machine to resume it (0: it fails at once). */
  resumeGraceMs: number;
}

export interface DispatcherDeps {
  did: string;
  brokerageKey: SigningKey;
  registry: Registry;
  hub: AgentHub;
  queues: JobQueues;
  exchange: ExchangeClient;
  timeouts: DispatchTimeouts;
  /** Optional extra check that the job record really is in the requester's repo. */
  confirmJob?: (job: { uri: string; cid: string }) => Promise<boolean>;
  /** Per-requester rate and jobs at once (limits.ts); none: unlimited. */
  guard?: DispatchGuard;
  log: (msg: string) => void;
  now: () => number;
}

/** Where events go. `start` is called once, before the first event; errors before it become HTTP errors. */
export interface DispatchSink {
  start(): void;
  event(e: DispatchEvent): void;
  /** Aborted when the requester goes away. */
  signal: AbortSignal;
}

export interface CheckedJob {
  req: DispatchRequest;
  requester: string;
  model: string;
  acceptedTrustLevel: string;
  acceptedProviders?: string[];
  priceCeiling: { amount: number; currency: string };
  expiresAt: string;
  expiresAtMs: number;
  needs: JobNeeds;
}

/**
 * Machines one dispatch is tried on when each produces nothing (a drop, a missed preflight, a
 * machine-side refusal) — the requester's SDK counts its re-sealed jobs against the same bound.
 */
export const MAX_ATTEMPTS = 3;

/** The furthest expiresAt a dispatch may carry: a job is an interactive request, not a standing order. */
export const MAX_JOB_LIFETIME_MS = 24 * 3_600_000;

const JOB_URI = /^at:\/\/(did:[a-z]+:[a-zA-Z0-9._:%-]+)\/dev\.cocore\.compute\.job\/([a-zA-Z0-9.~_:-]{1,512})$/;

export class Dispatcher {
  private readonly inFlight = new Set<string>();
  private readonly finished = new Map<string, number>();

  constructor(private readonly d: DispatcherDeps) {}

  /** The checks that need nothing but the request itself. */
  check(req: DispatchRequest): CheckedJob {
    if (!req || typeof req !== "object" || !req.job || typeof req.job.uri !== "string" || typeof req.job.cid !== "string") {
      throw new DispatchError("invalid_request", "The dispatch request needs job {uri, cid}, jobRecord, sealedInput, senderPublicKey and encryptionPubKey.");
    }
    if (!req.jobRecord || typeof req.jobRecord !== "object" || Array.isArray(req.jobRecord)) {
      throw new DispatchError("invalid_request", "The dispatch request's jobRecord must be the job record's value, a JSON object.");
    }
    for (const f of ["sealedInput", "senderPublicKey", "encryptionPubKey"] as const) {
      if (typeof req[f] !== "string") throw new DispatchError("invalid_request", `The dispatch request is missing ${f}.`);
    }
    const m = JOB_URI.exec(req.job.uri);
    if (!m) throw new DispatchError("invalid_job", `${req.job.uri} is not a dev.cocore.compute.job record URI.`);
    const requester = m[1]!;
    const lex = fromJsonRecord(req.jobRecord) as Record<string, unknown>;
    const valid = validateRecord(NSID.job, lex);
    if (!valid.ok) throw new DispatchError("invalid_job", `The job record is not valid: ${valid.message}`);
    if (recordCid({ ...lex, $type: lex.$type ?? NSID.job }) !== req.job.cid) {
      throw new DispatchError("invalid_job", "The job record does not match the CID of its strong reference.");
    }
    const job = req.jobRecord as {
      model: string; inputCommitment: string; priceCeiling: { amount: number; currency: string };
      acceptedTrustLevel: string; acceptedExchanges?: string[]; acceptedProviders?: string[]; expiresAt: string;
    };
    const expiresAtMs = Date.parse(job.expiresAt);
    if (!(expiresAtMs > this.d.now())) throw new DispatchError("job_expired", `The job expired at ${job.expiresAt}; write a new one.`);
    if (expiresAtMs > this.d.now() + MAX_JOB_LIFETIME_MS) {
      throw new DispatchError("invalid_job", `The job's expiresAt (${job.expiresAt}) is more than 24 hours away; write a job that expires sooner.`);
    }
    const exchange = this.d.exchange.did;
    if (job.acceptedExchanges && job.acceptedExchanges.length > 0 && !job.acceptedExchanges.includes(exchange)) {
      throw new DispatchError("exchange_not_accepted", `The job does not accept this matchmaker's exchange ${exchange}.`);
    }
    let sealed: Uint8Array;
    try {
      sealed = base64Decode(req.sealedInput);
    } catch {
      throw new DispatchError("invalid_request", "sealedInput is not base64.");
    }
    if (inputCommitment(sealed) !== job.inputCommitment) {
      throw new DispatchError("commitment_mismatch", "The sealed input does not hash to the job's inputCommitment.");
    }
    return {
      req, requester, model: job.model, acceptedTrustLevel: job.acceptedTrustLevel, acceptedProviders: job.acceptedProviders,
      priceCeiling: job.priceCeiling, expiresAt: job.expiresAt, expiresAtMs, needs: jobNeeds(req.jobRecord),
    };
  }

  private queued(job: CheckedJob): QueuedJob {
    return {
      uri: job.req.job.uri,
      requester: job.requester,
      model: job.model,
      machineId: job.req.machineId,
      expiresAtMs: job.expiresAtMs,
      route: {
        model: job.model,
        acceptedTrustLevel: job.acceptedTrustLevel,
        acceptedProviders: job.acceptedProviders,
        exchange: this.d.exchange.did,
        encryptionPubKey: job.req.encryptionPubKey,
        needs: job.needs,
      },
    };
  }

  private route(job: CheckedJob, exclude?: ReadonlySet<string>): MachineEntry {
    const candidates = this.d.registry.candidates({ ...this.queued(job).route, excludeConnections: exclude }, this.d.now());
    return candidates.find((c) => c.machineId === job.req.machineId) ?? candidates[0]!;
  }

  /**
   * Admission: the exchange's floor check and hold, plus the job record's presence on the
   * requester's PDS, bounded by the job's expiry.
   */
  private admit(job: CheckedJob, target: DispatchTarget, onSlot: (release: () => void) => void): AdmissionGate {
    const req = job.req;
    return new AdmissionGate(untilExpiry(
      Promise.all([
        this.d.exchange.admit(this.admitInput(job, target)),
        this.d.confirmJob ? this.d.confirmJob(req.job).catch(() => false) : Promise.resolve(true),
      ]).then(async ([adm, confirmed]) => {
        if (!confirmed) {
          await this.d.exchange.release(adm.holdKey, req.job, "invalid_job");
          throw new DispatchError("invalid_job", "The job record is not in the requester's repository (or its PDS is unreachable).");
        }
        // Now the requester DID is proven (its PDS has the record, the exchange admitted it): its budgets are spent.
        const slot = this.d.guard?.proven(job.requester, this.d.now());
        if (slot instanceof DispatchError) {
          await this.d.exchange.release(adm.holdKey, req.job, slot.code);
          throw slot;
        }
        if (slot) onSlot(slot);
        return adm;
      }),
      job.expiresAtMs - this.d.now(),
      (late) => void this.d.exchange.release(late.holdKey, req.job, "job_expired"),
    ));
  }

  private admitInput(job: CheckedJob, target: DispatchTarget): AdmitInput {
    return { job: job.req.job, requester: job.requester, priceCeiling: job.priceCeiling, expiresAt: job.expiresAt, ...target };
  }

  /**
   * The exchange pays only the machine a job's hold names (not-dispatched-provider). A job that
   * waited for a slot, or went on to another machine, may end up elsewhere than admission said:
   * asking again for the held job moves the binding there before the job is sent.
   */
  private async bind(job: CheckedJob, machine: MachineEntry, bound: DispatchTarget): Promise<DispatchTarget> {
    const target = targetOf(machine);
    if (target.provider === bound.provider && target.machineKey === bound.machineKey) return bound;
    try {
      await this.d.exchange.admit(this.admitInput(job, target));
    } catch (err) {
      this.d.queues.finished(machine, job.model);
      throw err;
    }
    return target;
  }

  async run(req: DispatchRequest, sink: DispatchSink): Promise<void> {
    const job = this.check(req);
    const uri = req.job.uri;
    if (this.inFlight.has(uri) || this.finished.has(uri)) {
      throw new DispatchError("job_already_dispatched", "This job was already dispatched; a job runs once. Write a new job record to ask again.");
    }
    // Spending nothing yet (the DID is unproven), refuse a requester whose proven jobs used its budget up.
    const over = this.d.guard?.precheck(job.requester, this.d.now());
    if (over) throw over;
    const queued = this.queued(job);
    // Fail fast on routing (and on a full queue) before asking the exchange for a hold.
    let first = this.d.queues.tryStart(queued);
    const ticket = first ? undefined : this.d.queues.reserve(queued);
    this.inFlight.add(uri);
    // With a free slot, admission runs in parallel with the first attempt instead of before it:
    // the agent checks the job and starts generating meanwhile, but the output is held back here
    // and the agent writes no receipt until we confirm admission. A refusal cancels it with
    // nothing charged. Without one, the job is admitted before it waits, so that the line holds
    // only jobs that can pay.
    // The hold names the machine the job goes to: the free slot's, else the one its prompt is sealed to.
    let bound = targetOf(first ?? this.route(job));
    // The requester's running slot, taken once admission proves the DID; given back when the job ends.
    let ended = false;
    let releaseSlot: (() => void) | undefined;
    const gate = this.admit(job, bound, (release) => (ended ? release() : (releaseSlot = release)));
    let started = false;
    const start = () => {
      if (!started) {
        started = true;
        sink.start();
      }
    };
    let receiptComing = false;
    try {
      if (!first) {
        await gate.wait;
        if (gate.error) {
          ticket!.cancel();
          throw gate.error;
        }
        // Streaming starts with the first notice: the requester learns its place at once, and the
        // notices keep the connection busy while it waits.
        first = await ticket!.wait(sink.signal, (n) => {
          start();
          sink.event({ type: "queued", position: n.position, waitMs: n.waitMs, queued: n.queued });
        });
      }
      const tried = new Set<string>();
      let lost: DispatchError | undefined;
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const machine = attempt === 1 ? first : this.d.queues.occupyAnyway(await this.awaitReplacement(job, tried, lost!, sink.signal), job.model);
        tried.add(machine.connectionId);
        bound = await this.bind(job, machine, bound);
        const outcome = await runAttempt(this.d, job, machine, attempt, gate, sink, start);
        // Whatever happened on the machine, a refused admission is the answer the requester needs.
        await gate.wait;
        if (gate.error) throw gate.error;
        if (outcome.kind === "done") {
          receiptComing = true;
          return;
        }
        if (outcome.kind === "cancelled") {
          // The agent still writes a receipt for what it produced — unless it was told to discard
          // the job because admission had not been confirmed when the requester left.
          receiptComing = outcome.receipt;
          if (!receiptComing) throw new DispatchError("requester_gone", "The requester went away before admission completed.");
          return;
        }
        if (outcome.kind === "refused") throw new DispatchError("internal_error", "The job was cancelled on the provider.");
        if (outcome.kind === "lost-before-output" && attempt < MAX_ATTEMPTS) {
          this.d.log(`job ${uri}: machine ${machine.machineId} produced nothing (${outcome.error.code}); re-dispatching`);
          lost = outcome.error;
          if (started) sink.event({ type: "redispatched", reason: outcome.error.message, attempt: attempt + 1 });
          continue;
        }
        throw outcome.error;
      }
    } catch (err) {
      let e = err instanceof DispatchError ? err : new DispatchError("internal_error", `The matchmaker failed: ${err instanceof Error ? err.message : String(err)}`);
      ticket?.cancel();
      await gate.wait;
      if (gate.error) e = gate.error;
      if (gate.admission && !receiptComing) await this.d.exchange.release(gate.admission.holdKey, req.job, e.code);
      if (!started) throw e;
      if (!sink.signal.aborted) sink.event({ type: "error", code: e.code, message: e.message, ...(e.details.redispatch === true && { redispatch: true }) });
    } finally {
      ended = true;
      releaseSlot?.();
      this.inFlight.delete(uri);
      this.finished.set(uri, this.d.now());
      if (this.finished.size > 10_000) for (const k of [...this.finished.keys()].slice(0, 5_000)) this.finished.delete(k);
    }
  }

  /**
   * After a drop, the job can only go to a machine holding the same key: usually the same machine,
   * reconnected. When none is there but a machine with another key could serve the job, waiting
   * out the grace would only delay the requester, who can seal to that machine and write a new
   * job at once: the dispatch ends now with `provider_lost` and `redispatch: true`.
   */
  private async awaitReplacement(job: CheckedJob, tried: Set<string>, lost: DispatchError, signal: AbortSignal): Promise<MachineEntry> {
    const deadline = this.d.now() + this.d.timeouts.reconnectGraceMs;
    for (;;) {
      try {
        // A machine that reconnected has a new connection, so it is not excluded.
        return this.route(job, tried);
      } catch (err) {
        const other = this.otherMachine(job);
        if (other || this.d.now() >= deadline || signal.aborted) {
          const dropped = lost.code === "provider_lost";
          throw new DispatchError(
            lost.code,
            other
              ? `${dropped ? "The provider dropped before producing any output" : lost.message.replace(/\.$/, "")}; another provider can serve the job: seal to it and dispatch a new job. Nothing was charged.`
              : dropped ? "The provider dropped before producing any output and did not come back; nothing was charged." : lost.message,
            { cause: err instanceof DispatchError ? err.code : undefined, redispatch: other !== undefined },
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** A live machine that could serve the job if it were sealed to it (another key; any provider). */
  private otherMachine(job: CheckedJob): MachineEntry | undefined {
    try {
      const route = { ...this.queued(job).route, encryptionPubKey: undefined, acceptedProviders: undefined };
      return this.d.registry.candidates(route, this.d.now()).find((m) => m.encryptionPubKey !== job.req.encryptionPubKey);
    } catch {
      return undefined;
    }
  }
}

/** What a job record asks of the machine beyond text (the job lexicon's outputSchema and tools). */
export function jobNeeds(jobRecord: Record<string, unknown>): JobNeeds {
  const w = jobWork(jobRecord);
  return { ...(offersTools(w) && { tools: true }), ...(w.outputSchema !== undefined && { structuredOutput: true }) };
}

/** Where the exchange is told a job goes: the provider and the machine's attested signing key. */
interface DispatchTarget {
  provider: string;
  machineKey: string;
}

function targetOf(m: MachineEntry): DispatchTarget {
  return { provider: m.provider, machineKey: m.attestationPubKey };
}
