// How fast a model's jobs are being served, for expected waits and Retry-After. Pure: times are
// passed in.
//
// The rate is slots ÷ mean service time of the recent jobs (from the slot being taken to it being
// freed), not completions per second: completions per second measure demand when the provider is
// idle, while a waiting requester needs to know how fast the line would move.

/** Service time assumed before any job of the model has finished (a small model's short answer). */
export const ASSUMED_SERVICE_MS = 1_000;

export class ServiceRate {
  private readonly samples: number[] = [];
  private next = 0;

  constructor(private readonly window = 50) {}

  /** One job left its slot after `ms`. */
  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (this.samples.length < this.window) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.window;
  }

  get observed(): number {
    return this.samples.length;
  }

  /** Mean service time of the recent jobs; ASSUMED_SERVICE_MS until one has finished. */
  meanServiceMs(): number {
    if (this.samples.length === 0) return ASSUMED_SERVICE_MS;
    return Math.max(1, this.samples.reduce((a, b) => a + b, 0) / this.samples.length);
  }

  /** Jobs per second that `slots` concurrent slots get through. */
  perSecond(slots: number): number {
    return (Math.max(0, slots) * 1000) / this.meanServiceMs();
  }
}

/**
 * Expected wait of the job at 1-based `position` when every slot is busy: the line moves one place
 * per 1/rate, and the job starts when the `position`-th slot frees. 0 when a slot is free.
 */
export function expectedWaitMs(position: number, slots: number, busy: number, rate: ServiceRate): number {
  if (busy < slots) return 0;
  const perSec = rate.perSecond(slots);
  if (perSec <= 0) return Number.POSITIVE_INFINITY;
  return Math.round((position * 1000) / perSec);
}

/**
 * Retry-After for a refusal at a full queue: when the jobs waiting now will have started (so a
 * retry then finds room), in whole seconds, at least 1. Telling every refused client "one place
 * frees in 1/rate" would bring them all back at once into a queue that is still full.
 */
export function retryAfterSeconds(queued: number, slots: number, rate: ServiceRate): number {
  const perSec = rate.perSecond(slots);
  if (perSec <= 0) return 60;
  return Math.max(1, Math.ceil(queued / perSec));
}
