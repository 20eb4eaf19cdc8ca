// OpenAI-compatible HTTP API over the requester SDK: POST /v1/chat/completions (SSE streaming or
// not), GET /v1/models, errors in OpenAI's `{ error: { message, type, param, code } }` shape.
// Each bearer key spends for the DID it is bound to; every request is a real cocore job.
//
// A job that waits in the matchmaker's queue: the response carries `x-cocore-queue-position` and
// `x-cocore-queue-wait-ms` (its place and expected wait when it joined the line; 0 and 0 when it
// got a slot at once). A streaming request gets its headers as soon as it is queued and then SSE
// comments (`: queued position=N wait_ms=M`) while it waits, which keep proxies and clients from
// timing out and which OpenAI clients ignore — never a made-up token. A full queue is 429
// `queue_full` with `Retry-After`; a job that waited too long is 503 `queue_timeout` (an error
// event, for a stream that had started), both with the queue facts in the error object.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ClientError, type CocoreClient, type JobResult } from "@cocore/client";
import type { ApiKeyEntry, KeyStore } from "./keys.ts";
import { DEFAULT_GATEWAY_LIMITS, GatewayGuard, type GatewayLimits } from "./limits.ts";

export interface GatewayConfig {
  keys: KeyStore;
  /** The SDK client acting for a DID (the gateway holds that requester's session). */
  clientFor(did: string): Promise<CocoreClient>;
  /** Lists models served right now (any client will do). */
  models(): Promise<Array<{ id: string; providers: number }>>;
  port?: number;
  host?: string;
  /** Default max_tokens when a request gives none. */
  defaultMaxTokens?: number;
  /** Abuse limits (limits.ts; default DEFAULT_GATEWAY_LIMITS). */
  limits?: Partial<GatewayLimits>;
  log?: (line: string) => void;
}

export interface Gateway {
  url: string;
  close(): Promise<void>;
}

interface ChatRequest {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  temperature?: unknown;
  top_p?: unknown;
  seed?: unknown;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    /** Further members of the error object (snake_case, as OpenAI's own). */
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Where a job stood in the matchmaker's queue. */
interface QueueFacts {
  position: number;
  waitMs: number;
}

function queueHeaders(q: QueueFacts | undefined): Record<string, string> {
  return { "x-cocore-queue-position": String(q?.position ?? 0), "x-cocore-queue-wait-ms": String(q?.waitMs ?? 0) };
}

// Our refusal codes → OpenAI-style HTTP status and error type. `queue`: the job's latest place in line.
function fromClientError(err: ClientError, queue?: QueueFacts): ApiError {
  const c = err.code;
  if (c === "queue_full") {
    const ms = Number(err.details.retryAfterMs);
    const seconds = Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / 1000) : 1;
    return new ApiError(429, "rate_limit_error", c, err.message, null, { retry_after_ms: seconds * 1000, queued: err.details.queued ?? null }, { "retry-after": String(seconds) });
  }
  if (c === "queue_timeout") {
    const position = queue?.position ?? Number(err.details.queuePosition ?? 0);
    const waitMs = queue?.waitMs ?? Number(err.details.queueWaitMs ?? 0);
    return new ApiError(503, "server_error", c, err.message, null, { queue_position: position, queue_wait_ms: waitMs }, queueHeaders({ position, waitMs }));
  }
  if (c === "below_floor" || c === "insufficient_balance") return new ApiError(429, "insufficient_quota", c, err.message);
  if (c === "no_providers_for_model") return new ApiError(404, "invalid_request_error", "model_not_found", err.message, "model");
  if (c === "terms_not_accepted") return new ApiError(403, "permission_error", c, err.message);
  if (c.startsWith("no_providers") || c === "providers_busy" || c === "provider_unavailable") return new ApiError(503, "server_error", c, err.message);
  if (c === "provider_timeout") return new ApiError(504, "server_error", c, err.message);
  if (c === "invalid_job" || c === "invalid_request" || c === "ceiling_too_low" || c === "context_overflow") return new ApiError(400, "invalid_request_error", c, err.message);
  return new ApiError(502, "server_error", c, err.message);
}

export async function startGateway(config: GatewayConfig): Promise<Gateway> {
  const log = config.log ?? ((l: string) => process.stderr.write(`gateway: ${l}\n`));
  const guard = new GatewayGuard({ ...DEFAULT_GATEWAY_LIMITS, ...config.limits });
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = err instanceof ApiError ? err : err instanceof ClientError ? fromClientError(err) : new ApiError(500, "server_error", "internal_error", "The gateway failed on this request.");
      if (!(err instanceof ApiError) && !(err instanceof ClientError)) log(`request failed: ${err instanceof Error ? err.stack : String(err)}`);
      if (!res.headersSent) sendError(res, e);
      else {
        // Mid-stream: OpenAI clients surface an `error` event as an exception.
        res.write(`data: ${JSON.stringify(errorBody(e))}\n\n`);
        res.end();
      }
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.pathname === "/v1/models") {
      admit(auth(req));
      const models = await config.models().catch((err: unknown) => {
        throw err instanceof ClientError ? fromClientError(err) : err;
      });
      const created = Math.floor(Date.now() / 1000);
      return sendJson(res, 200, { object: "list", data: models.map((m) => ({ id: m.id, object: "model", created, owned_by: "cocore", providers: m.providers })) });
    }
    if (req.method === "POST" && url.pathname === "/v1/chat/completions") {
      const key = auth(req);
      admit(key);
      const release = guard.job(key.did);
      if (!release) {
        throw new ApiError(429, "rate_limit_error", "too_many_concurrent_requests", `This account already has ${guard.limits.concurrentPerDid} chat completions running or queued; wait for one to finish.`, null, { retry_after_ms: 1000 }, { "retry-after": "1" });
      }
      res.once("close", release);
      return chat(req, res, key.did);
    }
    if (req.method === "GET" && url.pathname === "/health") return sendJson(res, 200, { ok: true });
    throw new ApiError(404, "invalid_request_error", "not_found", `Unknown route ${req.method} ${url.pathname}.`);
  }

  /** Spends one request of the key's and its DID's budgets, or refuses with when to come back. */
  function admit(key: ApiKeyEntry): void {
    const refusal = guard.request(key, Date.now());
    if (!refusal) return;
    const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
    throw new ApiError(429, "rate_limit_error", refusal.code, refusal.message, null, { retry_after_ms: refusal.retryAfterMs }, { "retry-after": String(seconds) });
  }

  function auth(req: IncomingMessage): ApiKeyEntry {
    const m = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ""));
    if (!m) throw new ApiError(401, "invalid_request_error", "missing_api_key", "Provide an API key as `Authorization: Bearer ck-…` (create one with `cocore apikey create`).");
    const entry = config.keys.lookup(m[1]!);
    if (!entry) throw new ApiError(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.");
    return entry;
  }

  async function chat(req: IncomingMessage, res: ServerResponse, did: string): Promise<void> {
    let body: ChatRequest;
    try {
      body = JSON.parse(await readBody(req, guard.limits.maxBodyBytes)) as ChatRequest;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(400, "invalid_request_error", "invalid_json", "The request body is not valid JSON.");
    }
    if (typeof body.model !== "string" || !body.model) throw new ApiError(400, "invalid_request_error", "missing_model", "`model` is required.", "model");
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw new ApiError(400, "invalid_request_error", "missing_messages", "`messages` must be a non-empty array.", "messages");
    const messages = body.messages.map((m, i) => {
      const msg = m as { role?: unknown; content?: unknown };
      const role = msg.role === "developer" ? "system" : msg.role;
      if (role !== "system" && role !== "user" && role !== "assistant") throw new ApiError(400, "invalid_request_error", "invalid_role", `messages[${i}].role must be system, user or assistant.`, `messages[${i}].role`);
      const content = typeof msg.content === "string" ? msg.content : Array.isArray(msg.content) ? msg.content.map((p) => (p as { text?: unknown }).text).filter((t) => typeof t === "string").join("") : undefined;
      if (content === undefined) throw new ApiError(400, "invalid_request_error", "invalid_content", `messages[${i}].content must be text.`, `messages[${i}].content`);
      return { role, content } as { role: "system" | "user" | "assistant"; content: string };
    });
    const maxRaw = body.max_completion_tokens ?? body.max_tokens;
    const maxTokens = maxRaw === undefined || maxRaw === null ? (config.defaultMaxTokens ?? 256) : Number(maxRaw);
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new ApiError(400, "invalid_request_error", "invalid_max_tokens", "max_tokens must be a positive integer.", "max_tokens");
    const input = {
      messages,
      maxTokens,
      ...(typeof body.temperature === "number" ? { temperatureMilli: Math.round(body.temperature * 1000) } : {}),
      ...(typeof body.top_p === "number" ? { topPMilli: Math.min(1000, Math.round(body.top_p * 1000)) } : {}),
      ...(Number.isInteger(body.seed) ? { seed: body.seed as number } : {}),
    };
    const client = await config.clientFor(did);
    const id = `chatcmpl-${randomBytes(12).toString("hex")}`;
    const created = Math.floor(Date.now() / 1000);
    const model = body.model;
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    // Where the job joined the line (headers) and where it is now (errors).
    let joined: QueueFacts | undefined;
    let latest: QueueFacts | undefined;
    const onQueued = (e: QueueFacts) => {
      latest = { position: e.position, waitMs: e.waitMs };
      joined ??= latest;
    };
    const events = (async function* () {
      try {
        yield* client.stream(input, { model, maxTokens, signal: abort.signal });
      } catch (err) {
        throw err instanceof ClientError ? fromClientError(err, latest) : err;
      }
    })();

    if (body.stream !== true) {
      let result: JobResult | undefined;
      for await (const e of events) {
        if (e.type === "queued") onQueued(e);
        if (e.type === "done") result = e.result;
      }
      if (!result) throw new ApiError(502, "server_error", "provider_lost", "The job ended without a result.");
      const mismatch = outputMismatch(result);
      if (mismatch) return sendJson(res, mismatch.status, { ...errorBody(mismatch), cocore: cocoreInfo(result) }, queueHeaders(joined));
      return sendJson(res, 200, {
        id, object: "chat.completion", created, model,
        choices: [{ index: 0, message: { role: "assistant", content: result.text }, finish_reason: finish(result.finishReason) }],
        usage: usage(result),
        cocore: cocoreInfo(result),
      }, queueHeaders(joined));
    }

    const chunk = (delta: Record<string, unknown>, finishReason: string | null, extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra })}\n\n`;
    let opened = false;
    const open = () => {
      if (opened) return;
      opened = true;
      req.socket.setNoDelay(true);
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", ...queueHeaders(joined) });
    };
    let started = false;
    const start = () => {
      open();
      if (started) return;
      started = true;
      res.write(chunk({ role: "assistant", content: "" }, null));
    };
    for await (const e of events) {
      if (e.type === "queued") {
        onQueued(e);
        open();
        // An SSE comment: it keeps the connection alive and carries no data an OpenAI client reads.
        res.write(`: queued position=${e.position} wait_ms=${e.waitMs}\n\n`);
      } else if (e.type === "dispatched") start();
      else if (e.type === "chunk") {
        start();
        res.write(chunk({ content: e.text }, null));
      } else if (e.type === "done") {
        start();
        const mismatch = outputMismatch(e.result);
        if (mismatch) {
          // The text already streamed cannot be taken back, so instead of a finish_reason the
          // stream ends with an OpenAI-shaped `error` event (the openai SDKs throw it as an
          // APIError) and then [DONE], so plain SSE readers still see a terminated stream.
          res.write(`data: ${JSON.stringify({ ...errorBody(mismatch), cocore: cocoreInfo(e.result) })}\n\n`);
          res.write("data: [DONE]\n\n");
          res.end();
          return;
        }
        res.write(chunk({}, finish(e.result.finishReason)));
        res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: usage(e.result), cocore: cocoreInfo(e.result) })}\n\n`);
        res.write("data: [DONE]\n\n");
        res.end();
        return;
      }
    }
    throw new ApiError(502, "server_error", "provider_lost", "The job ended without a result.");
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port ?? 0, config.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The refusal for a result whose output does not match what the provider committed to in its
 * receipt (plaintext or sealed frames): the client must not take that text as the job's answer.
 */
function outputMismatch(r: Pick<JobResult, "outputMatches" | "cipherMatches">): ApiError | undefined {
  if (r.outputMatches && r.cipherMatches) return undefined;
  const which = !r.cipherMatches ? "sealed output frames" : "output text";
  return new ApiError(502, "server_error", "output_mismatch", `The ${which} relayed to the gateway do not match the provider's commitment in the receipt; the output is not trustworthy.`);
}

function finish(reason: JobResult["finishReason"]): string {
  return reason === "length" ? "length" : "stop";
}

function usage(r: JobResult) {
  return { prompt_tokens: r.tokens.in, completion_tokens: r.tokens.out, total_tokens: r.tokens.in + r.tokens.out };
}

function cocoreInfo(r: JobResult) {
  return { job: r.job.uri, receipt: r.receipt.uri, provider: r.provider, price: r.price };
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    const tooLarge = () => new ApiError(413, "invalid_request_error", "body_too_large", `The request body is larger than ${maxBytes} bytes.`, null, {}, { connection: "close" });
    // Refused before reading when the length is declared; otherwise once the bytes pass the cap.
    // Either way the rest is drained, not kept, so that the 413 reaches the client.
    if (declared > maxBytes) {
      req.resume();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= maxBytes) chunks.push(c);
      else {
        chunks.length = 0;
        reject(tooLarge());
      }
    });
    req.on("end", () => {
      if (size <= maxBytes) resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(e: ApiError) {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code, ...e.extra } };
}

function sendError(res: ServerResponse, e: ApiError): void {
  sendJson(res, e.status, errorBody(e), e.headers);
}
