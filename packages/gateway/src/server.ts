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
import { ClientError, type CocoreClient, type JobResult, type ModelInfo } from "@cocore/client";
import { parseChatRequest } from "./chat-request.ts";
import { ChatStreamWriter, cocoreInfo, completionBody } from "./chat-response.ts";
import { ApiError, errorBody, fromClientError, queueHeaders, type QueueFacts } from "./errors.ts";
import type { ApiKeyEntry, KeyStore } from "./keys.ts";
import { DEFAULT_GATEWAY_LIMITS, GatewayGuard, type GatewayLimits } from "./limits.ts";
import { BodyTooLargeError, readCappedBody } from "@cocore/limits";

/** What the exchange charges per million tokens (its policy's tokenRate). */
export interface TokenPrice {
  inputPricePerMTok: number;
  outputPricePerMTok: number;
  currency: string;
}

export interface GatewayConfig {
  keys: KeyStore;
  /** The SDK client acting for a DID (the gateway holds that requester's session). */
  clientFor(did: string): Promise<CocoreClient>;
  /** Lists models served right now, with what they can do (any client will do). */
  models(): Promise<ModelInfo[]>;
  /** The price GET /v1/models states; absent: not stated. */
  price?(): Promise<TokenPrice | undefined>;
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
      const price = await config.price?.().catch(() => undefined);
      const created = Math.floor(Date.now() / 1000);
      return sendJson(res, 200, {
        object: "list",
        data: models.map((m) => ({
          id: m.id,
          object: "model",
          created,
          owned_by: "cocore",
          providers: m.providers,
          capabilities: { tools: m.capabilities?.tools ?? false, structured_output: m.capabilities?.structuredOutput ?? false, context_length: m.capabilities?.contextLength ?? 0 },
          ...(price && { pricing: { input_per_million_tokens: price.inputPricePerMTok, output_per_million_tokens: price.outputPricePerMTok, currency: price.currency } }),
        })),
      });
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
    let raw: unknown;
    try {
      raw = JSON.parse(await readBody(req, guard.limits.maxBodyBytes));
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(400, "invalid_request_error", "invalid_json", "The request body is not valid JSON.");
    }
    const parsed = parseChatRequest(raw);
    if (!parsed.ok) {
      const e = parsed.error;
      throw new ApiError(e.status, e.type, e.code, e.message, e.param);
    }
    const body = parsed.request;
    const maxTokens = body.maxTokens ?? config.defaultMaxTokens ?? 256;
    const input = { ...body.input, maxTokens };
    const client = await config.clientFor(did);
    const completion = { id: `chatcmpl-${randomBytes(12).toString("hex")}`, created: Math.floor(Date.now() / 1000), model: body.model };
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
        yield* client.stream(input, { model: body.model, maxTokens, signal: abort.signal, ...(body.work && { work: body.work }) });
      } catch (err) {
        throw err instanceof ClientError ? fromClientError(err, latest) : err;
      }
    })();

    if (!body.stream) {
      let result: JobResult | undefined;
      for await (const e of events) {
        if (e.type === "queued") onQueued(e);
        if (e.type === "done") result = e.result;
      }
      if (!result) throw new ApiError(502, "server_error", "provider_lost", "The job ended without a result.");
      const mismatch = outputMismatch(result);
      if (mismatch) return sendJson(res, mismatch.status, { ...errorBody(mismatch), cocore: cocoreInfo(result) }, queueHeaders(joined));
      return sendJson(res, 200, completionBody(completion, result), queueHeaders(joined));
    }

    let opened = false;
    const open = () => {
      if (opened) return;
      opened = true;
      req.socket.setNoDelay(true);
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive", ...queueHeaders(joined) });
    };
    const writer = new ChatStreamWriter(completion, (event) => {
      open();
      res.write(event);
    }, { toolStream: body.work?.tools !== undefined && (body.work.toolChoice !== "none" || body.work.toolChoiceFunction !== undefined), includeUsage: body.includeUsage });
    for await (const e of events) {
      if (e.type === "queued") {
        onQueued(e);
        open();
        // An SSE comment: it keeps the connection alive and carries no data an OpenAI client reads.
        res.write(`: queued position=${e.position} wait_ms=${e.waitMs}\n\n`);
      } else if (e.type === "keepalive") {
        // A long gap before or between tokens: the same kind of comment keeps proxies from cutting the stream.
        open();
        res.write(": keepalive\n\n");
      } else if (e.type === "dispatched") writer.start();
      else if (e.type === "chunk") writer.text(e.text);
      else if (e.type === "done") {
        writer.start();
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
        writer.done(e.result);
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

async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  try {
    return await readCappedBody(req, maxBytes);
  } catch (e) {
    if (e instanceof BodyTooLargeError) throw new ApiError(413, "invalid_request_error", "body_too_large", e.message, null, {}, { connection: "close" });
    throw e;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError): void {
  sendJson(res, e.status, errorBody(e), e.headers);
}
