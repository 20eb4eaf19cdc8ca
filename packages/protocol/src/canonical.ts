// Canonical JSON (PROTOCOL.md §4): the exact bytes every implementation signs. Any value that has
// no single canonical form (floats, unsafe integers, non-ASCII keys, lone surrogates, exotic
// objects) is refused rather than coerced, because two implementations coercing differently
// would silently disagree about what was signed.
import { base64Encode, base64Normalize, Base64Error } from "./base64.ts";

export type CanonicalErrorCode =
  | "non-integer"
  | "unsafe-integer"
  | "non-ascii-key"
  | "invalid-string"
  | "invalid-bytes"
  | "unsupported-value"
  | "too-deep";

export class CanonicalError extends Error {
  override readonly name = "CanonicalError";
  constructor(
    readonly code: CanonicalErrorCode,
    message: string,
    readonly path: string,
  ) {
    super(`${message} at ${path || "$"}`);
  }
}

const MAX_DEPTH = 64;
const ASCII = /^[\x00-\x7f]*$/;
// With the `u` flag a well-formed surrogate pair is one code point, so this matches lone halves only;
// those cannot be encoded as UTF-8 and so have no canonical byte form.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * JSON.stringify already produces exactly the escapes §4 asks for: the two-character forms
 * \" \\ \b \f \n \r \t, lowercase \u00xx for the remaining U+0000–U+001F, and every other
 * character (including U+007F and non-ASCII) written as itself. It escapes lone surrogates as
 * \udxxx, which we reject beforehand.
 */
function str(value: string, path: string): string {
  if (LONE_SURROGATE.test(value)) throw new CanonicalError("invalid-string", "string contains a lone surrogate", path);
  return JSON.stringify(value);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function write(value: unknown, path: string, depth: number): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return str(value, path);
    case "number":
      if (!Number.isInteger(value)) throw new CanonicalError("non-integer", `number ${value} is not an integer`, path);
      if (!Number.isSafeInteger(value)) throw new CanonicalError("unsafe-integer", `integer ${value} is beyond ±(2^53−1)`, path);
      return Object.is(value, -0) ? "0" : String(value);
    case "bigint":
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new CanonicalError("unsafe-integer", `integer ${value} is beyond ±(2^53−1)`, path);
      }
      return value.toString();
    case "object":
      break;
    default:
      throw new CanonicalError("unsupported-value", `${typeof value} has no JSON form`, path);
  }
  if (depth > MAX_DEPTH) throw new CanonicalError("too-deep", `nesting deeper than ${MAX_DEPTH}`, path);
  if (value instanceof Uint8Array) return `"${base64Encode(value)}"`;
  if (Array.isArray(value)) {
    const parts: string[] = [];
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined) throw new CanonicalError("unsupported-value", "undefined array element", `${path}[${i}]`);
      parts.push(write(item, `${path}[${i}]`, depth + 1));
    }
    return `[${parts.join(",")}]`;
  }
  if (!isPlainObject(value)) {
    throw new CanonicalError("unsupported-value", `${value.constructor?.name ?? "object"} has no canonical JSON form`, path);
  }
  const keys = Object.keys(value);
  // JSON-form bytes ({"$bytes": b64}) are the same value as lex-form Uint8Array, so they must
  // produce the same canonical string; re-encoding also fixes any missing padding.
  if (keys.length === 1 && keys[0] === "$bytes") {
    const b64 = value.$bytes;
    if (typeof b64 !== "string") throw new CanonicalError("invalid-bytes", "$bytes is not a string", path);
    try {
      return `"${base64Normalize(b64)}"`;
    } catch (err) {
      if (err instanceof Base64Error) throw new CanonicalError("invalid-bytes", `$bytes: ${err.message}`, path);
      throw err;
    }
  }
  // Keys are ASCII, so the default sort (UTF-16 code units) equals byte order.
  keys.sort();
  const parts: string[] = [];
  for (const key of keys) {
    if (!ASCII.test(key)) throw new CanonicalError("non-ascii-key", `object key ${JSON.stringify(key)} is not ASCII`, path);
    const member = value[key];
    if (member === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${write(member, `${path}.${key}`, depth + 1)}`);
  }
  return `{${parts.join(",")}}`;
}

/** The canonical JSON text of `value`; throws CanonicalError when it has none. */
export function canonicalJson(value: unknown): string {
  return write(value, "", 0);
}

/** The canonical JSON of `value` as UTF-8 bytes (what gets signed). */
export function canonicalBytes(value: unknown): Uint8Array {
  const buf = Buffer.from(canonicalJson(value), "utf8");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
