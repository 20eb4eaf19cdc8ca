// The family of JSON schemas the structured-output tests draw from (README, "Structured output"):
// an object of 1–4 properties (names [a-z]{1,6}), each one of
//   string (maxLength 1–8, sometimes minLength 1, sometimes format "date"), integer, number,
//   boolean, null, enum of 1–3 short strings, ["string","null"], anyOf [string, integer],
//   array of short strings or integers (maxItems 1–3), a $ref to a $defs entry of those, or an
//   object of 1–2 such scalars;
// some or all properties required, additionalProperties false or absent, strict true or false.
// Every member's longest compact answer is bounded (`maxAnswerChars`), and the family keeps only
// members whose answer fits the bundled model's 256-token context next to a short prompt.
import fc from "fast-check";

export type Schema = Record<string, unknown>;

const name = fc.stringMatching(/^[a-z]{1,6}$/);
const shortString = fc.stringMatching(/^[a-z]{1,4}$/);

const scalar: fc.Arbitrary<Schema> = fc.oneof(
  fc.record({ type: fc.constant("string"), maxLength: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ type: fc.constant("string"), minLength: fc.constant(1), maxLength: fc.integer({ min: 1, max: 6 }) }),
  fc.constant({ type: "string", format: "date" }),
  fc.constant({ type: "integer" }),
  fc.constant({ type: "number" }),
  fc.constant({ type: "boolean" }),
  fc.constant({ type: "null" }),
  fc.uniqueArray(shortString, { minLength: 1, maxLength: 3 }).map((e) => ({ enum: e })),
  fc.integer({ min: 1, max: 6 }).map((n) => ({ type: ["string", "null"], maxLength: n })),
  fc.integer({ min: 1, max: 6 }).map((n) => ({ anyOf: [{ type: "string", maxLength: n }, { type: "integer" }] })),
);

const array: fc.Arbitrary<Schema> = fc.record({
  type: fc.constant("array"),
  items: fc.oneof(fc.constant({ type: "integer" }), fc.record({ type: fc.constant("string"), maxLength: fc.integer({ min: 1, max: 4 }) })),
  maxItems: fc.integer({ min: 1, max: 3 }),
});

function objectOf(values: fc.Arbitrary<Schema>, maxProps: number): fc.Arbitrary<Schema> {
  return fc
    .record({
      props: fc.uniqueArray(fc.tuple(name, values), { minLength: 1, maxLength: maxProps, selector: ([n]) => n }),
      allRequired: fc.boolean(),
      closed: fc.boolean(),
    })
    .map(({ props, allRequired, closed }) => {
      const properties = Object.fromEntries(props);
      const names = Object.keys(properties);
      return {
        type: "object",
        properties,
        required: allRequired ? names : names.slice(0, 1),
        ...(closed ? { additionalProperties: false } : {}),
      };
    });
}

/** One member of the family with its strict flag. */
export const schemaFamily: fc.Arbitrary<{ schema: Schema; strict: boolean }> = fc
  .record({
    root: objectOf(fc.oneof({ weight: 4, arbitrary: scalar }, { weight: 1, arbitrary: array }, { weight: 1, arbitrary: objectOf(scalar, 2) }, { weight: 1, arbitrary: fc.constant({ $ref: "#/$defs/item" }) }), 4),
    def: scalar,
    strict: fc.boolean(),
  })
  .map(({ root, def, strict }) => {
    const usesRef = JSON.stringify(root).includes("#/$defs/item");
    return { schema: usesRef ? { ...root, $defs: { item: def } } : root, strict };
  })
  .filter(({ schema }) => maxAnswerChars(schema) <= 150);

// Compact-JSON lengths of the longest value the llama grammar can produce for each shape
// (integers up to 15 digits, numbers up to 15 + 6 digits with a two-digit exponent).
const NUMBER_CHARS = 1 + 15 + 1 + 6 + 4;
const INTEGER_CHARS = 16;

/** The longest compact answer the grammar allows for a family member (characters ≈ tokens). */
export function maxAnswerChars(s: Schema, root: Schema = s): number {
  if (typeof s.$ref === "string") return maxAnswerChars((root.$defs as Record<string, Schema>)[s.$ref.split("/").pop()!]!, root);
  if (Array.isArray(s.enum)) return Math.max(...s.enum.map((e) => JSON.stringify(e).length));
  if (Array.isArray(s.anyOf)) return Math.max(...(s.anyOf as Schema[]).map((x) => maxAnswerChars(x, root)));
  const type = s.type;
  if (Array.isArray(type)) return Math.max(...type.map((t) => maxAnswerChars({ ...s, type: t }, root)));
  switch (type) {
    case "string":
      // The llama grammar allows no \u escapes, so a character is at most a two-character escape.
      return s.format === "date" ? 12 : 2 + 2 * Number(s.maxLength);
    case "integer":
      return INTEGER_CHARS;
    case "number":
      return NUMBER_CHARS;
    case "boolean":
      return 5;
    case "null":
      return 4;
    case "array":
      return 2 + Number(s.maxItems) * (maxAnswerChars(s.items as Schema, root) + 1);
    case "object": {
      const props = Object.entries((s.properties ?? {}) as Record<string, Schema>);
      return 2 + props.reduce((n, [k, v]) => n + k.length + 4 + maxAnswerChars(v, root), 0);
    }
    default:
      throw new Error(`not a family member: ${JSON.stringify(s)}`);
  }
}

/**
 * Values close to a family member's boundary: mostly shaped like its answers, with strings and
 * arrays around their length limits, properties sometimes missing or extra, and sometimes a
 * value of the wrong type, so that a validator's every rule gets exercised.
 */
export function nearValue(s: Schema, root: Schema = s): fc.Arbitrary<unknown> {
  const wrong = fc.oneof(fc.constant(null), fc.integer(), fc.constant("x"), fc.boolean(), fc.constant([]), fc.constant({}), fc.constant(1.5));
  const shaped = ((): fc.Arbitrary<unknown> => {
    if (typeof s.$ref === "string") return nearValue((root.$defs as Record<string, Schema>)[s.$ref.split("/").pop()!]!, root);
    if (Array.isArray(s.enum)) return fc.oneof(fc.constantFrom(...(s.enum as unknown[])), shortString);
    if (Array.isArray(s.anyOf)) return fc.oneof(...(s.anyOf as Schema[]).map((x) => nearValue(x, root)));
    const type = s.type;
    if (Array.isArray(type)) return fc.oneof(...type.map((t) => nearValue({ ...s, type: t }, root)));
    switch (type) {
      case "string": {
        if (s.format === "date") return fc.oneof(fc.constant("2026-12-04"), fc.constant("2026-13-04"), fc.constant("tomorrow"));
        const max = Number(s.maxLength ?? 8);
        return fc.integer({ min: 0, max: max + 1 }).map((n) => "ab\"é".repeat(n).slice(0, n));
      }
      case "integer":
        return fc.oneof(fc.integer(), fc.constant(2.5), fc.constant(1e21));
      case "number":
        return fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());
      case "boolean":
        return fc.boolean();
      case "null":
        return fc.constant(null);
      case "array": {
        const max = Number(s.maxItems ?? 3);
        return fc.array(nearValue(s.items as Schema, root), { minLength: 0, maxLength: max + 1 });
      }
      case "object": {
        const props = Object.entries((s.properties ?? {}) as Record<string, Schema>);
        return fc
          .tuple(fc.tuple(...props.map(([k, v]) => fc.tuple(fc.constant(k), nearValue(v, root), fc.integer({ min: 0, max: 9 })))), fc.option(fc.tuple(name, fc.integer()), { freq: 6 }))
          .map(([entries, extra]) => {
            const o: Record<string, unknown> = {};
            for (const [k, v, dice] of entries) if (dice > 0) o[k] = v; // dice 0: the property is missing
            if (extra && !(extra[0] in o)) o[extra[0]] = extra[1];
            return o;
          });
      }
      default:
        return fc.jsonValue({ maxDepth: 1 });
    }
  })();
  return fc.oneof({ weight: 9, arbitrary: shaped }, { weight: 1, arbitrary: wrong });
}
