// The answer of POST /v1/chat/completions in OpenAI's shapes: one `chat.completion` object, or
// the `chat.completion.chunk` events of a stream. A job that offered tools answered in a tool
// stream (@cocore/protocol tool-stream.ts); here it becomes `tool_calls` with finish_reason
// "tool_calls", streamed as OpenAI streams them: a call's first delta carries its index, id,
// type and name with empty arguments, the next ones argument fragments under the same index.
import { assembleToolStream, ToolStreamDecoder, type AssembledToolStream, type ToolStreamEvent } from "@cocore/protocol";
import type { JobResult } from "@cocore/client";

export interface Completion {
  id: string;
  created: number;
  model: string;
}

type Finish = "stop" | "length" | "tool_calls";

function finishReason(r: Pick<JobResult, "finishReason">, answer: AssembledToolStream | undefined): Finish {
  if (r.finishReason === "length") return "length";
  return answer && answer.toolCalls.length > 0 ? "tool_calls" : "stop";
}

export function usageOf(r: JobResult) {
  return { prompt_tokens: r.tokens.in, completion_tokens: r.tokens.out, total_tokens: r.tokens.in + r.tokens.out };
}

export function cocoreInfo(r: JobResult) {
  return { job: r.job.uri, receipt: r.receipt.uri, provider: r.provider, price: r.price };
}

/** The non-streaming answer. */
export function completionBody(c: Completion, r: JobResult) {
  const answer = r.offersTools ? assembleToolStream(r.text) : undefined;
  const calls = answer?.toolCalls ?? [];
  const message = {
    role: "assistant" as const,
    content: answer ? (answer.content === "" && calls.length > 0 ? null : answer.content) : r.text,
    refusal: null,
    ...(calls.length > 0 && { tool_calls: calls.map((t) => ({ id: t.id, type: "function" as const, function: { name: t.name, arguments: t.arguments } })) }),
  };
  return {
    id: c.id,
    object: "chat.completion",
    created: c.created,
    model: c.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(r, answer) }],
    usage: usageOf(r),
    cocore: cocoreInfo(r),
  };
}

/**
 * The SSE events of one streamed answer. `write` receives whole `data:` events. With
 * `includeUsage`, every chunk carries `usage: null` and a last chunk (no choices) the usage, as
 * OpenAI sends them; the cocore facts (job, receipt, price) come in a last chunk either way.
 */
export class ChatStreamWriter {
  #started = false;
  readonly #decoder: ToolStreamDecoder | undefined;

  constructor(
    private readonly c: Completion,
    private readonly write: (event: string) => void,
    private readonly o: { toolStream: boolean; includeUsage: boolean },
  ) {
    this.#decoder = o.toolStream ? new ToolStreamDecoder() : undefined;
  }

  /** The first chunk (role), once, as soon as the provider has the job. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#chunk({ role: "assistant", content: "" }, null);
  }

  /** A piece of the provider's output. */
  text(piece: string): void {
    this.start();
    if (!this.#decoder) {
      this.#chunk({ content: piece }, null);
      return;
    }
    for (const e of this.#decoder.push(piece)) this.#event(e);
  }

  /** The job finished: the finish reason, the usage when asked for, the cocore facts, [DONE]. */
  done(r: JobResult): void {
    this.start();
    const answer = this.#decoder?.end();
    this.#chunk({}, finishReason(r, answer));
    this.write(this.#data({ ...this.#head(), choices: [], ...(this.o.includeUsage && { usage: usageOf(r) }), cocore: cocoreInfo(r) }));
    this.write("data: [DONE]\n\n");
  }

  #event(e: ToolStreamEvent): void {
    if (e.type === "content") this.#chunk({ content: e.text }, null);
    else if (e.type === "call") this.#chunk({ tool_calls: [{ index: e.index, id: e.id, type: "function", function: { name: e.name, arguments: "" } }] }, null);
    else this.#chunk({ tool_calls: [{ index: e.index, function: { arguments: e.fragment } }] }, null);
  }

  #head() {
    return { id: this.c.id, object: "chat.completion.chunk", created: this.c.created, model: this.c.model };
  }

  #chunk(delta: Record<string, unknown>, finish: Finish | null): void {
    this.write(this.#data({ ...this.#head(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(this.o.includeUsage && { usage: null }) }));
  }

  #data(body: unknown): string {
    return `data: ${JSON.stringify(body)}\n\n`;
  }
}
