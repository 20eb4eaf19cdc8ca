// Integer price and fee arithmetic (PROTOCOL.md §3 receipt price, §6 fee). Products such as
// rate·tokens can exceed 2^53, so the arithmetic runs in BigInt and results are checked back into
// the safe-integer range every record field must stay in.

export interface TokenRateLike {
  inputPricePerMTok: number;
  outputPricePerMTok: number;
}

export interface TokenCountsLike {
  in: number;
  out: number;
}

export interface FeeScheduleLike {
  bps: number;
  minMinor: number;
}

export interface SplitPolicyLike {
  fee: FeeScheduleLike;
  selfLoop: { feeWaived: boolean; minMinor?: number };
}

export class PricingError extends Error {
  override readonly name = "PricingError";
}

function nonNegativeInt(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new PricingError(`${what} must be a non-negative safe integer`);
  return BigInt(value);
}

function toSafe(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new PricingError(`${what} exceeds 2^53−1`);
  return Number(value);
}

/**
 * The receipt price the tokenRate formula gives:
 *   floor((inputPricePerMTok·in + outputPricePerMTok·out) / 1_000_000).
 * Rounding rule: the two terms are summed exactly *before* a single floor, so splitting a job's
 * tokens differently between in and out never changes the price by more than the formula does.
 * Verifiers require exact equality with this value (the policy lexicon permits a one-minor-unit
 * slack; we do not take it, so that every exchange agrees on which receipts pass). With the
 * TOK rate of 1,000,000 per MTok this is exactly in + out.
 */
export function tokenRatePrice(rate: TokenRateLike, tokens: TokenCountsLike): number {
  const total =
    nonNegativeInt(rate.inputPricePerMTok, "inputPricePerMTok") * nonNegativeInt(tokens.in, "tokens.in") +
    nonNegativeInt(rate.outputPricePerMTok, "outputPricePerMTok") * nonNegativeInt(tokens.out, "tokens.out");
  return toSafe(total / 1_000_000n, "price");
}

/** fee = min(price, max(floor(price·bps/10000), minMinor)) — never more than the price itself. */
export function computeFee(price: number, fee: FeeScheduleLike): number {
  const p = nonNegativeInt(price, "price");
  const bps = nonNegativeInt(fee.bps, "fee.bps");
  if (bps > 10_000n) throw new PricingError("fee.bps must be at most 10000");
  const proportional = (p * bps) / 10_000n;
  const floor = nonNegativeInt(fee.minMinor, "fee.minMinor");
  const raw = proportional > floor ? proportional : floor;
  return toSafe(raw < p ? raw : p, "fee");
}

export type SplitKind = "transfer" | "self-loop" | "pro-bono";

export interface ReceiptSplit {
  kind: SplitKind;
  /** Debited from the requester. Always payout + fee. */
  charged: number;
  /** Credited to the provider. */
  payout: number;
  /** Credited to the treasury. */
  fee: number;
}

/**
 * How one verified receipt moves balances (§5.2, §6). Pro bono, and a self-loop whose fee is
 * waived, move nothing at all. A self-loop whose fee is not waived is charged like any receipt,
 * except that the self-loop rule's own `minMinor` (when present) replaces the schedule's floor —
 * that is what the policy lexicon describes it as: the facilitation floor for self-loops.
 */
export function splitReceipt(input: {
  price: number;
  requester: string;
  provider: string;
  proBono?: boolean;
  policy: SplitPolicyLike;
}): ReceiptSplit {
  const { price, requester, provider, proBono, policy } = input;
  nonNegativeInt(price, "price");
  if (proBono) return { kind: "pro-bono", charged: 0, payout: 0, fee: 0 };
  if (requester === provider) {
    if (policy.selfLoop.feeWaived) return { kind: "self-loop", charged: 0, payout: 0, fee: 0 };
    const fee = computeFee(price, { bps: policy.fee.bps, minMinor: policy.selfLoop.minMinor ?? policy.fee.minMinor });
    return { kind: "self-loop", charged: price, payout: price - fee, fee };
  }
  const fee = computeFee(price, policy.fee);
  return { kind: "transfer", charged: price, payout: price - fee, fee };
}
