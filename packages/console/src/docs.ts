// The reference half of /docs/inference, made from the lexicon documents themselves (the ones the
// protocol core validates with), so the page can never drift from lexicons/**/*.json. Every def
// becomes a table of fields with their types, constraints and descriptions; refs become links.
import type { LexiconDoc } from "@atproto/lexicon";
import type { LexiconDefView, LexiconField, LexiconView } from "../web/types.ts";

type Node = Record<string, unknown>;

const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** The page anchor of `id#def` ("main" is the lexicon itself). */
export function anchorOf(ref: string): string {
  const [id, def = "main"] = ref.split("#", 2) as [string, string?];
  return `lex-${id.replace(/\./g, "-")}${def === "main" ? "" : `--${def}`}`;
}

/** A ref as written in `id`'s document (or as the code generator rewrote it, `lex:`…), made absolute. */
function absolute(id: string, written: string): string {
  const ref = written.replace(/^lex:/, "");
  if (ref.startsWith("#")) return `${id}${ref}`;
  return ref.endsWith("#main") ? ref.slice(0, -5) : ref;
}

const list = (v: unknown): string => (Array.isArray(v) ? v.map((x) => JSON.stringify(x)).join(", ") : "");

/** The value constraints a lexicon states on a field, in words. */
function constraints(n: Node): string[] {
  const out: string[] = [];
  const num = (k: string, label: string) => {
    if (typeof n[k] === "number") out.push(`${label} ${String(n[k])}`);
  };
  const array = n.type === "array";
  num("minLength", array ? "at least" : "min length");
  num("maxLength", array ? "at most" : "max length");
  num("minGraphemes", "min graphemes");
  num("maxGraphemes", "max graphemes");
  num("minimum", "≥");
  num("maximum", "≤");
  num("maxSize", "max bytes");
  if (Array.isArray(n.enum)) out.push(`one of ${list(n.enum)}`);
  if (Array.isArray(n.knownValues)) out.push(`known values ${list(n.knownValues)}`);
  if (n.const !== undefined) out.push(`always ${JSON.stringify(n.const)}`);
  if (n.default !== undefined) out.push(`default ${JSON.stringify(n.default)}`);
  if (Array.isArray(n.accept)) out.push(`accepts ${n.accept.join(", ")}`);
  if (n.closed === true) out.push("closed union");
  return out;
}

/** A field's type in words, and the def it refers to (for a link), if one. */
function typeOf(id: string, n: Node): { type: string; ref?: string } {
  switch (n.type) {
    case "string":
      return { type: typeof n.format === "string" ? `string (${n.format})` : "string" };
    case "ref": {
      const ref = absolute(id, String(n.ref));
      return { type: ref, ref };
    }
    case "union":
      return { type: `one of ${(Array.isArray(n.refs) ? n.refs : []).map((r) => absolute(id, String(r))).join(" | ")}` };
    case "array": {
      const item = isNode(n.items) ? typeOf(id, n.items) : { type: "unknown" };
      return { type: `array of ${item.type}`, ...(item.ref ? { ref: item.ref } : {}) };
    }
    default:
      return { type: String(n.type ?? "unknown") };
  }
}

/** An object's properties as rows; an inline object's own properties follow it as `name.sub`. */
function fieldsOf(id: string, obj: Node, prefix = ""): LexiconField[] {
  const props = isNode(obj.properties) ? obj.properties : {};
  const required = new Set(Array.isArray(obj.required) ? obj.required.map(String) : []);
  const nullable = new Set(Array.isArray(obj.nullable) ? obj.nullable.map(String) : []);
  const rows: LexiconField[] = [];
  for (const [name, raw] of Object.entries(props)) {
    if (!isNode(raw)) continue;
    const { type, ref } = typeOf(id, raw);
    const items = raw.type === "array" && isNode(raw.items) ? constraints(raw.items).map((c) => `each: ${c}`) : [];
    rows.push({
      name: `${prefix}${name}`,
      type,
      ...(ref ? { ref, anchor: anchorOf(ref) } : {}),
      required: required.has(name),
      ...(nullable.has(name) ? { nullable: true } : {}),
      constraints: [...constraints(raw), ...items],
      ...(text(raw.description) ? { description: text(raw.description) } : {}),
    });
    if (raw.type === "object") rows.push(...fieldsOf(id, raw, `${prefix}${name}.`));
  }
  return rows;
}

/** A query's or procedure's input or output: its encoding and, for JSON, the body's fields. */
function bodyOf(id: string, b: unknown): LexiconDefView["input"] {
  if (!isNode(b)) return undefined;
  const schema = isNode(b.schema) ? b.schema : undefined;
  const ref = schema?.type === "ref" ? absolute(id, String(schema.ref)) : undefined;
  return {
    encoding: String(b.encoding ?? ""),
    ...(text(b.description) ? { description: text(b.description) } : {}),
    ...(schema?.type === "object" ? { fields: fieldsOf(id, schema) } : {}),
    ...(ref ? { ref, anchor: anchorOf(ref) } : {}),
  };
}

function defView(id: string, name: string, d: Node): LexiconDefView {
  const ref = name === "main" ? id : `${id}#${name}`;
  const view: LexiconDefView = { name, ref, anchor: anchorOf(ref), kind: String(d.type), constraints: constraints(d) };
  const description = text(d.description);
  if (description) view.description = description;
  if (d.type === "record") {
    view.recordKey = String(d.key ?? "any");
    if (isNode(d.record)) {
      view.fields = fieldsOf(id, d.record);
      if (!description && text(d.record.description)) view.description = text(d.record.description);
    }
  } else if (d.type === "object") view.fields = fieldsOf(id, d);
  else if (d.type === "query" || d.type === "procedure" || d.type === "subscription") {
    if (isNode(d.parameters)) view.parameters = fieldsOf(id, d.parameters);
    const input = bodyOf(id, d.input);
    const output = bodyOf(id, d.output);
    if (input) view.input = input;
    if (output) view.output = output;
    if (Array.isArray(d.errors)) view.errors = d.errors.filter(isNode).map((e) => ({ name: String(e.name), ...(text(e.description) ? { description: text(e.description) } : {}) }));
  } else {
    const t = typeOf(id, d);
    view.kind = t.type;
  }
  return view;
}

/** Every lexicon as the docs page shows it: ours first by id, then the ones we borrow. */
export function lexiconReference(docs: readonly LexiconDoc[]): LexiconView[] {
  const ours = (id: string) => (id.startsWith("dev.cocore.") ? 0 : 1);
  return [...docs]
    .sort((a, b) => ours(a.id) - ours(b.id) || a.id.localeCompare(b.id))
    .map((doc) => {
      const defs = Object.entries(doc.defs as Record<string, unknown>).filter((e): e is [string, Node] => isNode(e[1]));
      // main first: it is what the lexicon is about.
      defs.sort(([a], [b]) => (a === "main" ? -1 : b === "main" ? 1 : 0));
      return {
        id: doc.id,
        anchor: anchorOf(doc.id),
        ...(text(doc.description) ? { description: text(doc.description) } : {}),
        defs: defs.map(([name, d]) => defView(doc.id, name, d)),
      };
    });
}
