// The CID an atproto repo gives a record: CIDv1, dag-cbor codec, sha2-256, multibase base32.
// Strong-refs name records by this CID, so recomputing it is what ties a bundle's job/attestation
// values to the receipt's references offline. Only the data model records use is supported
// (null, booleans, safe integers, strings, bytes, arrays, string-keyed maps, CID links); anything
// else yields undefined so callers can fall back instead of comparing against a wrong CID.
import { createHash } from "node:crypto";

class Unsupported extends Error {}

interface CidLike {
  bytes: Uint8Array;
  asCID: unknown;
}

function isCid(value: object): value is CidLike {
  const v = value as Partial<CidLike>;
  return v.asCID === value && v.bytes instanceof Uint8Array;
}

class Writer {
  private chunks: Uint8Array[] = [];
  head(major: number, n: number): void {
    const m = major << 5;
    if (n < 24) this.chunks.push(Uint8Array.of(m | n));
    else if (n < 0x100) this.chunks.push(Uint8Array.of(m | 24, n));
    else if (n < 0x10000) this.chunks.push(Uint8Array.of(m | 25, n >> 8, n & 0xff));
    else if (n < 0x100000000) this.chunks.push(Uint8Array.of(m | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff));
    else {
      const b = new Uint8Array(9);
      b[0] = m | 27;
      new DataView(b.buffer).setBigUint64(1, BigInt(n));
      this.chunks.push(b);
    }
  }
  raw(bytes: Uint8Array): void {
    this.chunks.push(bytes);
  }
  done(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

// dag-cbor map order: shorter UTF-8 key first, then bytewise.
function compareKeys(a: Buffer, b: Buffer): number {
  return a.length - b.length || Buffer.compare(a, b);
}

function encode(w: Writer, value: unknown): void {
  if (value === null) return w.raw(Uint8Array.of(0xf6));
  switch (typeof value) {
    case "boolean":
      return w.raw(Uint8Array.of(value ? 0xf5 : 0xf4));
    case "number":
      if (!Number.isSafeInteger(value)) throw new Unsupported();
      return value >= 0 ? w.head(0, value) : w.head(1, -1 - value);
    case "string": {
      const bytes = Buffer.from(value, "utf8");
      w.head(3, bytes.length);
      return w.raw(bytes);
    }
    case "object":
      break;
    default:
      throw new Unsupported();
  }
  if (value instanceof Uint8Array) {
    w.head(2, value.length);
    return w.raw(value);
  }
  if (Array.isArray(value)) {
    w.head(4, value.length);
    for (const item of value) encode(w, item);
    return;
  }
  if (isCid(value)) {
    w.raw(Uint8Array.of(0xd8, 42));
    w.head(2, value.bytes.length + 1);
    w.raw(Uint8Array.of(0));
    return w.raw(value.bytes);
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new Unsupported();
  const record = value as Record<string, unknown>;
  const entries = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .map((k) => [Buffer.from(k, "utf8"), record[k]] as const)
    .sort((a, b) => compareKeys(a[0], b[0]));
  w.head(5, entries.length);
  for (const [key, item] of entries) {
    w.head(3, key.length);
    w.raw(key);
    encode(w, item);
  }
}

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

/** DAG-CBOR bytes of a lex-form value, or undefined when it holds something outside the data model. */
export function dagCborEncode(value: unknown): Uint8Array | undefined {
  try {
    const w = new Writer();
    encode(w, value);
    return w.done();
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

/** The record CID (`bafyrei…`) of a lex-form record value, or undefined when it cannot be encoded. */
export function recordCid(value: unknown): string | undefined {
  const bytes = dagCborEncode(value);
  if (!bytes) return undefined;
  const digest = createHash("sha256").update(bytes).digest();
  // CIDv1 (0x01), dag-cbor (0x71), sha2-256 (0x12) of 32 bytes (0x20).
  return "b" + base32(Buffer.concat([Uint8Array.of(0x01, 0x71, 0x12, 0x20), digest]));
}
