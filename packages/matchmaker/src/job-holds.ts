// A job's relay state on the matchmaker, and the jobs held open after their agent's connection
// dropped mid-answer (agent matchmaker-protocol.ts, "Resume"). A held job keeps the requester's
// stream open for the grace; only a new session of the same machine — same provider, same
// machine key, which the challenge-signed register proved — can take it back. Past the grace it
// fails as a dropped job always did.
import type { JobListener } from "./agents.ts";

export interface RelayedJob {
  listener: JobListener;
  /** Highest contiguous chunk seq relayed to the requester (-1: none yet). */
  relayed: number;
  /** The exchange admitted it: an `admitted` the agent missed while cut off is sent again on resume. */
  admitted: boolean;
}

/** A chunk is relayed when it is the next one; one already relayed is a replay's duplicate; a hole cannot be filled. */
export function frameVerdict(relayed: number, seq: number): "relay" | "duplicate" | "gap" {
  if (seq <= relayed) return "duplicate";
  return seq === relayed + 1 ? "relay" : "gap";
}

export interface MachineOwner {
  provider: string;
  attestationPubKey: string;
}

/** Why a `resume` was not taken (the reason of the `cancel` that answers it). */
export type ResumeRefusal = "resume_unknown" | "resume_wrong_machine";

interface Held {
  job: RelayedJob;
  owner: MachineOwner;
  timer: NodeJS.Timeout;
}

export class JobHolds {
  private readonly held = new Map<string, Held>();

  constructor(readonly graceMs: number) {}

  get enabled(): boolean {
    return this.graceMs > 0;
  }

  /** Holds a job for the grace; `onExpire` runs if no resume takes it by then. */
  hold(machineId: string, jobUri: string, owner: MachineOwner, job: RelayedJob, onExpire: () => void): void {
    const k = key(machineId, jobUri);
    const timer = setTimeout(() => {
      if (this.held.get(k)?.job !== job) return;
      this.held.delete(k);
      onExpire();
    }, this.graceMs);
    timer.unref();
    this.held.set(k, { job, owner, timer });
  }

  /**
   * The held job for a resume from `owner`'s machine. A resume from another machine key leaves
   * the hold as it is: it cannot take the job, nor end it for the machine that can.
   */
  take(machineId: string, jobUri: string, owner: MachineOwner): RelayedJob | ResumeRefusal {
    const h = this.held.get(key(machineId, jobUri));
    if (!h) return "resume_unknown";
    if (h.owner.provider !== owner.provider || h.owner.attestationPubKey !== owner.attestationPubKey) return "resume_wrong_machine";
    this.drop(machineId, jobUri);
    return h.job;
  }

  get(machineId: string, jobUri: string): RelayedJob | undefined {
    return this.held.get(key(machineId, jobUri))?.job;
  }

  /** Ends a hold without its expiry (the job ended on the matchmaker's side). */
  drop(machineId: string, jobUri: string): RelayedJob | undefined {
    const k = key(machineId, jobUri);
    const h = this.held.get(k);
    if (!h) return undefined;
    clearTimeout(h.timer);
    this.held.delete(k);
    return h.job;
  }

  clear(): void {
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
  }
}

const key = (machineId: string, jobUri: string) => `${machineId}\n${jobUri}`;
