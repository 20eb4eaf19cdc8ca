// setTimeout treats any delay above 2^31−1 ms (~24.8 days) as 1 ms, so a deadline taken from a
// record (a job's expiresAt can be anything) must be clamped before it becomes a timer.
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay safe to pass to setTimeout: finite, at least 0, at most MAX_TIMER_MS. */
export function timerDelay(ms: number): number {
  if (Number.isNaN(ms)) return 0;
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}
