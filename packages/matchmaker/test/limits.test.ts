// The matchmaker's abuse limits, attacked on a real matchmaker (scripted exchange, agents on the
// real wire protocol): a burst from one address, a burst from one requester DID, a requester
// holding too many jobs at once, a DID spoofed to use up someone else's budget, bodies over the
// cap (declared and streamed) and an agent message over the socket's cap. Refused dispatches are
// never admitted, never sent to an agent, and leave nothing held.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, describe, test } from "node:test";
import WebSocket from "ws";
import type { Matchmaker } from "../src/index.ts";
import type { MatchmakerLimits } from "../src/limits.ts";
import { fakeAgent, fakeExchange, startTestMatchmaker, makeDispatch, postDispatch, waitFor, type FakeAgent, type FakeExchange } from "./support.ts";

// No refill within a test: what is spent stays spent.
const SLOW = 0.001;
const ROOMY = { burst: 10_000, perSecond: 1_000 };

describe("matchmaker abuse limits", () => {
  const open: Array<{ mm: Matchmaker; fx: FakeExchange; agents: FakeAgent[] }> = [];
  after(async () => {
    for (const o of open) {
      for (const a of o.agents) a.close();
      await o.mm.close();
      await o.fx.close();
    }
  });

  async function setup(limits: Partial<MatchmakerLimits>, agentOpts: Parameters<typeof fakeAgent>[1] = {}) {
    const fx = await fakeExchange();
    const mm = await startTestMatchmaker(fx, {
      heartbeatIntervalMs: 200,
      timeouts: { acceptMs: 5_000, firstChunkMs: 5_000, idleMs: 5_000, reconnectGraceMs: 500 },
      limits,
    });
    const agent = fakeAgent(mm.url, agentOpts);
    open.push({ mm, fx, agents: [agent] });
    await agent.registered;
    return { fx, mm, agent };
  }

  test("a burst from one address: 429 rate_limit_exceeded with Retry-After once its budget is spent, before the body is read", async () => {
    const { fx, mm, agent } = await setup({ perIp: { burst: 3, perSecond: SLOW } });
    for (let i = 0; i < 3; i++) assert.equal((await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey))).status, 200);
    const res = await fetch(`${mm.url}/v1/dispatch`, { method: "POST", body: JSON.stringify(makeDispatch(agent.encryption.publicKey)) });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get("retry-after")) >= 1, "Retry-After in seconds");
    const body = (await res.json()) as { error: { code: string; retryAfterMs: number } };
    assert.equal(body.error.code, "rate_limit_exceeded");
    assert.ok(body.error.retryAfterMs >= 1000);
    // Garbage counts as much as a job: the door comes before the body.
    assert.equal((await fetch(`${mm.url}/v1/dispatch`, { method: "POST", body: "not json" })).status, 429);
    assert.equal(fx.admits.length, 3, "nothing admitted for the refused dispatches");
    assert.equal(agent.jobs.length, 3, "nothing sent to the agent");
  });

  test("a burst from one requester DID: refused once its proven jobs spent its budget; other requesters go on", async () => {
    const { fx, mm, agent } = await setup({ perIp: ROOMY, perRequester: { burst: 2, perSecond: SLOW } });
    const alice = "did:plc:alice000000000000000000";
    for (let i = 0; i < 2; i++) assert.equal((await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey, { requester: alice }))).status, 200);
    const r = await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey, { requester: alice }));
    assert.equal(r.status, 429);
    assert.equal(r.error?.code, "rate_limit_exceeded");
    assert.match(r.error!.message, /this requester/);
    assert.equal(fx.admits.length, 2, "the refused job was never put to the exchange");
    assert.equal(fx.releases.length, 0, "nothing held, nothing to release");
    assert.equal(agent.jobs.length, 2);
    const bob = await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey, { requester: "did:plc:bob00000000000000000000" }));
    assert.equal(bob.status, 200, JSON.stringify(bob.error));
  });

  test("jobs claiming a DID they cannot prove do not spend that DID's budget", async () => {
    const { fx, mm, agent } = await setup({ perIp: ROOMY, perRequester: { burst: 2, perSecond: SLOW } });
    const victim = "did:plc:victim00000000000000000";
    // The exchange finds no such job in the victim's repo: the attacker's dispatches are unproven.
    fx.decide = (input) =>
      input.requester === victim && (input.job as { uri: string }).uri.includes("/3forged")
        ? { status: 400, body: { error: "job_not_found", message: "no such job" } }
        : { status: 200, body: { admitted: true, holdKey: "h", balance: 100, available: 99 } };
    for (let i = 0; i < 5; i++) {
      const forged = makeDispatch(agent.encryption.publicKey, { requester: victim });
      const r = await postDispatch(mm.url, { ...forged, job: { ...forged.job, uri: forged.job.uri.replace(/\/[^/]+$/, `/3forged${i}`) } });
      assert.notEqual(r.status, 200);
      assert.notEqual(r.error?.code, "rate_limit_exceeded");
    }
    for (let i = 0; i < 2; i++) {
      const r = await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey, { requester: victim }));
      assert.equal(r.status, 200, `the victim's own job ${i + 1}: ${JSON.stringify(r.error)}`);
    }
  });

  test("one job at a time per requester: a second is refused while the first runs, and served after", async () => {
    const { fx, mm, agent } = await setup({ perIp: ROOMY, concurrentPerRequester: 1 }, { behaviour: "silent" });
    const carol = "did:plc:carol000000000000000000";
    const first = new AbortController();
    const running = fetch(`${mm.url}/v1/dispatch`, { method: "POST", body: JSON.stringify(makeDispatch(agent.encryption.publicKey, { requester: carol })), signal: first.signal }).catch(() => undefined);
    // `admitted` is sent once admission proved the DID, by when the job holds carol's one slot.
    await waitFor(() => agent.control.some((m) => m.type === "admitted"), "the first job to be admitted");
    const refused = await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey, { requester: carol }));
    assert.equal(refused.status, 429);
    assert.equal(refused.error?.code, "too_many_concurrent_requests");
    assert.equal(fx.admits.length, 1, "the refused job was never put to the exchange");
    assert.equal(agent.jobs.length, 1, "nor sent to the agent");
    first.abort();
    await running;
    agent.behaviour = "serve";
    let served: Awaited<ReturnType<typeof postDispatch>> | undefined;
    for (let i = 0; i < 50 && served?.status !== 200; i++) {
      served = await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey, { requester: carol }));
      if (served.status !== 200) {
        assert.equal(served.error?.code, "too_many_concurrent_requests");
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.equal(served?.status, 200, "the slot came back when the first job ended");
  });

  test("a body over the cap is 413 body_too_large, declared or streamed, and the matchmaker goes on serving", async () => {
    const { fx, mm, agent } = await setup({ perIp: ROOMY, maxBodyBytes: 4096 });
    const big = Buffer.from(JSON.stringify({ ...makeDispatch(agent.encryption.publicKey), padding: "x".repeat(8192) }));
    for (const chunked of [false, true]) {
      const r = await rawPost(`${mm.url}/v1/dispatch`, big, chunked);
      assert.equal(r.status, 413, `${chunked ? "streamed" : "declared"}: ${r.body}`);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, "body_too_large");
    }
    assert.equal(fx.admits.length, 0);
    assert.equal((await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey))).status, 200);
  });

  test("an agent message over the socket's cap closes the socket 1009 with a reason; the registry is untouched", async () => {
    const { mm } = await setup({ maxAgentMessageBytes: 1024 });
    const before = mm.registry.live(Date.now()).map((m) => m.machineId);
    const ws = new WebSocket(mm.url.replace(/^http/, "ws") + "/v1/agent");
    await new Promise<void>((resolve) => ws.once("message", () => resolve()));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.send(JSON.stringify({ type: "heartbeat", models: ["x".repeat(2048)] }));
    const { code, reason } = await closed;
    assert.equal(code, 1009);
    assert.match(reason, /^message_too_large: at most 1024 bytes/);
    assert.deepEqual(mm.registry.live(Date.now()).map((m) => m.machineId), before);
  });
});

/** A raw POST: `chunked` sends the body without a content-length. */
function rawPost(url: string, body: Buffer, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", ...(chunked ? {} : { "content-length": body.length }) } });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    if (chunked) for (let i = 0; i < body.length; i += 512) req.write(body.subarray(i, i + 512));
    else req.write(body);
    req.end();
  });
}
