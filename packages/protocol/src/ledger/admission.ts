// Admission (PROTOCOL.md §5.5): a job runs only if the balance left after its ceiling — and after
// the ceilings of jobs already admitted but not yet settled — stays at or above the floor.
import { LedgerError } from "./types.ts";
import { isNonNegativeInt } from "./util.ts";

export interface AdmissionInput {
  balance: number;
  /** Σ of priceCeilings held for earlier admitted, still unsettled jobs of this DID. */
  held: number;
  ceiling: number;
  floor: number;
}

export type AdmissionResult = { ok: true } | { ok: false; code: "below_floor"; message: string };

export function admit(input: AdmissionInput): AdmissionResult {
  for (const k of ["balance", "held", "ceiling", "floor"] as const) {
    if (!isNonNegativeInt(input[k])) throw new LedgerError("invalid-input", `${k} must be a non-negative safe integer`);
  }
  // BigInt: balance − held − ceiling can leave the safe range even when each term is inside it.
  const left = BigInt(input.balance) - BigInt(input.held) - BigInt(input.ceiling);
  if (left >= BigInt(input.floor)) return { ok: true };
  return {
    ok: false,
    code: "below_floor",
    message: `balance ${input.balance} − held ${input.held} − ceiling ${input.ceiling} = ${left} is below the floor ${input.floor}`,
  };
}
