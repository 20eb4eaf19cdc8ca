// The per-record work that needs no database: lexicon validation and signature checks. It runs
// inline for small batches and in worker threads (check-pool.ts) for bulk ingest, so it must stay
// pure and cheap to import.
import { CanonicalError, fromJsonRecord, lexicons, validateRecord, verifyRecordSignature } from "@cocore/protocol";

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

/** One record to check: its collection, atproto JSON form, and optionally a signature to verify. */
export interface CheckItem {
  c: string;
  j: string;
  f?: CheckedField;
  k?: string;
}

/** Schema problem (null = valid); the signature verdict, undefined when not asked or not canonical. */
export interface CheckResult {
  s: string | null;
  v?: boolean;
}

export function checkItem(item: CheckItem): CheckResult {
  const value = fromJsonRecord(JSON.parse(item.j)) as Record<string, unknown>;
  const out: CheckResult = { s: schemaCheck(item.c, value) };
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
