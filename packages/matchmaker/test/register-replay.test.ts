// The attack: someone on the path captures a real agent's signed `register` and replays it on a
// connection of their own, hoping to take over the machine (and its jobs) and push the real agent
// out. The matchmaker opens every connection with a fresh challenge and the register must answer
// it, so the replay — signed, unexpired, by the right key — answers another connection's nonce:
// refused `challenge_mismatch`, closed with that reason, and the real agent keeps its connection
// and keeps serving. Real PLC, PDS, exchange, matchmaker and agent; the eavesdropper is a
// WebSocket relay between the agent and the matchmaker.
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { startAgent, type RunningAgent } from "@cocore/agent";
import { startCooperative, waitUntil, type Cooperative } from "../../cli/src/cooperative.ts";

describe("a replayed register is refused and leaves the real agent alone", () => {
  let coop: Cooperative;
  let relay: WebSocketServer;
  let agent: RunningAgent;
  const captured: string[] = [];

  before(async () => {
    coop = await startCooperative({ requesters: ["alice"], engine: "stub" });
    relay = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise<void>((r) => relay.once("listening", () => r()));
    relay.on("connection", (down) => {
      const up = new WebSocket(coop.matchmaker.url.replace(/^http/, "ws") + "/v1/agent");
      const early: string[] = [];
      down.on("message", (d) => {
        const text = d.toString();
        if ((JSON.parse(text) as { type: string }).type === "register") captured.push(text);
        if (up.readyState === up.OPEN) up.send(text);
        else early.push(text);
      });
      up.on("open", () => early.splice(0).forEach((t) => up.send(t)));
      up.on("message", (d) => down.send(d.toString()));
      up.on("close", () => down.close());
      down.on("close", () => up.close());
    });
    const port = (relay.address() as { port: number }).port;
    const acct = await coop.network.createAccount("victim");
    agent = await startAgent({
      pds: coop.network.pdsUrl, handle: acct.handle, password: acct.password, stateDir: join(await mkdtemp(join(tmpdir(), "cocore-replay-")), "agent"),
      engine: "stub", matchmaker: `ws://127.0.0.1:${port}/v1/agent`, exchange: coop.exchange.did, plc: coop.network.plcUrl, log: () => {},
    });
    await waitUntil(() => coop.matchmaker.registry.get(agent.rkey) !== undefined, 30_000, "the victim to register");
  });
  after(async () => {
    await agent?.stop();
    relay?.close();
    await coop?.close();
  });

  test("the captured register, replayed at once on a new connection, is refused by name", async () => {
    assert.equal(captured.length, 1, "the eavesdropper holds the agent's register");
    const before = coop.matchmaker.registry.get(agent.rkey)!.connectionId;
    const ws = new WebSocket(coop.matchmaker.url.replace(/^http/, "ws") + "/v1/agent");
    const answers: Array<{ type: string; code?: string }> = [];
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on("message", (d) => {
      const msg = JSON.parse(d.toString()) as { type: string; code?: string };
      answers.push(msg);
      // Answer the challenge with the captured register, whatever the challenge says.
      if (msg.type === "challenge") ws.send(captured[0]!);
    });
    assert.deepEqual(await closed, { code: 4003, reason: "challenge_mismatch" });
    assert.deepEqual(answers.map((a) => a.code ?? a.type), ["challenge", "challenge_mismatch"]);
    const now = coop.matchmaker.registry.get(agent.rkey);
    assert.equal(now?.connectionId, before, "the real agent's connection is the one registered");
    assert.equal(agent.matchmakerConnected, true);
  });

  test("the real agent keeps serving", async () => {
    const client = coop.clientFor(coop.accounts.requesters[0]!);
    const result = await client.run("Tell me a fortune.", { model: "stub", maxTokens: 4, acceptedProviders: [agent.did] });
    assert.equal(result.provider, agent.did);
    assert.equal(result.machineId, agent.rkey);
  });
});
