// Tool calls on a model without usable function calling: the model writes one JSON "envelope"
// under a grammar (json-grammar.ts), and this module turns the envelope, as it streams, into the
// tool stream the requester reads (@cocore/protocol tool-stream.ts). The envelope is one of
//   {"tool_calls":[{"name":"fn","arguments":{…}},…]}   calls (their arguments under fn's schema)
//   {"content":"…"}                                       a text answer (toolChoice auto)
//   {"json":…}                                            an answer under the job's outputSchema (auto)
// in compact JSON, keys in this order (the grammar allows nothing else). A call starts as soon as
// its name is complete, and its arguments stream as they are written — the order OpenAI streams them.
import { grammarSchema, type GrammarBounds, type Schema, type ToolStreamEvent } from "@cocore/protocol";

export interface ToolDef {
  name: string;
  description?: string;
  parameters?: Schema;
}

export interface ToolWork {
  tools: ToolDef[];
  /** "auto": the model may answer instead; "required": it calls; a name: it calls that function. */
  choice: "auto" | "required" | { name: string };
  /** More than one call in one answer. */
  parallel: boolean;
  /** In auto mode, an answer follows this schema instead of being free text. */
  answerSchema?: Schema;
}

/** Most calls one answer may make when parallel calls are allowed. */
export const MAX_PARALLEL_CALLS = 4;

/** A function's parameters; a function without any takes an empty object. */
export function parametersOf(t: ToolDef): Schema {
  return t.parameters && Object.keys(t.parameters).length > 0 ? t.parameters : { type: "object", properties: {} };
}

/**
 * The longest compact JSON a grammar-form schema admits, in characters (a string character is at
 * most a two-character escape; json-grammar.ts bounds numbers); Infinity for recursive schemas.
 */
export function maxJsonChars(s: unknown, root: Schema = s as Schema, seen: ReadonlySet<string> = new Set()): number {
  if (typeof s !== "object" || s === null) return Infinity;
  const o = s as Schema;
  if (typeof o.$ref === "string") {
    const name = o.$ref.replace(/^#\/\$defs\//, "");
    if (seen.has(name)) return Infinity;
    return maxJsonChars((root.$defs as Schema | undefined)?.[name], root, new Set([...seen, name]));
  }
  const json = (v: unknown) => JSON.stringify(v).length;
  if (Array.isArray(o.enum)) return Math.max(...o.enum.map(json));
  if ("const" in o) return json(o.const);
  if (Array.isArray(o.oneOf)) return Math.max(...o.oneOf.map((x) => maxJsonChars(x, root, seen)));
  switch (o.type) {
    case "string":
      return o.format === "date-time" ? 40 : o.format === "date" || o.format === "time" ? 24 : 2 + 2 * Number(o.maxLength ?? Infinity);
    case "integer":
      return 16;
    case "number":
      return 27;
    case "boolean":
      return 5;
    case "null":
      return 4;
    case "array": {
      const prefix = Array.isArray(o.prefixItems) ? o.prefixItems.map((x) => maxJsonChars(x, root, seen) + 1) : [];
      const items = Number(o.maxItems ?? Infinity);
      const rest = Math.max(0, items - prefix.length) * (o.items === undefined || o.items === false ? 0 : maxJsonChars(o.items, root, seen) + 1);
      return 2 + prefix.reduce((a, b) => a + b, 0) + rest;
    }
    case "object": {
      const props = Object.entries((o.properties ?? {}) as Schema).reduce((n, [k, v]) => n + json(k) + 2 + maxJsonChars(v, root, seen), 0);
      const extra = o.additionalProperties && typeof o.additionalProperties === "object" ? Number(o.maxProperties ?? Infinity) * (2 + 2 * 64 + 2 + maxJsonChars(o.additionalProperties, root, seen)) : 0;
      return 2 + props + extra;
    }
    default:
      return Infinity;
  }
}

/**
 * The envelope's schema, already in grammar form. `budget` (the answer's token limit) caps how
 * many parallel calls the grammar allows, so that a model cannot run out of tokens mid-envelope
 * by calling again and again (a character is at most one token for the models we serve).
 */
export function envelopeSchema(w: ToolWork, b: GrammarBounds, budget = Infinity): Schema {
  const offered = typeof w.choice === "object" ? w.tools.filter((t) => t.name === (w.choice as { name: string }).name) : w.tools;
  if (offered.length === 0) throw new Error("the named tool is not among the tools");
  const call = (t: ToolDef): Schema => {
    const params = grammarSchema(parametersOf(t), b);
    // $defs must sit at the root of the compiled schema; a call's own are lifted with a prefix.
    return { type: "object", properties: { name: { const: t.name }, arguments: params } };
  };
  const items = liftDefs({ items: offered.length === 1 ? call(offered[0]!) : { oneOf: offered.map(call) } });
  const perCall = maxJsonChars(items.items, items) + 1;
  const fit = Math.floor((budget - '{"tool_calls":[]}'.length) / perCall);
  const maxItems = w.parallel ? Math.max(1, Math.min(MAX_PARALLEL_CALLS, Number.isFinite(fit) ? fit : MAX_PARALLEL_CALLS)) : 1;
  const schema: Schema = { type: "object", properties: { tool_calls: { type: "array", minItems: 1, maxItems, items: items.items } }, ...(items.$defs !== undefined && { $defs: items.$defs }) };
  if (w.choice !== "auto") return schema;
  const answer: Schema = w.answerSchema
    ? { type: "object", properties: { json: grammarSchema(w.answerSchema, b) } }
    : { type: "object", properties: { content: { type: "string", maxLength: b.maxString * 8 } } };
  const lifted = liftDefs(answer);
  const { $defs: d1, ...c } = schema;
  const { $defs: d2, ...a } = lifted;
  const defs = { ...(d1 as Schema | undefined), ...(d2 as Schema | undefined) };
  return { oneOf: [c, a], ...(Object.keys(defs).length > 0 ? { $defs: defs } : {}) };
}

/** Moves every nested `$defs` to the root under a unique prefix, rewriting its `$ref`s. */
function liftDefs(schema: Schema): Schema {
  const defs: Schema = {};
  let n = 0;
  const walk = (s: unknown, scope: Record<string, string>): unknown => {
    if (Array.isArray(s)) return s.map((x) => walk(x, scope));
    if (typeof s !== "object" || s === null) return s;
    const o = s as Schema;
    let inner = scope;
    if (o.$defs && typeof o.$defs === "object") {
      const prefix = `d${n++}_`;
      inner = { ...scope, ...Object.fromEntries(Object.keys(o.$defs as Schema).map((k) => [k, prefix + k])) };
      for (const [k, v] of Object.entries(o.$defs as Schema)) defs[prefix + k] = walk(v, inner);
    }
    const out: Schema = {};
    for (const [k, v] of Object.entries(o)) {
      if (k === "$defs") continue;
      if (k === "$ref" && typeof v === "string") {
        const name = v.replace(/^#\/\$defs\//, "");
        out.$ref = `#/$defs/${inner[name] ?? name}`;
      } else out[k] = walk(v, inner);
    }
    return out;
  };
  const root = walk(schema, {}) as Schema;
  return Object.keys(defs).length > 0 ? { ...root, $defs: defs } : root;
}

export class EnvelopeError extends Error {
  override readonly name = "EnvelopeError";
}

type Phase =
  | { kind: "head" }
  | { kind: "content"; escape: string | null }
  | { kind: "json"; raw: RawValue }
  | { kind: "call-head"; index: number }
  | { kind: "name"; index: number; name: string }
  | { kind: "args-head"; index: number }
  | { kind: "args"; index: number; raw: RawValue }
  | { kind: "after-call" }
  | { kind: "tail" }
  | { kind: "done" };

/** Where a raw JSON value ends: the first `}` `]` or `,` outside strings at its own depth. */
class RawValue {
  #depth = 0;
  #inString = false;
  #escape = false;
  /** True when `ch` is still part of the value. */
  take(ch: string): boolean {
    if (this.#inString) {
      if (this.#escape) this.#escape = false;
      else if (ch === "\\") this.#escape = true;
      else if (ch === '"') this.#inString = false;
      return true;
    }
    if (ch === '"') this.#inString = true;
    else if (ch === "{" || ch === "[") this.#depth++;
    else if (ch === "}" || ch === "]" || ch === ",") {
      if (this.#depth === 0) return false;
      if (ch !== ",") this.#depth--;
    }
    return true;
  }
}

const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** Streams an envelope into tool-stream events. `idFor` names call `index` (stable per answer). */
export class EnvelopeScanner {
  #phase: Phase = { kind: "head" };
  #pending = "";
  /** Calls started so far. */
  #calls = 0;
  constructor(private readonly idFor: (index: number, name: string) => string) {}

  get done(): boolean {
    return this.#phase.kind === "done";
  }

  push(text: string): ToolStreamEvent[] {
    const out: ToolStreamEvent[] = [];
    let content = "";
    let args = "";
    let argsIndex = -1;
    const flush = () => {
      if (content) out.push({ type: "content", text: content });
      if (args) out.push({ type: "arguments", index: argsIndex, fragment: args });
      content = "";
      args = "";
    };
    for (const ch of text) {
      const p = this.#phase;
      switch (p.kind) {
        case "head":
        case "call-head":
        case "args-head":
        case "after-call":
        case "tail": {
          this.#pending += ch;
          this.#literal(p, flush);
          break;
        }
        case "content":
          if (p.escape !== null) {
            content += ESCAPES[ch] ?? ch;
            p.escape = null;
          } else if (ch === "\\") p.escape = ch;
          else if (ch === '"') this.#phase = { kind: "tail" };
          else content += ch;
          break;
        case "json":
          if (p.raw.take(ch)) content += ch;
          else {
            this.#pending = ch;
            this.#phase = { kind: "tail" };
            this.#literal(this.#phase, flush);
          }
          break;
        case "name":
          if (ch === '"') {
            flush();
            out.push({ type: "call", index: p.index, id: this.idFor(p.index, p.name), name: p.name });
            this.#phase = { kind: "args-head", index: p.index };
          } else p.name += ch;
          break;
        case "args":
          if (p.raw.take(ch)) {
            argsIndex = p.index;
            args += ch;
          } else {
            flush();
            this.#pending = ch;
            this.#phase = { kind: "after-call" };
            this.#literal(this.#phase, flush);
          }
          break;
        case "done":
          throw new EnvelopeError("text after the end of the envelope");
      }
    }
    flush();
    return out;
  }

  /** Matches the fixed punctuation between the parts, moving on once a literal is complete. */
  #literal(p: Phase, flush: () => void): void {
    const s = this.#pending;
    const options: Array<[string, () => Phase]> = [];
    switch (p.kind) {
      case "head":
        options.push(['{"content":"', () => ({ kind: "content", escape: null })], ['{"json":', () => ({ kind: "json", raw: new RawValue() })], ['{"tool_calls":[', () => ({ kind: "call-head", index: 0 })]);
        break;
      case "call-head":
        options.push(['{"name":"', () => ({ kind: "name", index: p.index, name: "" })]);
        break;
      case "args-head":
        options.push([',"arguments":', () => ({ kind: "args", index: p.index, raw: new RawValue() })]);
        break;
      case "after-call": {
        const next = this.#calls;
        options.push(["},", () => ({ kind: "call-head", index: next })], ["}]}", () => ({ kind: "done" })]);
        break;
      }
      case "tail":
        options.push(["}", () => ({ kind: "done" })]);
        break;
      default:
        return;
    }
    const full = options.find(([lit]) => lit === s);
    if (full) {
      flush();
      this.#pending = "";
      this.#phase = full[1]();
      if (this.#phase.kind === "call-head") this.#calls = (this.#phase as { index: number }).index + 1;
      return;
    }
    if (!options.some(([lit]) => lit.startsWith(s))) throw new EnvelopeError(`unexpected text in the envelope: ${JSON.stringify(s)}`);
  }
}
