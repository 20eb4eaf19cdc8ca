import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalBytes, canonicalJson, CanonicalError } from "../src/canonical.ts";
import { base64Decode, base64Encode } from "../src/base64.ts";

// JSON values inside the canonical domain: safe integers, ASCII keys.
const canonicalValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.string({ unit: "grapheme" }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: "grapheme-ascii", maxLength: 6 }), tie("value"), { maxKeys: 5 }),
  ),
})).value;

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => shuffleKeys(v, seed + i));
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    // Deterministic rotation + reversal to reorder insertion without Math.random.
    const k = entries.length ? seed % entries.length : 0;
    const rotated = [...entries.slice(k), ...entries.slice(0, k)];
    if (seed % 2) rotated.reverse();
    return Object.fromEntries(rotated.map(([key, v]) => [key, shuffleKeys(v, seed + 1)]));
  }
  return value;
}

test("canonical JSON does not depend on key insertion order", () => {
  fc.assert(
    fc.property(canonicalValue, fc.nat(1000), (value, seed) => {
      assert.equal(canonicalJson(shuffleKeys(value, seed)), canonicalJson(value));
    }),
  );
});

test("canonical JSON parses back to the same value and has no whitespace outside strings", () => {
  fc.assert(
    fc.property(canonicalValue, (value) => {
      const text = canonicalJson(value);
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
      const outsideStrings = text.replace(/"(?:[^"\\]|\\.)*"/g, "");
      assert.doesNotMatch(outsideStrings, /\s/);
    }),
  );
});

test("object keys are sorted", () => {
  assert.equal(canonicalJson({ b: 1, a: { d: true, c: null }, A: "x", _: [] }), '{"A":"x","_":[],"a":{"c":null,"d":true},"b":1}');
});

test("string escapes are exactly the specified ones", () => {
  const table: [string, string][] = [
    ['"', '"\\""'],
    ["\\", '"\\\\"'],
    ["\b", '"\\b"'],
    ["\f", '"\\f"'],
    ["\n", '"\\n"'],
    ["\r", '"\\r"'],
    ["\t", '"\\t"'],
    ["\u0000", '"\\u0000"'],
    ["\u0001", '"\\u0001"'],
    ["\u000b", '"\\u000b"'],
    ["\u001f", '"\\u001f"'],
    ["\u001e", '"\\u001e"'],
    ["/", '"/"'],
    ["\u007f", '"\u007f"'],
    ["é", '"é"'],
    ["\u2028", '"\u2028"'],
    ["😀", '"😀"'],
    ["plain", '"plain"'],
  ];
  for (const [input, expected] of table) assert.equal(canonicalJson(input), expected, `escaping ${JSON.stringify(input)}`);
  assert.deepEqual([...canonicalBytes("é")], [0x22, 0xc3, 0xa9, 0x22]);
});

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof CanonicalError) return err.code;
    throw err;
  }
  return undefined;
}

test("floats, unsafe integers, non-ASCII keys and lone surrogates are rejected", () => {
  assert.equal(code(() => canonicalJson({ a: 1.5 })), "non-integer");
  assert.equal(code(() => canonicalJson([Number.NaN])), "non-integer");
  assert.equal(code(() => canonicalJson(Number.POSITIVE_INFINITY)), "non-integer");
  assert.equal(code(() => canonicalJson(2 ** 53)), "unsafe-integer");
  assert.equal(code(() => canonicalJson(-(2 ** 53))), "unsafe-integer");
  assert.equal(canonicalJson(2 ** 53 - 1), "9007199254740991");
  assert.equal(canonicalJson(-(2 ** 53 - 1)), "-9007199254740991");
  assert.equal(code(() => canonicalJson({ "clé": 1 })), "non-ascii-key");
  assert.equal(code(() => canonicalJson("\ud800")), "invalid-string");
  assert.equal(code(() => canonicalJson(new Date(0))), "unsupported-value");
  assert.equal(code(() => canonicalJson([undefined])), "unsupported-value");
  assert.equal(code(() => canonicalJson({ $bytes: "!!" })), "invalid-bytes");
  fc.assert(
    fc.property(fc.double({ noInteger: true }), (x) => {
      assert.equal(code(() => canonicalJson({ x })), "non-integer");
    }),
  );
});

test("bytes enter as padded standard base64 in both lex and JSON form; undefined members vanish", () => {
  const bytes = Uint8Array.of(0xfb, 0xff, 0x01);
  assert.equal(canonicalJson({ b: bytes }), '{"b":"+/8B"}');
  assert.equal(canonicalJson({ b: Uint8Array.of(1) }), '{"b":"AQ=="}');
  assert.equal(canonicalJson({ b: { $bytes: "AQ" } }), '{"b":"AQ=="}');
  assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      const unpadded = base64Encode(b).replace(/=+$/, "");
      assert.equal(canonicalJson({ $bytes: unpadded }), canonicalJson(b));
      assert.deepEqual(base64Decode(unpadded), b);
    }),
  );
});
