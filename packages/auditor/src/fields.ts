// Tolerant field access on lex-form record values: a malformed record yields undefined here and
// is reported by whichever check needed the field, never as an exception.
import { parseAtUri as parseProtocolAtUri } from "@cocore/protocol";
export type Value = Record<string, unknown>;

export function str(o: unknown, key: string): string | undefined {
  const v = isObject(o) ? o[key] : undefined;
  return typeof v === "string" ? v : undefined;
}

export function int(o: unknown, key: string): number | undefined {
  const v = isObject(o) ? o[key] : undefined;
  return typeof v === "number" && Number.isSafeInteger(v) ? v : undefined;
}

export function obj(o: unknown, key: string): Value | undefined {
  const v = isObject(o) ? o[key] : undefined;
  return isObject(v) ? v : undefined;
}

export function isObject(v: unknown): v is Value {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** ms since the epoch of an ISO time field, or undefined. */
export function time(o: unknown, key: string): number | undefined {
  const s = str(o, key);
  if (s === undefined) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export interface AtUri {
  repo: string;
  collection: string;
  rkey: string;
}

/** The protocol core's parse, with the repo named as the auditor's reports name it. */
export function parseAtUri(uri: string | undefined): AtUri | undefined {
  const p = parseProtocolAtUri(uri);
  return p && { repo: p.did, collection: p.collection, rkey: p.rkey };
}

/** A strong-ref field ({ uri, cid }) of a record. */
export function ref(o: unknown, key: string): { uri?: string; cid?: string } {
  const r = obj(o, key);
  return { uri: str(r, "uri"), cid: str(r, "cid") };
}

