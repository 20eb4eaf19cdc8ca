// The OpenAI-compatible engine against a loopback fake of llama-server/vLLM's streaming API.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { EngineError, OpenAIEngine } from "../src/engines/index.ts";

interface Seen {
  url: string;
  auth: string | undefined;
  body: Record<string, unknown>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return parts.length ? (JSON.parse(Buffer.concat(parts).toString("utf8")) as Record<string, unknown>) : {};
}

describe("openai engine", () => {
  const seen: Seen[] = [];
  let server: Server;
  let baseUrl: string;
  // Behaviour switch for the next completion: normal, no usage, upstream HTTP error, or slow stream.
  let mode: "normal" | "no-usage" | "http-500" | "slow" = "normal";

  before(async () => {
    server = createServer(async (req, res) => {
      const body = await readJson(req);
      seen.push({ url: req.url ?? "", auth: req.headers.authorization, body });
      if (req.url === "/v1/models") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: "qwen-0.5b", object: "model" }, { id: "llama-1b", object: "model" }] }));
        return;
      }
      if (req.url !== "/v1/chat/completions") {
        res.writeHead(404).end();
        return;
      }
      if (mode === "http-500") {
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":{"message":"boom"}}');
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
      const maxTokens = body.max_tokens as number;
      const words = ["Hel", "lo", ", ", "wor", "ld", "! ", "é", "🙂"];
      const n = Math.min(maxTokens, words.length);
      const delta = (content: string, finish: string | null = null) => ({
        id: "c1", object: "chat.completion.chunk", model: body.model,
        choices: [{ index: 0, delta: { content }, finish_reason: finish }],
      });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }] })}\n\n`);
      for (let i = 0; i < n; i++) {
        // split one event across two writes to exercise the SSE buffer
        const line = `data: ${JSON.stringify(delta(words[i]!))}\n\n`;
        res.write(line.slice(0, 7));
        res.write(line.slice(7));
        if (mode === "slow") await new Promise((r) => setTimeout(r, 20));
        if (res.destroyed) return;
      }
      send({ ...delta("", n === maxTokens ? "length" : "stop"), choices: [{ index: 0, delta: {}, finish_reason: n === maxTokens ? "length" : "stop" }] });
      if (mode !== "no-usage") send({ id: "c1", choices: [], usage: { prompt_tokens: 11, completion_tokens: n, total_tokens: 11 + n } });
      res.end("data: [DONE]\n\n");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test("load() lists upstream models", async () => {
    const engine = new OpenAIEngine({ baseUrl });
    assert.deepEqual(engine.models(), []);
    await engine.load();
    assert.deepEqual(engine.models(), ["qwen-0.5b", "llama-1b"]);
  });

  test("streams deltas and takes token counts from usage", async () => {
    mode = "normal";
    const engine = new OpenAIEngine({ baseUrl: `${baseUrl}/v1/`, models: ["qwen-0.5b"], apiKey: "sk-test" });
    await engine.load();
    const chunks: string[] = [];
    const r = await engine.generate({ model: "qwen-0.5b", prompt: "Say hello", maxTokens: 100, temperatureMilli: 700, topPMilli: 900, seed: 7 }, (t) => chunks.push(t));
    assert.deepEqual(chunks, ["Hel", "lo", ", ", "wor", "ld", "! ", "é", "🙂"]);
    assert.deepEqual(r, { text: "Hello, world! é🙂", tokensIn: 11, tokensOut: 8, finishReason: "stop" });
    const req = seen.at(-1)!;
    assert.equal(req.url, "/v1/chat/completions");
    assert.equal(req.auth, "Bearer sk-test");
    assert.deepEqual(req.body, {
      model: "qwen-0.5b",
      messages: [{ role: "user", content: "Say hello" }],
      max_tokens: 100,
      temperature: 0.7,
      top_p: 0.9,
      seed: 7,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  test("greedy request sends temperature 0 and reports length", async () => {
    mode = "normal";
    const engine = new OpenAIEngine({ baseUrl, models: ["llama-1b"] });
    await engine.load();
    const r = await engine.generate({ model: "llama-1b", prompt: "x", maxTokens: 3 }, () => {});
    assert.deepEqual(r, { text: "Hello, ", tokensIn: 11, tokensOut: 3, finishReason: "length" });
    assert.equal(seen.at(-1)!.body.temperature, 0);
    assert.equal("top_p" in seen.at(-1)!.body, false);
  });

  test("a stream without usage is an upstream error (no counts, no receipt)", async () => {
    mode = "no-usage";
    const engine = new OpenAIEngine({ baseUrl, models: ["llama-1b"] });
    await engine.load();
    await assert.rejects(engine.generate({ model: "llama-1b", prompt: "x", maxTokens: 5 }, () => {}), (e) => e instanceof EngineError && e.code === "upstream");
  });

  test("HTTP errors and unknown models are typed errors", async () => {
    mode = "http-500";
    const engine = new OpenAIEngine({ baseUrl, models: ["llama-1b"] });
    await engine.load();
    await assert.rejects(engine.generate({ model: "llama-1b", prompt: "x", maxTokens: 5 }, () => {}), (e) => e instanceof EngineError && e.code === "upstream" && /500/.test(e.message));
    await assert.rejects(engine.generate({ model: "nope", prompt: "x", maxTokens: 5 }, () => {}), (e) => e instanceof EngineError && e.code === "unknown-model");
  });

  test("abort mid-stream returns what arrived", async () => {
    mode = "slow";
    const engine = new OpenAIEngine({ baseUrl, models: ["llama-1b"] });
    await engine.load();
    const ac = new AbortController();
    const chunks: string[] = [];
    const r = await engine.generate({ model: "llama-1b", prompt: "x", maxTokens: 100, signal: ac.signal }, (t) => {
      chunks.push(t);
      if (chunks.length === 2) ac.abort();
    });
    assert.equal(r.finishReason, "abort");
    assert.equal(r.text, "Hello");
    assert.equal(r.tokensOut, 2);
  });
});
