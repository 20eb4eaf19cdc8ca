// The output of a job that offers tools (PROTOCOL.md §3 `tools`, toolChoice other than "none"):
// the sealed reply's plaintext is a *tool stream*, JSON Lines with one event per line, so that
// text and tool calls can stream side by side through a channel that carries text only, cut at
// any byte by the reply frames:
//   {"content":"…"}                          the next piece of the assistant's text
//   {"call":0,"id":"call_…","name":"fn"}     tool call 0 starts (ids are unique within the answer)
//   {"call":0,"arguments":"{\"city\":"}      the next fragment of call 0's arguments (JSON text)
// Calls are numbered from 0 in order; a call's fragments follow its start. A job without tools
// answers in plain text, as before. The receipt's outputCommitment covers the stream's bytes.

export type ToolStreamEvent =
  | { type: "content"; text: string }
  | { type: "call"; index: number; id: string; name: string }
  | { type: "arguments"; index: number; fragment: string };

export interface ToolCall {
  id: string;
  name: string;
  /** JSON text, as the model wrote it. */
  arguments: string;
}

export interface AssembledToolStream {
  content: string;
  toolCalls: ToolCall[];
}

export class ToolStreamError extends Error {
  override readonly name = "ToolStreamError";
}

/** One event as its line (with the newline). */
export function encodeToolEvent(e: ToolStreamEvent): string {
  switch (e.type) {
    case "content":
      return `${JSON.stringify({ content: e.text })}\n`;
    case "call":
      return `${JSON.stringify({ call: e.index, id: e.id, name: e.name })}\n`;
    case "arguments":
      return `${JSON.stringify({ call: e.index, arguments: e.fragment })}\n`;
  }
}

function decodeLine(line: string): ToolStreamEvent {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ToolStreamError("a tool-stream line is not JSON");
  }
  const o = (typeof v === "object" && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  if (typeof o.content === "string" && o.call === undefined) return { type: "content", text: o.content };
  if (Number.isSafeInteger(o.call) && (o.call as number) >= 0) {
    const index = o.call as number;
    if (typeof o.id === "string" && typeof o.name === "string") return { type: "call", index, id: o.id, name: o.name };
    if (typeof o.arguments === "string") return { type: "arguments", index, fragment: o.arguments };
  }
  throw new ToolStreamError("a tool-stream line is not a content, call or arguments event");
}

/**
 * Decodes a tool stream as it arrives in arbitrary pieces, and checks its order: calls numbered
 * 0, 1, … each started once, fragments only for a started call, ids unique.
 */
export class ToolStreamDecoder {
  #buffer = "";
  #calls: ToolCall[] = [];
  #content = "";

  push(text: string): ToolStreamEvent[] {
    this.#buffer += text;
    const events: ToolStreamEvent[] = [];
    let nl: number;
    while ((nl = this.#buffer.indexOf("\n")) >= 0) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 1);
      if (line === "") continue;
      events.push(this.#accept(decodeLine(line)));
    }
    return events;
  }

  /** The stream ended: nothing may be left half-written. */
  end(): AssembledToolStream {
    if (this.#buffer !== "") throw new ToolStreamError("the tool stream ends in the middle of a line");
    return { content: this.#content, toolCalls: this.#calls.map((c) => ({ ...c })) };
  }

  #accept(e: ToolStreamEvent): ToolStreamEvent {
    if (e.type === "content") this.#content += e.text;
    else if (e.type === "call") {
      if (e.index !== this.#calls.length) throw new ToolStreamError(`tool call ${e.index} starts out of order (expected ${this.#calls.length})`);
      if (this.#calls.some((c) => c.id === e.id)) throw new ToolStreamError(`tool call id ${e.id} is used twice`);
      this.#calls.push({ id: e.id, name: e.name, arguments: "" });
    } else {
      const call = this.#calls[e.index];
      if (!call) throw new ToolStreamError(`arguments for tool call ${e.index}, which has not started`);
      call.arguments += e.fragment;
    }
    return e;
  }
}

/** The whole answer of a tool stream. */
export function assembleToolStream(text: string): AssembledToolStream {
  const d = new ToolStreamDecoder();
  d.push(text);
  return d.end();
}
