// JSON-schema grammars for the llama engine. node-llama-cpp compiles a schema into GBNF
// (`llama.createGrammarForJsonSchema`); its output is then rewritten here, because in a low-level
// `sequence.evaluate` loop the stock grammar misbehaves (LLAMA-GRAMMAR-NOTES.md):
// - it ends in `"\n\n\n\n" [\n]*`, which a loop without stop triggers fills with newlines until
//   maxTokens: removed, so once the value is complete only end-of-generation is left;
// - integers admit exponents (`5e-1` is not an integer) and 16 digits, numbers any exponent (`1e999`
//   parses to Infinity): integers become at most 15 digits, numbers get at most 6 fraction digits
//   and a two-digit exponent;
// - a string without maxLength (an object key of a free-form object) lets a small model loop:
//   bounded; `\u` escapes are dropped (every character can be written raw), so a character costs
//   at most two;
// - whitespace and newlines between tokens are optional: removed, so answers are compact JSON and
//   cost fewer tokens.
// Each rewrite asserts the rule it expects, so a node-llama-cpp upgrade that changes the output
// fails loudly here instead of silently generating something else.
import type { Llama, LlamaGrammar } from "node-llama-cpp";

export class GrammarRewriteError extends Error {
  override readonly name = "GrammarRewriteError";
}

const SUFFIX = ' "\\n\\n\\n\\n" [\\n]*';
const INTEGER = 'integer-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,14})';
const FRACTIONAL = 'fractional-number-rule ::= "-"? ("0" | [1-9] [0-9]{0,14}) ("." [0-9]{1,6})? ([eE] [-+]? [0-9]{1,2})?';
const STRING_CHAR = 'string-char-rule ::= [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ["\\\\/bfnrt]';

/** The GBNF of `stock` (node-llama-cpp's grammar text) rewritten as described above. */
export function rewriteGrammar(stock: string, o: { maxKeyLength: number }): string {
  const lines = stock.split("\n");
  const out: string[] = [];
  let sawRoot = false;
  for (const line of lines) {
    const m = /^([a-zA-Z0-9-]+) ::= (.*)$/.exec(line);
    if (!m) {
      if (line.trim() !== "") throw new GrammarRewriteError(`unexpected grammar line: ${line}`);
      continue;
    }
    const [, name, body] = m as unknown as [string, string, string];
    if (name === "root") {
      if (!body.endsWith(SUFFIX)) throw new GrammarRewriteError("the root rule no longer ends in the newline suffix");
      out.push(`root ::= ${compact(body.slice(0, -SUFFIX.length))}`);
      sawRoot = true;
    } else if (name === "integer-number-rule") {
      expectBody(name, body, /^"-"\? \("0" \| \[1-9\] \[0-9\]\{0,15\}\) \(\[eE\]/);
      out.push(INTEGER);
    } else if (name === "fractional-number-rule") {
      expectBody(name, body, /^"-"\? \("0" \| \[1-9\] \[0-9\]\{0,15\}\) \("\." \[0-9\]\{1,16\}\)\?/);
      out.push(FRACTIONAL);
    } else if (name === "string-char-rule") {
      expectBody(name, body, /\| "\\\\u" \[0-9a-fA-F\]\{4\}$/);
      out.push(STRING_CHAR);
    } else if (name === "string-rule") {
      expectBody(name, body, /^"\\"" string-char-rule\* "\\""$/);
      out.push(`string-rule ::= "\\"" ( string-char-rule ){0,${o.maxKeyLength}} "\\""`);
    } else if (/^(comma-)?whitespace-/.test(name)) {
      out.push(`${name} ::= ${name.startsWith("comma-") ? '","' : '""'}`);
    } else {
      out.push(`${name} ::= ${compact(body)}`);
    }
  }
  if (!sawRoot) throw new GrammarRewriteError("the grammar has no root rule");
  return out.join("\n");
}

function expectBody(name: string, body: string, shape: RegExp): void {
  if (!shape.test(body)) throw new GrammarRewriteError(`the ${name} rule changed shape: ${body}`);
}

/** No optional space after a member's colon. */
function compact(body: string): string {
  return body.replaceAll('":" [ ]?', '":"');
}

/** A grammar for JSON values of `schema` (already in grammarSchema form). */
export async function jsonSchemaGrammar(llama: Llama, schema: Record<string, unknown>, o: { maxKeyLength: number }): Promise<LlamaGrammar> {
  // The compiler's types describe the schema subset it takes; support.ts has checked ours fits it.
  const stock = await llama.createGrammarForJsonSchema(schema as never);
  return llama.createGrammar({ grammar: rewriteGrammar(stock.grammar, o) });
}
