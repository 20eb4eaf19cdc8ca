// Integers cross the database boundary as number (SQLite), string (pg's int8) or bigint; inside
// the exchange every amount is a JS number, checked to be a safe integer so no token is ever
// rounded away.
export class IntegerError extends Error {
  override readonly name = "IntegerError";
}

export function toInt(value: number | string | bigint | null | undefined, what = "value"): number {
  if (value === null || value === undefined) throw new IntegerError(`${what} is missing`);
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new IntegerError(`${what} ${String(value)} is not a safe integer`);
  if (typeof value === "string" && String(n) !== value.trim()) throw new IntegerError(`${what} ${value} is not an integer`);
  return n;
}

export function toIntOr(value: number | string | bigint | null | undefined, fallback: number, what = "value"): number {
  return value === null || value === undefined ? fallback : toInt(value, what);
}
