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

