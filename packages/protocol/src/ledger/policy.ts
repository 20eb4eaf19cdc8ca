// The exchangePolicy record reduced to the numbers the ledger rules use (seed 001, PROTOCOL.md §3).
import { LedgerError } from "./types.ts";
import { computeFee, PricingError } from "../pricing.ts";
import { isDid, isNonNegativeInt, parseTime, toSafe } from "./util.ts";

export interface LedgerPolicy {
  exchange: string;
  feeBps: number;
  feeMinMinor: number;
  /** The unit balances are kept in: the fee schedule's currency. */
  currency: string;
  tokenGrant: number;
  tokenFloor: number;
  refresh?: { amountPerDid: number; cadenceMinutes: number };
  patronage?: { fractionBps: number; cadenceDays: number };
  selfLoopFeeWaived: boolean;
  selfLoopMinMinor?: number;
  /** treasuryDid, or the exchange itself when the record leaves it unset. */
  treasury: string;
  /** The record's createdAt in ms since the epoch: patronage periods are counted from it. */
  createdAt: number;
}

function fail(message: string): never {
  throw new LedgerError("invalid-policy", message);
}

function obj(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) fail(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function int(value: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!isNonNegativeInt(value) || value < min || value > max) fail(`${what} must be an integer in [${min}, ${max}]`);
  return value;
}

function optInt(value: unknown, what: string, fallback: number): number {
  return value === undefined ? fallback : int(value, what);
}

function currency(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length < 3 || value.length > 8) fail(`${what} must be a 3–8 character string`);
  return value;
}

/**
 * Normalizes a dev.cocore.compute.exchangePolicy record value. Only the fields the ledger reads are
 * checked; anything else in the record is ignored (lexicons grow additively). Absent tokenGrant
 * and tokenFloor mean 0; absent weeklyRefresh / patronageDistribution mean the rule is off.
 */
export function policyFromRecord(record: unknown): LedgerPolicy {
  const r = obj(record, "policy");
  if (!isDid(r.exchange)) fail("policy.exchange must be a DID");
  const fee = obj(r.fee, "policy.fee");
  const selfLoop = obj(r.selfLoop, "policy.selfLoop");
  if (typeof selfLoop.feeWaived !== "boolean") fail("policy.selfLoop.feeWaived must be a boolean");
  if (r.treasuryDid !== undefined && !isDid(r.treasuryDid)) fail("policy.treasuryDid must be a DID");
  const policy: LedgerPolicy = {
    exchange: r.exchange,
    feeBps: int(fee.bps, "policy.fee.bps", 0, 10_000),
    feeMinMinor: int(fee.minMinor, "policy.fee.minMinor"),
    currency: currency(fee.currency, "policy.fee.currency"),
    tokenGrant: optInt(r.tokenGrant, "policy.tokenGrant", 0),
    tokenFloor: optInt(r.tokenFloor, "policy.tokenFloor", 0),
    selfLoopFeeWaived: selfLoop.feeWaived,
    treasury: (r.treasuryDid as string | undefined) ?? r.exchange,
    createdAt: parseTime(r.createdAt, "policy.createdAt", "invalid-policy"),
  };
  if (selfLoop.minMinor !== undefined) policy.selfLoopMinMinor = int(selfLoop.minMinor, "policy.selfLoop.minMinor");
  if (r.weeklyRefresh !== undefined) {
    const w = obj(r.weeklyRefresh, "policy.weeklyRefresh");
    policy.refresh = {
      amountPerDid: int(w.amountPerDid, "policy.weeklyRefresh.amountPerDid"),
      cadenceMinutes: int(w.cadenceMinutes, "policy.weeklyRefresh.cadenceMinutes", 60),
    };
  }
  if (r.patronageDistribution !== undefined) {
    const p = obj(r.patronageDistribution, "policy.patronageDistribution");
    policy.patronage = {
      fractionBps: int(p.fractionBps, "policy.patronageDistribution.fractionBps", 0, 10_000),
      cadenceDays: int(p.cadenceDays, "policy.patronageDistribution.cadenceDays", 1),
    };
  }
  return policy;
}

/** The fee of §6 (pricing.computeFee), with its input errors reported as LedgerErrors. */
export function ledgerFee(price: number, bps: number, minMinor: number): number {
  try {
    return computeFee(price, { bps, minMinor });
  } catch (err) {
    if (err instanceof PricingError) throw new LedgerError("invalid-input", err.message);
    throw err;
  }
}

export const MS_PER_MINUTE = 60_000;
export const MS_PER_DAY = 86_400_000;
