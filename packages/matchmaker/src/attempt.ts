// One attempt of a dispatch on one machine: the job message (with the matchmaker's
// countersignature for that machine) out, the sealed output relayed back, every way the machine
// can fail it timed and named. Until admission is confirmed nothing reaches the requester.
import { randomBytes } from "node:crypto";
import { countersign, timerDelay } from "@cocore/protocol";
import type { DoneMessage, JobMessage } from "@cocore/agent/matchmaker-protocol";
import { DispatchError } from "./codes.ts";
import type { AdmissionGate } from "./admission-gate.ts";
import type { CheckedJob, DispatcherDeps, DispatchSink } from "./dispatch.ts";
import type { MachineEntry } from "./registry.ts";
import type { DispatchEvent } from "./wire.ts";

export type AttemptOutcome =
  | { kind: "done"; msg: DoneMessage }
  | { kind: "cancelled"; receipt: boolean }
  | { kind: "refused" }
  /** Nothing was produced: the machine dropped, missed the preflight (accepted) in time, or refused for its own reasons. */
  | { kind: "lost-before-output"; error: DispatchError }
  | { kind: "failed"; error: DispatchError };

/** Refusals about the machine rather than the job: another machine may well serve the job. */
const MACHINE_REFUSALS: ReadonlySet<string> = new Set(["engine_error", "shutting_down"]);

export function runAttempt(
  d: DispatcherDeps,
  job: CheckedJob,
  machine: MachineEntry,
  attempt: number,
  gate: AdmissionGate,
  sink: DispatchSink,
  start: () => void,
): Promise<AttemptOutcome> {
  const uri = job.req.job.uri;
  const t = d.timeouts;
  // Until admission is confirmed nothing reaches the requester: events wait here, built lazily
  // so that they carry what admission returned (the hold key).
  let open = gate.admission !== undefined;
  // The requester gets the same countersignature with `dispatched` and checks it against the key
  // this matchmaker publishes; the agent copies it into the receipt for the exchange to check.
  const cs = countersign(
    d.brokerageKey,
    { authority: d.did, machineId: machine.providerRecord ?? machine.machineId, nonce: randomBytes(16).toString("hex") },
    job.req.job,
    (job.req.jobRecord as { inputCommitment: string }).inputCommitment,
  );
  const msg: JobMessage = {
    type: "job",
    job: job.req.job,
    jobRecord: job.req.jobRecord,
    sealedInput: job.req.sealedInput,
    senderPublicKey: job.req.senderPublicKey,
    requester: job.requester,
    exchange: d.exchange.did,
    brokerageCountersignature: cs,
    ...(open ? {} : { admission: "pending" as const }),
  };
  // The slot was taken for this attempt (queues.ts); it is given back when the attempt ends.
  const slotAt = d.now();
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
    const deadline = setTimeout(() => fail("provider_timeout", "The job reached its expiresAt before the provider finished.", false), timerDelay(job.expiresAtMs - d.now()));
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
      d.queues.finished(machine, job.model, r.kind === "done" ? d.now() - slotAt : undefined);
      resolve(r);
    };
    const fail = (code: string, message: string, machineAtFault = true) => {
      d.hub.cancel(machine.machineId, uri, code, !open);
      if (machineAtFault) d.registry.recordFailure(machine, code, d.log);
      const error = new DispatchError(code, message);
      // A machine that never took the job (no `accepted` in time) failed its preflight: another may serve it.
      finish(!accepted && machineAtFault ? { kind: "lost-before-output", error } : { kind: "failed", error });
    };
    const onAbort = () => {
      d.hub.cancel(machine.machineId, uri, "requester_gone", !open);
      finish({ kind: "cancelled", receipt: open });
    };
    const complete = (m: DoneMessage) => {
      d.registry.recordSuccess(machine);
      start();
      sink.event({
        type: "done", receipt: m.receipt, provider: machine.provider, machineId: machine.machineId, tokens: m.tokens, price: m.price,
        proBono: m.proBono, outputCommitment: m.outputCommitment, outputCipherCommitment: m.outputCipherCommitment,
        finishReason: m.finishReason, startedAt: m.startedAt, completedAt: m.completedAt,
      });
      finish({ kind: "done", msg: m });
    };
    if (!open) {
      void gate.wait.then(() => {
        if (settled) return;
        if (!gate.admission) {
          // Refused: the agent stops and writes no receipt; nothing it produced is relayed.
          d.hub.cancel(machine.machineId, uri, gate.error?.code ?? "not_admitted", true);
          finish({ kind: "refused" });
          return;
        }
        d.hub.admit(machine.machineId, uri);
        open = true;
        if (accepted) start();
        for (const e of held.splice(0)) sink.event(e());
        if (heldDone) complete(heldDone);
      });
    }
    sink.signal.addEventListener("abort", onAbort);
    arm(t.acceptMs, "provider_timeout", `The provider did not take the job within ${Math.round(t.acceptMs / 1000)} s.`);
    const sent = d.hub.sendJob(machine.machineId, msg, {
      onAccepted: () => {
        accepted = true;
        if (open) start();
        emit(() => ({ type: "dispatched", machineId: machine.machineId, provider: machine.provider, attempt, holdKey: gate.admission?.holdKey, brokerageCountersignature: cs }));
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
      onDone: (m) => {
        // An agent writes the receipt only after `admitted`, so a done before it is out of order; keep it for the gate.
        if (open) complete(m);
        else heldDone = m;
      },
      onError: (e) => {
        // The agent's refusals are about the job, not the machine's health, except engine failures.
        if (e.code === "engine_error") d.registry.recordFailure(machine, e.code, d.log);
        const error = new DispatchError(e.code, e.message);
        finish(chunks === 0 && MACHINE_REFUSALS.has(e.code) ? { kind: "lost-before-output", error } : { kind: "failed", error });
      },
      onBadMessage: (message) => fail("provider_error", `The provider sent a malformed message about the job (${message}); nothing more of it is relayed.`),
      onLost: (reason) => {
        d.registry.recordFailure(machine, "provider_lost", d.log);
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
