// A long prefill through the OpenAI-compatible API keeps the SSE stream alive: on a real
// cooperative, a provider agent with the openai engine in front of a loopback upstream that says
// nothing until told to (a prompt that takes long to read). While it is silent the matchmaker
// sends `keepalive` lines, and the gateway passes them on as SSE comments, which OpenAI clients
// skip; then the answer streams as usual.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startAgent, type RunningAgent } from "@cocore/agent";
import { startCooperative, waitUntil, type Cooperative } from "../../cli/src/cooperative.ts";

const MODEL = "slow-prefill";

/** An OpenAI-compatible upstream; completions asked while `holding` wait for `release()`. */
async function slowUpstream(): Promise<{ url: string; holding: boolean; held: number; release(): void; close(): Promise<void> }> {
  const waiting: Array<() => void> = [];
  let server: Server;
  const up = {
    url: "",
    holding: false,
    held: 0,
    release: () => {
      up.holding = false;
      for (const go of waiting.splice(0)) go();
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
  const answer = (res: ServerResponse, model: string) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
    send({ choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }] });
    for (const w of ["After ", "a long ", "read."]) send({ id: "c1", model, choices: [{ index: 0, delta: { content: w }, finish_reason: null }] });
    send({ id: "c1", model, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
    send({ id: "c1", choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } });
    res.end("data: [DONE]\n\n");
  };
  server = createServer(async (req: IncomingMessage, res) => {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    if (req.url === "/v1/models") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: [{ id: MODEL, object: "model" }] }));
    if (req.url !== "/v1/chat/completions") return void res.writeHead(404).end();
    if (!up.holding) return answer(res, MODEL);
    up.held += 1;
    waiting.push(() => answer(res, MODEL));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return up;
}

describe("SSE keepalive through a long prefill", () => {
  let coop: Cooperative;
  let upstream: Awaited<ReturnType<typeof slowUpstream>>;
  let provider: RunningAgent;

  before(async () => {
    upstream = await slowUpstream();
    coop = await startCooperative({ requesters: ["alice"], engine: "stub", gateway: true, matchmakerStreamKeepaliveMs: 100 });
    const account = await coop.network.createAccount("slowprov");
    provider = await startAgent({
      pds: coop.network.pdsUrl, handle: account.handle, password: account.password, stateDir: join(coop.stateDir, "agent-slow"),
      engine: "openai", openaiBase: upstream.url, modelId: MODEL, matchmaker: coop.matchmaker.url, exchange: coop.exchange.did,
      plc: coop.network.plcUrl, log: () => {},
    });
    await waitUntil(() => coop.matchmaker.registry.live(Date.now()).some((m) => m.models.includes(MODEL)), 60_000, "the openai-engine agent to register");
  });
  after(async () => {
    upstream?.release();
    await provider?.stop();
    await coop?.close();
    await upstream?.close();
  });

  test("SSE comments keep the stream busy while the upstream is silent; the answer follows", async () => {
    upstream.holding = true;
    const key = coop.apiKeys.get(coop.accounts.requesters[0]!.did)!;
    const res = await fetch(`${coop.gateway!.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Read this long document." }], max_tokens: 8, stream: true }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      // Two keepalives while the upstream holds the prompt: long enough; now it answers.
      if (upstream.holding && upstream.held > 0 && text.split(": keepalive\n\n").length > 2) upstream.release();
    }
    const firstKeepalive = text.indexOf(": keepalive\n\n");
    const firstContent = text.indexOf('"content":"After ');
    assert.ok(firstKeepalive >= 0, `an SSE keepalive comment: ${text}`);
    assert.ok(firstContent > firstKeepalive, "the keepalives came during the silence, before the answer");
    assert.ok(text.trimEnd().endsWith("data: [DONE]"));
    // What an OpenAI client reads: the data events only, with the whole answer.
    const content = text.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)) as { choices?: Array<{ delta?: { content?: string } }> })
      .map((e) => e.choices?.[0]?.delta?.content ?? "").join("");
    assert.equal(content, "After a long read.");
  });
});
