// Which JSON schemas cocore can enforce, and the form an engine compiles into a grammar.
//
// The llama engine turns a schema into a grammar with node-llama-cpp (LLAMA-GRAMMAR-NOTES.md):
// some keywords it enforces, some it ignores without a word, some it gets silently wrong. So a
// schema is first checked here: `strict` schemas may use only what is enforced (a strict answer
// always validates), others may also use keywords that are then not enforced; what would compile
// to a wrong grammar is refused in both modes. `grammarSchema` then rewrites an accepted schema
// into the shape the grammar compiler handles correctly, tightening it where an unbounded value
// would let a small model loop (every string gets a maxLength, every array a maxItems): anything
// that satisfies the rewritten schema satisfies the original.
//
// A schema travels in a job record, so it must also be atproto data: integers only (no
// fractions) and ASCII property names (canonical JSON, PROTOCOL.md §4).

export type Schema = Record<string, unknown>;

export interface SchemaProblem {
  /** Where in the schema, as a JSON pointer ("" is the root). */
  path: string;
  /** The keyword (or value) that cannot be honoured. */
  feature: string;
  message: string;
}

/** Keywords the grammar enforces (with the rewrites below). */
export const ENFORCED_KEYWORDS = [
  "type", "enum", "const", "oneOf", "anyOf", "$ref", "$defs", "definitions", "properties", "required",
  "additionalProperties", "minProperties", "maxProperties", "items", "prefixItems", "minItems", "maxItems",
  "minLength", "maxLength", "format",
] as const;

/** Keywords that say nothing about valid values. */
export const ANNOTATION_KEYWORDS = ["title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly"] as const;

/** Accepted without `strict` only, and then not enforced: the answer may not satisfy them. */
export const UNENFORCED_KEYWORDS = [
  "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems",
  "not", "if", "then", "else", "contains", "minContains", "maxContains", "propertyNames", "patternProperties",
  "dependentRequired", "dependentSchemas", "nullable",
] as const;

/** Formats the grammar produces correctly; others are enforced nowhere (and forced to "" by the compiler). */
export const ENFORCED_FORMATS = ["date", "time", "date-time"] as const;

const TYPES = new Set(["string", "number", "integer", "boolean", "null", "object", "array"]);
const ENFORCED = new Set<string>(ENFORCED_KEYWORDS);
const ANNOTATION = new Set<string>(ANNOTATION_KEYWORDS);
const UNENFORCED = new Set<string>(UNENFORCED_KEYWORDS);
const FORMATS = new Set<string>(ENFORCED_FORMATS);
const MAX_DEPTH = 32;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const pointer = (path: string, key: string | number) => `${path}/${String(key).replace(/~/g, "~0").replace(/\//g, "~1")}`;

/** Values anywhere in the schema that a job record cannot hold. */
function dataProblem(value: unknown, path: string): SchemaProblem | undefined {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    return { path, feature: "number", message: `${path || "/"}: ${value} is not an integer; a job record holds integers only (write bounds as integers)` };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = dataProblem(value[i], pointer(path, i));
      if (p) return p;
    }
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      // eslint-disable-next-line no-control-regex
      if (!/^[\x20-\x7e]*$/.test(k)) return { path: pointer(path, k), feature: "property-name", message: `${pointer(path, k)}: property names must be printable ASCII (they enter canonical JSON)` };
      const p = dataProblem(v, pointer(path, k));
      if (p) return p;
    }
  }
  return undefined;
}

function refTarget(ref: string): { defs: "$defs" | "definitions"; name: string } | undefined {
  const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
  return m ? { defs: m[1] as "$defs" | "definitions", name: m[2]!.replace(/~1/g, "/").replace(/~0/g, "~") } : undefined;
}

/**
 * The first reason `schema` cannot be served, or undefined. `strict`: only enforced keywords.
 */
export function schemaProblem(schema: unknown, o: { strict: boolean }): SchemaProblem | undefined {
  if (!isObject(schema)) return { path: "", feature: "schema", message: "the schema must be a JSON object" };
  const data = dataProblem(schema, "");
  if (data) return data;
  const root = schema;
  const visit = (s: unknown, path: string, depth: number): SchemaProblem | undefined => {
    if (s === true || (isObject(s) && Object.keys(s).length === 0)) return undefined;
    if (!isObject(s)) return { path, feature: "schema", message: `${path || "/"}: a subschema must be an object` };
    if (depth > MAX_DEPTH) return { path, feature: "depth", message: `${path}: schemas nest at most ${MAX_DEPTH} levels` };
    for (const [k, v] of Object.entries(s)) {
      const at = pointer(path, k);
      if (ANNOTATION.has(k)) continue;
      if (UNENFORCED.has(k)) {
        if (o.strict) return { path: at, feature: k, message: `${at}: "${k}" is not enforced by the grammar; remove it or set strict: false (then it is not enforced)` };
        continue;
      }
      if (k === "allOf") return { path: at, feature: k, message: `${at}: "allOf" is not supported; merge the subschemas into one` };
      if (!ENFORCED.has(k)) return { path: at, feature: k, message: `${at}: unknown or unsupported keyword "${k}"` };
      switch (k) {
        case "type": {
          const types = Array.isArray(v) ? v : [v];
          if (types.length === 0 || !types.every((t) => typeof t === "string" && TYPES.has(t))) return { path: at, feature: k, message: `${at}: type must be one of ${[...TYPES].join(", ")} (or a list of them)` };
          break;
        }
        case "enum":
          if (!Array.isArray(v) || v.length === 0) return { path: at, feature: k, message: `${at}: enum must be a non-empty list` };
          break;
        case "format":
          if (typeof v !== "string") return { path: at, feature: k, message: `${at}: format must be a string` };
          if (!FORMATS.has(v) && o.strict) return { path: at, feature: `format:${v}`, message: `${at}: format "${v}" is not enforced (only ${ENFORCED_FORMATS.join(", ")}); remove it or set strict: false` };
          break;
        case "$ref": {
          const t = typeof v === "string" ? refTarget(v) : undefined;
          if (!t) return { path: at, feature: k, message: `${at}: $ref must point into #/$defs/ or #/definitions/ (a reference to the root "#" is not supported)` };
          const defs = root[t.defs];
          if (!isObject(defs) || !(t.name in defs)) return { path: at, feature: k, message: `${at}: $ref ${String(v)} points at nothing` };
          break;
        }
        case "oneOf":
        case "anyOf":
        case "prefixItems":
          if (!Array.isArray(v) || v.length === 0) return { path: at, feature: k, message: `${at}: ${k} must be a non-empty list of schemas` };
          for (let i = 0; i < v.length; i++) {
            const p = visit(v[i], pointer(at, i), depth + 1);
            if (p) return p;
          }
          break;
        case "properties":
        case "$defs":
        case "definitions":
          if (!isObject(v)) return { path: at, feature: k, message: `${at}: ${k} must be an object of schemas` };
          for (const [name, sub] of Object.entries(v)) {
            const p = visit(sub, pointer(at, name), depth + 1);
            if (p) return p;
          }
          break;
        case "items":
        case "additionalProperties":
          if (typeof v !== "boolean") {
            const p = visit(v, at, depth + 1);
            if (p) return p;
          }
          break;
        case "const":
          break;
        case "required":
          if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) return { path: at, feature: k, message: `${at}: required must be a list of property names` };
          break;
        default:
          // min/max counts and lengths
          if (!Number.isSafeInteger(v) || (v as number) < 0) return { path: at, feature: k, message: `${at}: ${k} must be a non-negative integer` };
      }
    }
    return undefined;
  };
  return visit(schema, "", 0);
}

export interface GrammarBounds {
  /** maxLength given to every string that has none (or a larger one). */
  maxString: number;
  /** maxItems given to every array that has none (or a larger one). */
  maxItems: number;
  /** maxProperties of an object whose properties are not listed. */
  maxProperties: number;
}

/** The values a schema without any constraint (`{}`) is generated as. */
function anyScalar(b: GrammarBounds): Schema {
  return { oneOf: [{ type: "string", maxLength: b.maxString }, { type: "integer" }, { type: "boolean" }, { type: "null" }] };
}

const bounded = (given: unknown, cap: number) => (typeof given === "number" && given <= cap ? given : cap);

/**
 * The schema the grammar is compiled from, for a schema `schemaProblem` accepted. Rewrites what
 * the compiler gets wrong: anyOf → oneOf, #/definitions/ → #/$defs/, `type: [X, "null"]` → oneOf,
 * `properties` without `type` → an object, `{}` → a bounded scalar; drops what it does not
 * enforce; closes objects that list properties (only listed ones are produced, which the
 * original accepts) and bounds strings, arrays and free-form objects.
 */
export function grammarSchema(schema: Schema, b: GrammarBounds): Schema {
  const rewrite = (s: unknown): unknown => {
    if (s === true || (isObject(s) && Object.keys(s).filter((k) => !ANNOTATION.has(k)).length === 0)) return anyScalar(b);
    if (!isObject(s)) return s;
    const out: Schema = {};
    for (const [k, v] of Object.entries(s)) {
      if (ANNOTATION.has(k) || UNENFORCED.has(k)) continue;
      if (k === "format" && !FORMATS.has(String(v))) continue;
      if (k === "anyOf" || k === "oneOf" || k === "prefixItems") out[k === "anyOf" ? "oneOf" : k] = (v as unknown[]).map(rewrite);
      else if (k === "properties" || k === "$defs" || k === "definitions") {
        const target = k === "definitions" ? "$defs" : k;
        out[target] = { ...(out[target] as Schema | undefined), ...Object.fromEntries(Object.entries(v as Schema).map(([n, sub]) => [n, rewrite(sub)])) };
      } else if (k === "items" || k === "additionalProperties") out[k] = typeof v === "boolean" ? v : rewrite(v);
      else if (k === "$ref") out[k] = String(v).replace(/^#\/definitions\//, "#/$defs/");
      else out[k] = v;
    }
    const types = out.type === undefined ? [] : Array.isArray(out.type) ? (out.type as string[]) : [out.type as string];
    if (types.length === 0 && (out.properties !== undefined || out.additionalProperties !== undefined)) {
      out.type = "object";
      types.push("object");
    }
    if (types.length > 1) {
      // One alternative per type, each carrying the keywords for its type.
      const { type: _t, ...rest } = out;
      return { oneOf: types.map((t) => finish({ ...rest, type: t })) };
    }
    return finish(out);
  };
  const finish = (s: Schema): Schema => {
    const type = s.type;
    // Never below a stated minimum: the bound must leave the schema satisfiable.
    if (type === "string" && s.enum === undefined && s.const === undefined) s.maxLength = bounded(s.maxLength, Math.max(b.maxString, Number(s.minLength ?? 0)));
    if (type === "array") s.maxItems = bounded(s.maxItems, Math.max(b.maxItems, Number(s.minItems ?? 0)));
    if (type === "object" && s.enum === undefined && s.const === undefined) {
      if (s.properties !== undefined) s.additionalProperties = false;
      else {
        // A free-form object: bounded keys (see the llama engine) and values.
        if (s.additionalProperties === undefined || s.additionalProperties === true) s.additionalProperties = anyScalar(b);
        if (s.additionalProperties !== false) s.maxProperties = bounded(s.maxProperties, Math.max(b.maxProperties, Number(s.minProperties ?? 0)));
        else s.properties = {};
      }
    }
    if (type === undefined && s.enum === undefined && s.const === undefined && s.oneOf === undefined && s.$ref === undefined) return { ...s, ...anyScalar(b) };
    return s;
  };
  return rewrite(schema) as Schema;
}
