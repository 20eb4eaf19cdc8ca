// Admission at the exchange as a gate a dispatch can wait on: bounded by the job's own expiry, and
// readable synchronously once settled (it never rejects).
import { timerDelay } from "@cocore/protocol";
import { DispatchError } from "./codes.ts";
import type { Admission } from "./exchange-client.ts";

/**
 * Admission bounded by the job's own expiry, so that a hung exchange or PDS cannot keep the
 * request open past it; an admission that completes after that has its hold released.
 */
export function untilExpiry(admit: Promise<Admission>, ms: number, late: (a: Admission) => void): Promise<Admission> {
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
export class AdmissionGate {
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
