// The owner's `active: false` pauses a machine: it leaves the matchmaker (no jobs reach it; a
// requester is told no provider serves the model), its record stays; `active: true` brings it back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { getRecord, putRecord } from "@cocore/atproto";
import { ClientError } from "@cocore/client";
import { PROVIDER_COLLECTION } from "@cocore/agent";
import { startCooperative, waitUntil, type Cooperative } from "../../cli/src/cooperative.ts";

let coop: Cooperative;
before(async () => {
  coop = await startCooperative({ engine: "stub", agentPollMs: 200 });
});
after(async () => coop?.close());

/** The owner's edit, as the console makes it: read-modify-write, again if the agent wrote in between. */
async function setActive(active: boolean) {
  const { agent, provider } = coop.agent;
  for (let attempt = 1; ; attempt++) {
    const cur = (await getRecord(agent, coop.agent.did, PROVIDER_COLLECTION, provider.rkey!))!;
    try {
      await putRecord(coop.accounts.provider.agent, PROVIDER_COLLECTION, provider.rkey!, { ...cur.value, active }, { swapRecord: cur.cid });
      return;
    } catch (err) {
      if (attempt >= 5 || !/InvalidSwap/i.test(String((err as Error).message))) throw err;
    }
  }
}
const live = () => coop.matchmaker.registry.live(Date.now()).some((m) => m.provider === coop.agent.did);

test("active: false takes the machine off the matchmaker and keeps its record; active: true brings it back", async () => {
  const client = coop.clientFor(coop.accounts.requesters[0]!);
  assert.ok(live());
  await setActive(false);
  await waitUntil(() => !live() && coop.agent.paused, 10_000, "the agent to leave the matchmaker");
  await assert.rejects(client.run("hello", { model: coop.model, maxTokens: 8 }), (e: unknown) => e instanceof ClientError && e.code === "no_providers_for_model");
  const rec = await getRecord(coop.network.pdsUrl, coop.agent.did, PROVIDER_COLLECTION, coop.agent.rkey);
  assert.equal(rec?.value.active, false, "the owner's field is kept");
  assert.ok(Array.isArray(rec?.value.supportedModels), "the record is still the machine's");

  await setActive(true);
  await waitUntil(() => live() && !coop.agent.paused, 10_000, "the agent to rejoin the matchmaker");
  const r = await client.run("hello", { model: coop.model, maxTokens: 8 });
  assert.equal(r.provider, coop.agent.did);
});
