// A machine that produces nothing, with another provider's machine live: the dispatch ends at
// once (no waiting out the reconnect grace for a machine that is not coming back) with the hold
// released and `redispatch: true`, and the offer a requester asks for next skips what it tried.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Matchmaker } from "../src/index.ts";
import { fakeAgent, fakeExchange, startTestMatchmaker, makeDispatch, postDispatch, type FakeAgent, type FakeExchange } from "./support.ts";

describe("re-dispatch to another provider", () => {
  let fx: FakeExchange;
  let mm: Matchmaker;
  const agents: FakeAgent[] = [];

  before(async () => {
    fx = await fakeExchange();
    mm = await startTestMatchmaker(fx, {
      // Long enough that a dispatch waiting out the grace would time the test out.
      timeouts: { acceptMs: 60_000, firstChunkMs: 60_000, idleMs: 60_000, reconnectGraceMs: 600_000 },
    });
  });
  after(async () => {
    for (const a of agents) a.close();
    await mm.close();
    await fx.close();
  });

  async function agent(opts: Parameters<typeof fakeAgent>[1]): Promise<FakeAgent> {
    const a = fakeAgent(mm.url, opts);
    agents.push(a);
    await a.registered;
    return a;
  }

  test("a drop before output with another provider live ends at once: redispatch, hold released", async () => {
    const a = await agent({ models: ["m-other"], behaviour: "drop-before-output", provider: "did:plc:dropper00000000000000000" });
    const b = await agent({ models: ["m-other"], provider: "did:plc:steady000000000000000000" });
    const releases = fx.releases.length;
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-other" }));
    const last = r.status === 200 ? r.events.at(-1) : { type: "error", ...r.error };
    assert.equal(last?.type, "error");
    assert.equal((last as { code: string }).code, "provider_lost");
    assert.equal((last as { redispatch?: boolean }).redispatch, true);
    assert.equal(fx.releases.length, releases + 1, "the abandoned attempt's hold is released");
    assert.equal(b.jobs.length, 0, "the other machine cannot open this prompt: it is never sent to it");
  });

  test("GET /v1/offer skips the machines a requester names in exclude, and says when none is left", async () => {
    const a = await agent({ models: ["m-exclude"] });
    const b = await agent({ models: ["m-exclude"] });
    const offer = async (exclude: string[]) => {
      const q = new URLSearchParams({ model: "m-exclude" });
      for (const m of exclude) q.append("exclude", m);
      const res = await fetch(`${mm.url}/v1/offer?${q}`);
      return { status: res.status, body: (await res.json()) as { offer?: { machineId: string }; error?: { code: string } } };
    };
    assert.equal((await offer([a.machineId])).body.offer?.machineId, b.machineId);
    assert.equal((await offer([b.machineId])).body.offer?.machineId, a.machineId);
    const none = await offer([a.machineId, b.machineId]);
    assert.equal(none.status, 503);
    assert.equal(none.body.error?.code, "no_other_providers");
  });
});
