// What a job has sent the matchmaker and may have to send again: its chunks since the last `ack`
// and its terminal message, so that a socket cut mid-answer does not end the answer
// (matchmaker-protocol.ts, "Resume"). Frames go out live while the job's session is up; while it
// is down they are only kept, and on the next registration the job is resumed and they are
// replayed. The matchmaker drops what it already relayed, so replaying too much is harmless;
// replaying too little is impossible as long as the buffer held (a job past its cap is dead to
// resume and ends as a dropped job always did).
import {
  RESUME_BUFFER_BYTES,
  type AcceptedMessage,
  type AgentToMatchmaker,
  type ChunkMessage,
  type DoneMessage,
  type ErrorMessage,
} from "./matchmaker-protocol.ts";

type JobFrame = AcceptedMessage | ChunkMessage | DoneMessage | ErrorMessage;

interface Entry {
  /** Unacked chunks, in seq order. */
  frames: ChunkMessage[];
  bytes: number;
  acked: number;
  terminal?: DoneMessage | ErrorMessage;
  /** Frames go out now (false: the session dropped and the job has not been resumed yet). */
  live: boolean;
  /** Past the cap: frames are no longer kept, so the job cannot be resumed after a drop. */
  unbuffered: boolean;
  forget?: NodeJS.Timeout;
}

export interface JobOutboxOptions {
  /** Sends one message on the current session; false when there is none. */
  send(msg: AgentToMatchmaker): boolean;
  capBytes?: number;
  /** How long a finished job's frames are kept for a resume that may never come. */
  keepMs?: number;
}

export class JobOutbox {
  private readonly jobs = new Map<string, Entry>();
  private readonly capBytes: number;
  private readonly keepMs: number;

  constructor(private readonly opts: JobOutboxOptions) {
    this.capBytes = opts.capBytes ?? RESUME_BUFFER_BYTES;
    this.keepMs = opts.keepMs ?? 120_000;
  }

  /** A message about a job (`accepted` starts keeping its frames). Refusals before `accepted` just go out. */
  send(msg: JobFrame): void {
    if (msg.type === "accepted") {
      this.drop(msg.jobUri);
      this.jobs.set(msg.jobUri, { frames: [], bytes: 0, acked: -1, live: true, unbuffered: false });
      this.opts.send(msg);
      return;
    }
    const e = this.jobs.get(msg.jobUri);
    if (!e) {
      this.opts.send(msg);
      return;
    }
    if (msg.type === "chunk") {
      if (!e.unbuffered) {
        e.frames.push(msg);
        e.bytes += msg.sealed.length;
        if (e.bytes > this.capBytes) {
          e.unbuffered = true;
          e.frames = [];
          e.bytes = 0;
        }
      }
    } else {
      e.terminal = msg;
      // The matchmaker's final ack normally forgets it sooner.
      e.forget = setTimeout(() => this.drop(msg.jobUri), this.keepMs);
      e.forget.unref();
    }
    if (e.live) this.opts.send(msg);
  }

  /** The matchmaker relayed every chunk up to `seq` (and, with `final`, the terminal message). */
  ack(jobUri: string, seq: number, final = false): void {
    const e = this.jobs.get(jobUri);
    if (!e) return;
    if (final) return this.drop(jobUri);
    if (seq <= e.acked) return;
    e.acked = seq;
    let n = 0;
    while (n < e.frames.length && e.frames[n]!.seq <= seq) e.bytes -= e.frames[n++]!.sealed.length;
    e.frames.splice(0, n);
  }

  /** The session dropped: frames are kept for a resume (`resumes`: the matchmaker said it resumes jobs). */
  disconnected(resumes: boolean): void {
    // Deleting the entry being visited is safe while iterating a Map.
    for (const [uri, e] of this.jobs) {
      e.live = false;
      if (!resumes || e.unbuffered) this.drop(uri);
    }
  }

  /** Whether a job's frames wait for a resume on the next session. */
  resumable(jobUri: string): boolean {
    const e = this.jobs.get(jobUri);
    return e !== undefined && !e.live;
  }

  /** A new session registered: each kept job is resumed from its first unacked seq, its frames replayed. */
  resumeAll(): string[] {
    const resumed: string[] = [];
    for (const [jobUri, e] of this.jobs) {
      if (e.live) continue;
      e.live = true;
      if (!this.opts.send({ type: "resume", jobUri, next: e.acked + 1 })) {
        e.live = false;
        continue;
      }
      for (const f of e.frames) this.opts.send(f);
      if (e.terminal) this.opts.send(e.terminal);
      resumed.push(jobUri);
    }
    return resumed;
  }

  /** Forget a job (its resume was refused, or it is over): later frames about it go out unkept. */
  drop(jobUri: string): void {
    const e = this.jobs.get(jobUri);
    if (!e) return;
    clearTimeout(e.forget);
    this.jobs.delete(jobUri);
  }

  get size(): number {
    return this.jobs.size;
  }
}
