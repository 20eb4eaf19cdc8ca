// Forwards to an OpenAI-compatible server (llama-server, vLLM, Ollama, ...) for providers whose
// GPUs are driven by such a server. Token counts come from the server's own `usage` report,
// requested with stream_options.include_usage, since only it knows its tokenizer.

import { EngineError, validateRequest, type Engine, type GenerateRequest, type GenerateResult, type OnToken } from "./types.ts";

export interface OpenAIEngineOptions {
  /** Server root, e.g. http://127.0.0.1:8080 (the engine appends /v1/...). */
  baseUrl: string;
  /** Model ids to serve; default: whatever GET /v1/models lists at load(). */
  models?: string[];
  apiKey?: string;
}

interface ChatChunk {
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string };
}

export class OpenAIEngine implements Engine {
  readonly kind = "openai" as const;
  readonly #baseUrl: string;
  readonly #apiKey: string | undefined;
  #models: string[] | undefined;
  #closed = false;

  constructor(opts: OpenAIEngineOptions) {
    this.#baseUrl = opts.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.#apiKey = opts.apiKey;
    this.#models = opts.models;
  }

  models(): string[] {
    return this.#models ?? [];
  }

  async load(): Promise<void> {
    if (this.#models) return;
    const res = await this.#fetch("/v1/models", { method: "GET" });
    const body = (await res.json()) as { data?: { id?: unknown }[] };
    const ids = (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === "string");
    if (ids.length === 0) throw new EngineError("upstream", `${this.#baseUrl}/v1/models lists no models`);
    this.#models = ids;
  }

  async generate(req: GenerateRequest, onToken: OnToken): Promise<GenerateResult> {
    if (this.#closed || !this.#models) throw new EngineError("not-loaded", "openai engine is not loaded");
    validateRequest(req, this.#models);
    const greedy = !req.temperatureMilli;
    const body = {
      model: req.model,
      messages: [{ role: "user", content: req.prompt }],
      max_tokens: req.maxTokens,
      temperature: greedy ? 0 : req.temperatureMilli! / 1000,
      ...(!greedy && req.topPMilli !== undefined && { top_p: req.topPMilli / 1000 }),
      ...(req.seed !== undefined && { seed: req.seed }),
      stream: true,
      stream_options: { include_usage: true },
    };
    let text = "";
    let chunks = 0;
    let finish: string | null = null;
    let usage: { in: number; out: number } | undefined;
    try {
      const res = await this.#fetch("/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: req.signal ?? null,
      });
      if (!res.body) throw new EngineError("upstream", "chat/completions returned no body");
      for await (const data of sseData(res.body)) {
        if (req.signal?.aborted) throw req.signal.reason;
        if (data === "[DONE]") break;
        let chunk: ChatChunk;
        try {
          chunk = JSON.parse(data) as ChatChunk;
        } catch {
          throw new EngineError("upstream", `bad SSE JSON from upstream: ${data.slice(0, 200)}`);
        }
        if (chunk.error) throw new EngineError("upstream", `upstream error: ${chunk.error.message ?? "unknown"}`);
        const choice = chunk.choices?.[0];
        const piece = choice?.delta?.content;
        if (piece) {
          chunks++;
          text += piece;
          onToken(piece);
        }
        if (choice?.finish_reason) finish = choice.finish_reason;
        const u = chunk.usage;
        if (u && Number.isInteger(u.prompt_tokens) && Number.isInteger(u.completion_tokens)) {
          usage = { in: u.prompt_tokens!, out: u.completion_tokens! };
        }
      }
    } catch (err) {
      if (req.signal?.aborted) {
        // No usage arrives on an aborted stream; servers send one chunk per token, so the chunk
        // count is the best lower bound for what was generated. Prompt tokens are unknown: 0.
        return { text, tokensIn: usage?.in ?? 0, tokensOut: usage?.out ?? chunks, finishReason: "abort" };
      }
      if (err instanceof EngineError) throw err;
      throw new EngineError("upstream", `chat/completions stream failed: ${(err as Error).message}`, { cause: err });
    }
    if (!usage) throw new EngineError("upstream", "upstream reported no usage (needs stream_options.include_usage support)");
    if (usage.out > req.maxTokens) {
      throw new EngineError("upstream", `upstream reported ${usage.out} completion tokens > maxTokens ${req.maxTokens}`);
    }
    return { text, tokensIn: usage.in, tokensOut: usage.out, finishReason: finish === "length" ? "length" : "stop" };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#apiKey) headers.set("authorization", `Bearer ${this.#apiKey}`);
    let res: Response;
    try {
      res = await fetch(this.#baseUrl + path, { ...init, headers });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new EngineError("upstream", `${init.method} ${this.#baseUrl}${path} failed: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok) {
      const detail = (await res.text().catch(() => "")).slice(0, 300);
      throw new EngineError("upstream", `${init.method} ${this.#baseUrl}${path}: HTTP ${res.status} ${detail}`);
    }
    return res;
  }
}

/** Yields the payload of each SSE `data:` event (multi-line data joined with "\n"). */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, "");
        buf = buf.slice(nl + 1);
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
        } else if (line.startsWith("data:")) {
          data.push(line.slice(5).replace(/^ /, ""));
        }
      }
      if (done) break;
    }
    if (data.length) yield data.join("\n");
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
}
