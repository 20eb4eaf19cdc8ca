// One dispatch, from request to terminal event: local checks, routing, a slot (or a place in the
// model's queue, queues.ts), admission at the exchange (in parallel with the first attempt when a
// slot is free — output is held back until it succeeds — and before joining the queue otherwise,
// so a waiting job is always covered by its hold), relaying the sealed input out and the sealed
// output back (the matchmaker never sees plaintext), at most one re-dispatch when the machine
// drops before its first token, and releasing the hold whenever no receipt will follow.
import { base64Decode, fromJsonRecord, inputCommitment, jobWork, NSID, offersTools, recordCid, timerDelay, validateRecord, type SigningKey } from "@cocore/protocol";
import type { DoneMessage, JobMessage } from "@cocore/agent/matchmaker-protocol";
import type { AgentHub } from "./agents.ts";
import { DispatchError } from "./codes.ts";
import { countersign } from "./countersign.ts";
import type { Admission, ExchangeClient } from "./exchange-client.ts";
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

interface CheckedJob {
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

/** The furthest expiresAt a dispatch may carry: a job is an interactive request, not a standing order. */
export const MAX_JOB_LIFETIME_MS = 24 * 3_600_000;

type AttemptOutcome =
  | { kind: "done"; msg: DoneMessage }
  | { kind: "cancelled"; receipt: boolean }
  | { kind: "refused" }
  | { kind: "lost-before-output"; error: DispatchError }
  | { kind: "failed"; error: DispatchError };

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
  private admit(job: CheckedJob): AdmissionGate {
    const req = job.req;
    return new AdmissionGate(untilExpiry(
      Promise.all([
        this.d.exchange.admit({ job: req.job, requester: job.requester, priceCeiling: job.priceCeiling, expiresAt: job.expiresAt }),
        this.d.confirmJob ? this.d.confirmJob(req.job).catch(() => false) : Promise.resolve(true),
      ]).then(async ([adm, confirmed]) => {
        if (!confirmed) {
          await this.d.exchange.release(adm.holdKey, req.job, "invalid_job");
          throw new DispatchError("invalid_job", "The job record is not in the requester's repository (or its PDS is unreachable).");
        }
        return adm;
      }),
      job.expiresAtMs - this.d.now(),
      (late) => void this.d.exchange.release(late.holdKey, req.job, "job_expired"),
    ));
  }

  async run(req: DispatchRequest, sink: DispatchSink): Promise<void> {
    const job = this.check(req);
    const uri = req.job.uri;
    if (this.inFlight.has(uri) || this.finished.has(uri)) {
      throw new DispatchError("job_already_dispatched", "This job was already dispatched; a job runs once. Write a new job record to ask again.");
    }
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
    const gate = this.admit(job);
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
      for (let attempt = 1; attempt <= 2; attempt++) {
        const machine = attempt === 1 ? first : this.d.queues.occupyAnyway(await this.awaitReplacement(job, tried, sink.signal), job.model);
        tried.add(machine.connectionId);
        const outcome = await this.attempt(job, machine, attempt, gate, sink, start);
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
        if (outcome.kind === "lost-before-output" && attempt === 1) {
          this.d.log(`job ${uri}: machine ${machine.machineId} dropped before its first token; re-dispatching once`);
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
      if (!sink.signal.aborted) sink.event({ type: "error", code: e.code, message: e.message });
    } finally {
      this.inFlight.delete(uri);
      this.finished.set(uri, this.d.now());
      if (this.finished.size > 10_000) for (const k of [...this.finished.keys()].slice(0, 5_000)) this.finished.delete(k);
    }
  }

  /** After a drop, the job can only go to a machine holding the same key: usually the same machine, reconnected. */
  private async awaitReplacement(job: CheckedJob, tried: Set<string>, signal: AbortSignal): Promise<MachineEntry> {
    const deadline = this.d.now() + this.d.timeouts.reconnectGraceMs;
    for (;;) {
      try {
        // A machine that reconnected has a new connection, so it is not excluded.
        return this.route(job, tried);
      } catch (err) {
        if (this.d.now() >= deadline || signal.aborted) {
          throw new DispatchError("provider_lost", "The provider dropped before producing any output and did not come back; nothing was charged.", {
            cause: err instanceof DispatchError ? err.code : undefined,
          });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private attempt(
    job: CheckedJob,
    machine: MachineEntry,
    attempt: number,
    gate: AdmissionGate,
    sink: DispatchSink,
    start: () => void,
  ): Promise<AttemptOutcome> {
    const uri = job.req.job.uri;
    const t = this.d.timeouts;
    // Until admission is confirmed nothing reaches the requester: events wait here, built lazily
    // so that they carry what admission returned (the hold key).
    let open = gate.admission !== undefined;
    const msg: JobMessage = {
      type: "job",
      job: job.req.job,
      jobRecord: job.req.jobRecord,
      sealedInput: job.req.sealedInput,
      senderPublicKey: job.req.senderPublicKey,
      requester: job.requester,
      exchange: this.d.exchange.did,
      brokerageCountersignature: countersign(this.d.brokerageKey, this.d.did, machine.providerRecord ?? machine.machineId, job.req.job, (job.req.jobRecord as { inputCommitment: string }).inputCommitment),
      ...(open ? {} : { admission: "pending" as const }),
    };
    // The slot was taken for this attempt (queues.ts); it is given back when the attempt ends.
    const slotAt = this.d.now();
    return new Promise((resolve) => {
      let accepted = false;
      let chunks = 0;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const held: Array<() => DispatchEvent> = [];
      let heldDone: DoneMessage | undefined;
      const emit = (e: () => DispatchEvent) => {
        if (open) sink.event(e());
        else held.push(e);
      };
      // The job's own deadline says nothing about the machine's health: no failure is recorded.
      const deadline = setTimeout(() => fail("provider_timeout", "The job reached its expiresAt before the provider finished.", false), timerDelay(job.expiresAtMs - this.d.now()));
      const arm = (ms: number, code: string, message: string) => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => fail(code, message), timerDelay(ms));
      };
      const finish = (r: AttemptOutcome) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        clearTimeout(deadline);
        sink.signal.removeEventListener("abort", onAbort);
        // Only completed jobs say how long service takes; refusals and failures end early.
        this.d.queues.finished(machine, job.model, r.kind === "done" ? this.d.now() - slotAt : undefined);
        resolve(r);
      };
      const fail = (code: string, message: string, machineAtFault = true) => {
        this.d.hub.cancel(machine.machineId, uri, code, !open);
        if (machineAtFault) this.d.registry.recordFailure(machine.machineId, this.d.now());
        finish({ kind: "failed", error: new DispatchError(code, message) });
      };
      const onAbort = () => {
        this.d.hub.cancel(machine.machineId, uri, "requester_gone", !open);
        finish({ kind: "cancelled", receipt: open });
      };
      const complete = (d: DoneMessage) => {
        this.d.registry.recordSuccess(machine.machineId);
        start();
        sink.event({
          type: "done", receipt: d.receipt, provider: machine.provider, machineId: machine.machineId, tokens: d.tokens, price: d.price,
          proBono: d.proBono, outputCommitment: d.outputCommitment, outputCipherCommitment: d.outputCipherCommitment,
          finishReason: d.finishReason, startedAt: d.startedAt, completedAt: d.completedAt,
        });
        finish({ kind: "done", msg: d });
      };
      if (!open) {
        void gate.wait.then(() => {
          if (settled) return;
          if (!gate.admission) {
            // Refused: the agent stops and writes no receipt; nothing it produced is relayed.
            this.d.hub.cancel(machine.machineId, uri, gate.error?.code ?? "not_admitted", true);
            finish({ kind: "refused" });
            return;
          }
          this.d.hub.admit(machine.machineId, uri);
          open = true;
          if (accepted) start();
          for (const e of held.splice(0)) sink.event(e());
          if (heldDone) complete(heldDone);
        });
      }
      sink.signal.addEventListener("abort", onAbort);
      arm(t.acceptMs, "provider_timeout", `The provider did not take the job within ${Math.round(t.acceptMs / 1000)} s.`);
      const sent = this.d.hub.sendJob(machine.machineId, msg, {
        onAccepted: () => {
          accepted = true;
          if (open) start();
          emit(() => ({ type: "dispatched", machineId: machine.machineId, provider: machine.provider, attempt, holdKey: gate.admission?.holdKey }));
          arm(t.firstChunkMs, "provider_timeout", `The provider produced no output within ${Math.round(t.firstChunkMs / 1000)} s.`);
        },
        onChunk: (c) => {
          if (!accepted) return;
          // Relay sealed frames only: anything in the clear would put output where it must not be.
          if (typeof c.sealed !== "string" || c.sealed.length === 0) {
            fail("provider_error", "The provider sent output that was not sealed to the requester; it was not relayed.");
            return;
          }
          chunks += 1;
          const sealed = c.sealed;
          const seq = c.seq;
          emit(() => ({ type: "chunk", seq, sealed }));
          arm(t.idleMs, "provider_timeout", `The provider went silent for ${Math.round(t.idleMs / 1000)} s mid-answer.`);
        },
        onDone: (d) => {
          // An agent writes the receipt only after `admitted`, so a done before it is out of order; keep it for the gate.
          if (open) complete(d);
          else heldDone = d;
        },
        onError: (e) => {
          // The agent's refusals are about the job, not the machine's health, except engine failures.
          if (e.code === "engine_error") this.d.registry.recordFailure(machine.machineId, this.d.now());
          finish({ kind: "failed", error: new DispatchError(e.code, e.message) });
        },
        onLost: (reason) => {
          this.d.registry.recordFailure(machine.machineId, this.d.now());
          const error = new DispatchError("provider_lost", chunks === 0
            ? `The provider disconnected before producing output (${reason}); nothing was charged.`
            : `The provider disconnected mid-answer (${reason}); the hold was released and nothing is charged unless a receipt arrives.`);
          finish(chunks === 0 ? { kind: "lost-before-output", error } : { kind: "failed", error });
        },
      });
      if (!sent) {
        finish({ kind: "lost-before-output", error: new DispatchError("provider_lost", "The chosen provider disconnected just before the job was sent.") });
      }
    });
  }
}

/** What a job record asks of the machine beyond text (the job lexicon's outputSchema and tools). */
export function jobNeeds(jobRecord: Record<string, unknown>): JobNeeds {
  const w = jobWork(jobRecord);
  return { ...(offersTools(w) && { tools: true }), ...(w.outputSchema !== undefined && { structuredOutput: true }) };
}

/**
 * Admission bounded by the job's own expiry, so that a hung exchange or PDS cannot keep the
 * request open past it; an admission that completes after that has its hold released.
 */
function untilExpiry(admit: Promise<Admission>, ms: number, late: (a: Admission) => void): Promise<Admission> {
  return new Promise((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(new DispatchError("job_expired", "The job reached its expiresAt before admission completed; nothing was charged."));
    }, timerDelay(ms));
    admit.then(
      (a) => {
        clearTimeout(timer);
        if (expired) late(a);
        else resolve(a);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** The outcome of admission, readable synchronously once `wait` has resolved (it never rejects). */
class AdmissionGate {
  admission: Admission | undefined;
  error: DispatchError | undefined;
  readonly wait: Promise<void>;
  constructor(admit: Promise<Admission>) {
    this.wait = admit.then(
      (a) => {
        this.admission = a;
      },
      (err: unknown) => {
        this.error = err instanceof DispatchError ? err : new DispatchError("exchange_unavailable", `Admission failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }
}
