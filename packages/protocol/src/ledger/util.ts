// Small exact helpers shared by the ledger modules: integer checks, time parsing, byte order.
import { LedgerError, type LedgerErrorCode } from "./types.ts";

// RFC 3339 with an explicit offset; Date.parse alone would also accept local-time forms, whose
// meaning depends on the machine's time zone.
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** ISO datetime → ms since the epoch; throws `code` with `what` named when it is not one. */
export function parseTime(value: unknown, what: string, code: LedgerErrorCode = "invalid-event"): number {
  if (typeof value !== "string" || !DATETIME.test(value)) {
    throw new LedgerError(code, `${what} must be an RFC 3339 datetime with an offset`);
  }
  const ms = Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new LedgerError(code, `${what} is not a valid datetime`);
  return ms;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function isNonNegativeInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Back from BigInt, refusing anything outside the safe-integer range. */
export function toSafe(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new LedgerError("overflow", `${what} exceeds 2^53−1`);
  }
  return Number(value);
}

export function safeAdd(a: number, b: number, what: string): number {
  const sum = a + b;
  if (!Number.isSafeInteger(sum)) throw new LedgerError("overflow", `${what} exceeds 2^53−1`);
  return sum;
}

const isSurrogate = (u: number) => u >= 0xd800 && u <= 0xdfff;

/**
 * Ascending UTF-8 byte order (not locale order, not UTF-16 code-unit order). UTF-8 byte order is
 * code-point order, which differs from code-unit order only where a surrogate (a code point above
 * U+FFFF) meets a unit in U+E000–U+FFFF.
 */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (isSurrogate(x) !== isSurrogate(y)) {
      const other = isSurrogate(x) ? y : x;
      if (other >= 0xe000) return isSurrogate(x) ? 1 : -1;
    }
    return x - y;
  }
  return a.length - b.length;
}

// atproto DID syntax (method and identifier); keeps ledger keys free of separators that matter.
const DID = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/;

export function isDid(value: unknown): value is string {
  return typeof value === "string" && value.length <= 2048 && DID.test(value);
}
