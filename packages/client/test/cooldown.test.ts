// A crash-looping provider is cooled down and not routed to (issue 13 item 6): a real provider
// agent, its own `cocore agent serve` process, that crashes (SIGKILL) right after each register —
// or on each job it is given — and is restarted in a loop, on a real cooperative whose own agent
// is the healthy provider. After three crashes in a row the matchmaker cools the machine:
// restarted and connected, it is not offered, jobs go to the healthy provider, and GET /v1/status
// says until when. Once the cooling is over (the matchmaker's cool-down clock is moved past it
// rather than waited for) it is routed to again, and the job it serves forgets its failures.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import type { Account } from "@cocore/atproto";
import { activeFor, type MatchmakerStatus } from "@cocore/matchmaker";
import { ClientError } from "../src/index.ts";
import { startCooperative, waitUntil, type Cooperative } from "../../cli/src/cooperative.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MODEL = "stub";
const COOLING_MS = 10 * 60_000;

describe("a crash-looping provider is cooled down", () => {
  let coop: Cooperative;
  let crasher: Account;
  let skew = 0;
  let running: { child: ChildProcess; exited: Promise<void> } | undefined;

  const machineId = () => coop.matchmaker.registry.all().find((m) => m.provider === crasher.did && m.models.includes(MODEL))?.machineId;

  // The same state dir every time: a restarted agent comes back as the same machine (same keys).
  async function startCrasher(): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, "packages/cli/bin/cocore.mjs"), "agent", "serve", "--pds", coop.network.pdsUrl, "--handle", crasher.handle,
        "--state-dir", join(coop.stateDir, "agent-crasher"), "--engine", "stub", "--matchmaker", coop.matchmaker.url,
        "--exchange", coop.exchange.did, "--plc", coop.network.plcUrl, "--json",
      ],
      { env: { ...process.env, COCORE_AGENT_PASSWORD: crasher.password }, stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr!.resume();
    running = { child, exited: new Promise<void>((resolve) => child.on("exit", () => resolve())) };
    await waitUntil(() => machineId() !== undefined, 90_000, "the crashing agent to register");
  }

  async function crash(): Promise<void> {
    running!.child.kill("SIGKILL");
    await running!.exited;
    running = undefined;
    await waitUntil(() => machineId() === undefined, 30_000, "the matchmaker to see the crash");
  }

  function crasherCooldown(s: MatchmakerStatus) {
    return s.cooldowns.find((c) => c.provider === crasher.did && c.machineKey !== undefined);
  }

  before(async () => {
    coop = await startCooperative({
      requesters: ["alice"],
      engine: "stub",
      matchmakerCooldown: { threshold: 3, baseMs: COOLING_MS, maxMs: COOLING_MS },
      matchmakerCooldownClock: () => Date.now() + skew,
    });
    crasher = await coop.network.createAccount("crasher");
  });
  after(async () => {
    if (running) {
      running.child.kill("SIGKILL");
      await running.exited;
    }
    await coop?.close();
  });

  test("crashing right after each register: cooled, not routed to while it cools, routed to again after", async () => {
    const alice = coop.clientFor(coop.accounts.requesters[0]!);
    const healthy = coop.accounts.provider.did;
    for (let i = 0; i < 3; i++) {
      await startCrasher();
      await crash();
    }
    const cooled = crasherCooldown(coop.matchmaker.status());
    assert.equal(cooled?.failures, 3, JSON.stringify(coop.matchmaker.status().cooldowns));
    assert.ok(cooled?.coolingUntil && Date.parse(cooled.coolingUntil) > Date.now());

    // Back up and staying up, but still cooling: connected, never offered, jobs go to the healthy provider.
    await startCrasher();
    const id = machineId()!;
    const shown = (await (await fetch(`${coop.matchmaker.url}/v1/status`)).json()) as MatchmakerStatus;
    assert.equal(crasherCooldown(shown)?.machineId, id, "GET /v1/status names the cooling machine");
    assert.equal(crasherCooldown(shown)?.coolingUntil, cooled.coolingUntil);
    for (let i = 0; i < 3; i++) {
      const r = await alice.run("Tell me a fortune.", { model: MODEL, maxTokens: 8 });
      assert.equal(r.provider, healthy, `job ${i + 1} went to the healthy provider`);
    }
    await assert.rejects(
      alice.offer(MODEL, { acceptedProviders: [crasher.did] }),
      (e: unknown) => e instanceof ClientError && e.code === "no_accepted_providers",
      "the cooling provider is not offered even when asked for by name",
    );
    assert.equal(coop.matchmaker.registry.get(id)?.active, 0, "no job reached it");

    // The cooling is over: it is routed to again, and serving a job forgets its failures.
    skew += COOLING_MS + 1;
    const r = await alice.run("Tell me a fortune.", { model: MODEL, maxTokens: 8, acceptedProviders: [crasher.did] });
    assert.equal(r.provider, crasher.did);
    assert.equal(r.machineId, id);
    assert.equal(crasherCooldown(coop.matchmaker.status()), undefined);
  });

  test("crashing on each job it is given: cooled after three, jobs go to the healthy provider, routed to again after", async () => {
    const alice = coop.clientFor(coop.accounts.requesters[0]!);
    const healthy = coop.accounts.provider.did;
    if (!running) await startCrasher();
    for (let i = 1; i <= 3; i++) {
      const entry = coop.matchmaker.registry.get(machineId()!)!;
      // Killed as soon as the matchmaker has sent it the job (its slot is taken), before any token.
      const killed = waitUntil(() => activeFor(entry, MODEL) > 0, 60_000, "the job to reach the crashing agent").then(crash);
      await assert.rejects(
        alice.run("Tell me a fortune.", { model: MODEL, maxTokens: 8, acceptedProviders: [crasher.did] }),
        (e: unknown) => e instanceof ClientError,
        `job ${i} fails with its provider`,
      );
      await killed;
      assert.equal(crasherCooldown(coop.matchmaker.status())?.failures, i, "one failure per crash");
      await startCrasher();
    }
    const id = machineId()!;
    const cooled = crasherCooldown(coop.matchmaker.status());
    assert.ok(cooled?.coolingUntil && Date.parse(cooled.coolingUntil) > Date.now() + skew, `cooling after three lost jobs: ${JSON.stringify(cooled)}`);
    await assert.rejects(
      alice.offer(MODEL, { acceptedProviders: [crasher.did] }),
      (e: unknown) => e instanceof ClientError && e.code === "no_accepted_providers",
    );
    for (let i = 0; i < 2; i++) assert.equal((await alice.run("Tell me a fortune.", { model: MODEL, maxTokens: 8 })).provider, healthy);
    assert.equal(coop.matchmaker.registry.get(id)?.active, 0, "no job reached it while it cooled");

    skew += COOLING_MS + 1;
    const r = await alice.run("Tell me a fortune.", { model: MODEL, maxTokens: 8, acceptedProviders: [crasher.did] });
    assert.equal(r.provider, crasher.did, "healthy again: routed to");
    assert.equal(crasherCooldown(coop.matchmaker.status()), undefined);
  });
});
