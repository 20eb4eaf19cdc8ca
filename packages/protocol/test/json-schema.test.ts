import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { grammarSchema, schemaProblem, schemaViolation, type Schema } from "../src/json-schema/index.ts";
import { makeAjv } from "../../../test-support/ajv.ts";
import { nearValue, schemaFamily } from "../../../test-support/schema-family.ts";

const ajv = makeAjv();
const BOUNDS = { maxString: 8, maxItems: 3, maxProperties: 4 };

const jsonValue = fc.oneof(
  { depthSize: "small" },
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.oneof(fc.string({ maxLength: 9 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 5 })), { maxLength: 4 }))),
);

test("schemaProblem: strict accepts only what the grammar enforces; other modes refuse only what it gets wrong", () => {
  const object = (extra: Schema) => ({ type: "object", properties: { a: { type: "string", ...extra } } });
  assert.equal(schemaProblem(object({ maxLength: 5, format: "date" }), { strict: true }), undefined);
  assert.equal(schemaProblem(object({ pattern: "^a" }), { strict: true })?.feature, "pattern");
  assert.equal(schemaProblem(object({ pattern: "^a" }), { strict: false }), undefined);
  assert.equal(schemaProblem(object({ format: "email" }), { strict: true })?.feature, "format:email");
  for (const strict of [true, false]) {
    assert.equal(schemaProblem({ allOf: [{ type: "string" }] }, { strict })?.feature, "allOf");
    assert.equal(schemaProblem({ $ref: "#" }, { strict })?.feature, "$ref");
    assert.equal(schemaProblem({ $ref: "#/$defs/missing" }, { strict })?.feature, "$ref");
    assert.equal(schemaProblem({ type: "number", maximum: 1.5 }, { strict })?.feature, "number", "a fraction cannot be in a record");
    assert.equal(schemaProblem({ type: "object", properties: { "città": { type: "string" } } }, { strict })?.feature, "property-name");
    assert.equal(schemaProblem({ type: "date" }, { strict })?.feature, "type");
    assert.equal(schemaProblem({ type: "object", frobnicate: true }, { strict })?.feature, "frobnicate");
    assert.equal(schemaProblem([], { strict })?.feature, "schema");
  }
  assert.equal(schemaProblem({ type: "object", properties: { n: { $ref: "#/definitions/n" } }, definitions: { n: { type: "integer" } } }, { strict: true }), undefined);
});

test("schemaViolation agrees with ajv on the schema family and arbitrary values", () => {
  fc.assert(
    fc.property(schemaFamily.chain((m) => fc.tuple(fc.constant(m), fc.oneof(nearValue(m.schema), jsonValue))), ([{ schema }, value]) => {
      const ours = schemaViolation(schema, value) === "";
      assert.equal(ours, ajv.validate(schema, value), `${JSON.stringify(schema)} on ${JSON.stringify(value)}: ours ${ours}`);
    }),
    { numRuns: 2000 },
  );
});

test("every family member is accepted, and its grammar schema is strict-clean and only narrows it", () => {
  fc.assert(
    fc.property(schemaFamily.chain((m) => fc.tuple(fc.constant(m), nearValue(m.schema))), ([{ schema, strict }, value]) => {
      assert.equal(schemaProblem(schema, { strict }), undefined, JSON.stringify(schema));
      const g = grammarSchema(schema, BOUNDS);
      assert.equal(schemaProblem(g, { strict: true }), undefined, `grammar schema ${JSON.stringify(g)}`);
      assert.ok(!JSON.stringify(g).includes("anyOf") && !JSON.stringify(g).includes("definitions"));
      // Anything the grammar's schema admits, the requester's schema admits.
      if (schemaViolation(g, value) === "") assert.ok(ajv.validate(schema, value), `${JSON.stringify(g)} admits ${JSON.stringify(value)}`);
    }),
    { numRuns: 500 },
  );
});

test("grammarSchema bounds strings, arrays and free-form objects, never below a stated minimum", () => {
  const g = grammarSchema({ type: "object", properties: { s: { type: "string", minLength: 20 }, a: { type: "array", items: {} }, o: { type: "object" }, n: { type: ["integer", "null"] } } }, BOUNDS);
  const p = g.properties as Record<string, Schema>;
  assert.equal(g.additionalProperties, false);
  assert.equal(p.s!.maxLength, 20);
  assert.equal(p.a!.maxItems, 3);
  assert.deepEqual((p.a!.items as Schema).oneOf !== undefined, true, "{} items become a bounded scalar");
  assert.equal(p.o!.maxProperties, 4);
  assert.deepEqual(p.n, { oneOf: [{ type: "integer" }, { type: "null" }] });
});
