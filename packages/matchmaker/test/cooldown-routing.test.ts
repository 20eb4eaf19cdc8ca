// The cool-down in the running matchmaker (src/cooldown.ts, registry.ts, agents.ts): a machine that
// registers and drops again in a loop is not offered or routed to while it cools, GET /v1/status
// says until when, and once the cooling is over (the cool-down's clock moved, not waited for) it
// is routed to again and a served job forgets its failures. Also the keepalives: a peer that stops
// answering pings is dropped (and counted), and a dispatch stream quiet through a long prefill
// gets `keepalive` lines.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { generateEncryptionKeyPair, generateSigningKey } from "@cocore/protocol";
import type { Matchmaker, MatchmakerStatus } from "../src/index.ts";
import { fakeAgent, fakeExchange, startTestMatchmaker, makeDispatch, postDispatch, waitFor, type FakeAgent, type FakeAgentOptions, type FakeExchange } from "./support.ts";

const MODEL = "m-cool";
const BASE_MS = 60_000;

describe("cool-down of a crash-looping machine", () => {
  let fx: FakeExchange;
  let mm: Matchmaker;
  let skew = 0;
  const agents: FakeAgent[] = [];

  before(async () => {
    fx = await fakeExchange();
    mm = await startTestMatchmaker(fx, {
      cooldown: { threshold: 3, baseMs: BASE_MS, maxMs: 8 * BASE_MS },
      cooldownClock: () => Date.now() + skew,
      heartbeatIntervalMs: 200,
      staleAfterMs: 600,
      streamKeepaliveMs: 50,
    });
  });
  after(async () => {
    for (const a of agents) a.close();
    await mm.close();
    await fx.close();
  });

  async function agent(opts: FakeAgentOptions): Promise<FakeAgent> {
    const a = fakeAgent(mm.url, { models: [MODEL], ...opts });
    agents.push(a);
    await a.registered;
    return a;
  }

  async function status(): Promise<MatchmakerStatus> {
    return (await (await fetch(`${mm.url}/v1/status`)).json()) as MatchmakerStatus;
  }

  async function offer(): Promise<string | undefined> {
    const res = await fetch(`${mm.url}/v1/offer?model=${MODEL}`);
    return ((await res.json()) as { offer?: { machineId: string } }).offer?.machineId;
  }

  test("register churn cools the machine; jobs go to the healthy one; after the cooling it is routed to again", async () => {
    const healthy = await agent({ provider: "did:plc:healthy00000000000000000" });
    // The same machine (key, id, encryption key) each time it comes back, as a restarted agent is.
    const crasher: FakeAgentOptions = {
      provider: "did:plc:crasher00000000000000000", machineId: "crasher-machine", signingKey: generateSigningKey(), encryption: generateEncryptionKeyPair(),
    };
    for (let i = 1; i <= 3; i++) {
      const a = await agent(crasher);
      a.close();
      await waitFor(() => mm.registry.get("crasher-machine")?.connectionId === undefined, "the drop to be seen");
    }
    const back = await agent(crasher);
    assert.ok(mm.registry.get(back.machineId), "the cooling machine is connected and registered");
    const entry = (await status()).cooldowns.find((c) => c.provider === crasher.provider && c.machineKey !== undefined);
    assert.equal(entry?.failures, 3);
    assert.equal(entry?.machineId, back.machineId);
    assert.ok(entry?.coolingUntil && Date.parse(entry.coolingUntil) > Date.now(), `cooling: ${JSON.stringify(entry)}`);
    assert.equal(await offer(), healthy.machineId, "a cooling machine is not offered");
    const sealedToCrasher = await postDispatch(mm.url, makeDispatch(back.encryption.publicKey, { model: MODEL }));
    assert.equal(sealedToCrasher.status, 503);
    assert.equal(sealedToCrasher.error?.code, "provider_unavailable", "a job sealed to it is not routed to it");
    assert.equal(back.jobs.length, 0);
    const served = await postDispatch(mm.url, makeDispatch(healthy.encryption.publicKey, { model: MODEL }));
    assert.equal(served.events.at(-1)?.type, "done");

    // The cooling is over (its clock moved past it): the machine is routed to, and a served job forgets its failures.
    skew += BASE_MS + 1;
    const r = await postDispatch(mm.url, makeDispatch(back.encryption.publicKey, { model: MODEL }));
    assert.equal(r.events.at(-1)?.type, "done", JSON.stringify(r.error ?? r.events.at(-1)));
    assert.equal(back.jobs.length, 1);
    assert.deepEqual((await status()).cooldowns.filter((c) => c.provider === crasher.provider), []);
  });

  test("one more failure after a cooling escalates it (doubled), where a quiet period would have started over", async () => {
    const crasher: FakeAgentOptions = {
      provider: "did:plc:escalate0000000000000000", machineId: "escalating-machine", signingKey: generateSigningKey(), encryption: generateEncryptionKeyPair(),
    };
    for (let i = 1; i <= 3; i++) {
      (await agent(crasher)).close();
      await waitFor(() => mm.registry.get("escalating-machine") === undefined, "the drop to be seen");
    }
    skew += BASE_MS + 1;
    const before = Date.now() + skew;
    (await agent(crasher)).close();
    await waitFor(() => mm.registry.get("escalating-machine") === undefined, "the drop to be seen");
    const entry = (await status()).cooldowns.find((c) => c.provider === crasher.provider && c.machineKey !== undefined)!;
    assert.equal(entry.failures, 4);
    assert.ok(Date.parse(entry.coolingUntil!) >= before + 2 * BASE_MS, `doubled: ${entry.coolingUntil}`);
  });

  test("a peer that stops answering pings is dropped, and that counts as a failure", async () => {
    const hung = await agent({ provider: "did:plc:hung0000000000000000000000", answerPings: false });
    await waitFor(() => mm.registry.get(hung.machineId) === undefined, "the hung peer to be dropped");
    await waitFor(() => hung.ws.readyState === hung.ws.CLOSED, "its socket to be closed");
    const entry = (await status()).cooldowns.find((c) => c.provider === hung.provider && c.machineKey !== undefined);
    assert.equal(entry?.failures, 1);
  });

  test("a dispatch stream quiet through a long prefill gets keepalive lines, then the answer", async () => {
    const slow = await agent({ provider: "did:plc:slow0000000000000000000000", behaviour: "hold" });
    const req = makeDispatch(slow.encryption.publicKey, { model: MODEL });
    const res = await fetch(`${mm.url}/v1/dispatch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(req) });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const types: string[] = [];
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines.filter(Boolean)) types.push((JSON.parse(l) as { type: string }).type);
      // Two keepalives after `dispatched`: the prefill is long; now the agent answers.
      if (types.filter((t) => t === "keepalive").length >= 2 && slow.jobs.length === 1) slow.serve(req.job.uri);
    }
    const at = types.indexOf("dispatched");
    assert.ok(at >= 0 && types.indexOf("keepalive", at) > at, types.join(","));
    assert.equal(types.at(-1), "done");
    assert.ok(types.includes("chunk"));
  });
});
