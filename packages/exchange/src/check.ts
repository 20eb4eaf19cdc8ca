// The per-record work that needs no database: lexicon validation and signature checks. It runs
// inline for small batches and in worker threads (check-pool.ts) for bulk ingest, so it must stay
// pure and cheap to import.
import { CanonicalError, fromJsonRecord, lexicons, toJsonRecord, validateRecord, verifyRecordSignature } from "@cocore/protocol";

/** Lexicon validation for the collections we have lexicons for; others are kept as they come. */
export function schemaCheck(collection: string, value: Record<string, unknown>): string | null {
  let known = false;
  try {
    known = lexicons.getDef(collection) !== undefined;
  } catch {
    known = false;
  }
  if (!known) return null;
  const r = validateRecord(collection, value);
  return r.ok ? null : r.message;
}

export type CheckedField = "enclaveSignature" | "selfSignature";

/**
 * One record to check: its collection, and either its atproto JSON form (`j`) or its lex form
 * (`r`, only when it survives structured cloning: see isCloneableLex), optionally with a
 * signature to verify.
 */
export interface CheckItem {
  c: string;
  j?: string;
  r?: Record<string, unknown>;
  f?: CheckedField;
  k?: string;
}

/**
 * Schema problem (null = valid); the signature verdict, undefined when not asked or not canonical;
 * the JSON form, when the item came in lex form (the worker makes it, not the ingesting thread).
 */
export interface CheckResult {
  s: string | null;
  v?: boolean;
  j?: string;
}

/**
 * Whether a lex value is plain data a worker receives intact: objects, arrays, scalars and
 * Uint8Arrays. A class instance (a CID in an unknown field) would arrive as a bare object.
 */
export function isCloneableLex(value: unknown): boolean {
  if (typeof value === "function" || typeof value === "symbol") return false;
  if (value === null || typeof value !== "object") return true;
  if (Array.isArray(value)) return value.every(isCloneableLex);
  if (value instanceof Uint8Array) return true;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in value) if (!isCloneableLex((value as Record<string, unknown>)[k])) return false;
  return true;
}

export function checkItem(item: CheckItem): CheckResult {
  const value = item.r ?? (fromJsonRecord(JSON.parse(item.j ?? "null")) as Record<string, unknown>);
  const out: CheckResult = { s: schemaCheck(item.c, value) };
  if (item.r) out.j = JSON.stringify(toJsonRecord(item.r));
  if (item.f && item.k) {
    try {
      out.v = verifyRecordSignature(value, item.f, item.k);
    } catch (err) {
      // Non-canonical content: left to the verifier, which reports it as canonical-invalid.
      if (!(err instanceof CanonicalError)) throw err;
    }
  }
  return out;
}
