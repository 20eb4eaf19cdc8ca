// A validator for exactly the JSON-schema subset support.ts accepts (enforced keywords; the
// unenforced ones are skipped, as their answer was never constrained by them). The agent checks a
// `strict` answer with it before delivering it: the grammar makes invalid output unlikely, this
// makes it impossible. Tests check answers with an independent validator (ajv) instead.
import type { Schema } from "./support.ts";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function matchesType(v: unknown, t: string): boolean {
  switch (t) {
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "object":
      return isObject(v);
    default:
      return typeOf(v) === t;
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$/i;

function formatOk(format: string, v: string): boolean {
  if (format === "date") return DATE.test(v);
  if (format === "time") return TIME.test(v);
  if (format === "date-time") {
    const [d, t] = v.split(/[Tt ]/);
    return v.split(/[Tt ]/).length === 2 && DATE.test(d ?? "") && TIME.test(t ?? "");
  }
  return true;
}

const length = (s: string) => [...s].length;

/** The first place `value` breaks `schema` ("" when it validates). */
export function schemaViolation(schema: Schema, value: unknown): string {
  const root = schema;
  const resolve = (ref: string): unknown => {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    const defs = m ? root[m[1]!] : undefined;
    return isObject(defs) ? defs[m![2]!.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
  };
  const check = (s: unknown, v: unknown, path: string, depth: number): string => {
    if (s === true || s === undefined) return "";
    if (s === false) return `${path || "/"}: no value is allowed here`;
    if (!isObject(s)) return "";
    if (depth > 64) return `${path || "/"}: nested too deep`;
    if (typeof s.$ref === "string") {
      const e = check(resolve(s.$ref), v, path, depth + 1);
      if (e) return e;
    }
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => matchesType(v, t))) return `${path || "/"}: expected ${types.join(" or ")}, got ${typeOf(v)}`;
    }
    if (Array.isArray(s.enum) && !s.enum.some((x) => deepEqual(x, v))) return `${path || "/"}: not one of the enum values`;
    if ("const" in s && !deepEqual(s.const, v)) return `${path || "/"}: not the const value`;
    if (Array.isArray(s.oneOf)) {
      const n = s.oneOf.filter((sub) => check(sub, v, path, depth + 1) === "").length;
      if (n !== 1) return `${path || "/"}: matches ${n} of the oneOf alternatives, not exactly one`;
    }
    if (Array.isArray(s.anyOf) && !s.anyOf.some((sub) => check(sub, v, path, depth + 1) === "")) return `${path || "/"}: matches none of the anyOf alternatives`;
    if (typeof v === "string") {
      if (typeof s.minLength === "number" && length(v) < s.minLength) return `${path || "/"}: shorter than ${s.minLength}`;
      if (typeof s.maxLength === "number" && length(v) > s.maxLength) return `${path || "/"}: longer than ${s.maxLength}`;
      if (typeof s.format === "string" && !formatOk(s.format, v)) return `${path || "/"}: not a ${s.format}`;
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === "number" && v.length < s.minItems) return `${path || "/"}: fewer than ${s.minItems} items`;
      if (typeof s.maxItems === "number" && v.length > s.maxItems) return `${path || "/"}: more than ${s.maxItems} items`;
      const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : [];
      for (let i = 0; i < v.length; i++) {
        const sub = i < prefix.length ? prefix[i] : s.items;
        const e = check(sub, v[i], `${path}/${i}`, depth + 1);
        if (e) return e;
      }
    }
    if (isObject(v)) {
      const keys = Object.keys(v);
      if (typeof s.minProperties === "number" && keys.length < s.minProperties) return `${path || "/"}: fewer than ${s.minProperties} properties`;
      if (typeof s.maxProperties === "number" && keys.length > s.maxProperties) return `${path || "/"}: more than ${s.maxProperties} properties`;
      for (const r of Array.isArray(s.required) ? (s.required as string[]) : []) if (!Object.hasOwn(v, r)) return `${path || "/"}: missing required property "${r}"`;
      const props = isObject(s.properties) ? s.properties : {};
      for (const k of keys) {
        const sub = Object.hasOwn(props, k) ? props[k] : s.additionalProperties;
        const e = check(sub, v[k], `${path}/${k}`, depth + 1);
        if (e) return e;
      }
    }
    return "";
  };
  return check(schema, value, "", 0);
}

/** `text` parsed as JSON and checked against `schema`: "" when it validates, else why not. */
export function jsonTextViolation(schema: Schema, text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "the output is not JSON";
  }
  return schemaViolation(schema, value);
}
