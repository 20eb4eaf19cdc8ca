// Jobs that survive a provider dropping (issue 13 item 6): two real provider agents, each its own
// `cocore agent serve` process with the bundled model, on a real cooperative. The machine the
// job is sealed to is killed (SIGKILL) after the job reached it and before its first token: the
// answer comes from the other provider, as a new job record sealed to it, with one receipt, one
// charge, and the abandoned job's hold released.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import type { Account } from "@cocore/atproto";
import { activeFor } from "@cocore/matchmaker";
import type { StreamEvent } from "../src/index.ts";
import { startCooperative, waitUntil, type Cooperative } from "../../cli/src/cooperative.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MODEL_FILE = join(ROOT, "models/fortunes-char.gguf");
const MODEL = "fortunes-char";

interface ChildAgent {
  account: Account;
  child: ChildProcess;
  exited: Promise<void>;
  machineId(): string | undefined;
}

describe("re-dispatch before the first token", { skip: existsSync(MODEL_FILE) ? false : `bundled model missing (${MODEL_FILE})` }, () => {
  let coop: Cooperative;
  const children: ChildAgent[] = [];

  // A provider agent in its own process, so that it can be frozen and killed like a real machine.
  async function childAgent(handle: string): Promise<ChildAgent> {
    const account = await coop.network.createAccount(handle);
    const child = spawn(
      process.execPath,
      [
        join(ROOT, "packages/cli/bin/cocore.mjs"), "agent", "serve", "--pds", coop.network.pdsUrl, "--handle", account.handle,
        "--state-dir", join(coop.stateDir, `agent-${handle}`), "--engine", "llama", "--matchmaker", coop.matchmaker.url,
        "--exchange", coop.exchange.did, "--plc", coop.network.plcUrl, "--json",
      ],
      { env: { ...process.env, COCORE_AGENT_PASSWORD: account.password }, stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr!.resume();
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const a: ChildAgent = {
      account, child, exited,
      machineId: () => coop.matchmaker.registry.all().find((m) => m.provider === account.did && m.models.includes(MODEL))?.machineId,
    };
    children.push(a);
    await waitUntil(() => a.machineId() !== undefined, 90_000, `agent ${handle} to register`);
    return a;
  }

  before(async () => {
    // The cooperative's own agent serves only the stub model: the two below are the only machines for MODEL.
    coop = await startCooperative({ requesters: ["alice"], engine: "stub" });
    await Promise.all([childAgent("first"), childAgent("second")]);
  });
  after(async () => {
    for (const c of children) {
      if (c.child.exitCode === null && c.child.signalCode === null) {
        c.child.kill("SIGKILL");
        await c.exited;
      }
    }
    await coop?.close();
  });

  test("the machine killed before its first token: the answer comes from the other provider, one receipt, one charge", async () => {
    const alice = coop.clientFor(coop.accounts.requesters[0]!);
    const requester = coop.accounts.requesters[0]!.did;
    await alice.balance();
    const before = await coop.exchange.account(requester);
    const settledBefore = (await alice.settlements(requester)).length;
    // Both frozen: whichever the job is sealed to takes it and cannot answer before it is killed.
    for (const c of children) c.child.kill("SIGSTOP");
    const events: StreamEvent[] = [];
    let victim: ChildAgent | undefined;
    let killed: Promise<void> | undefined;
    for await (const e of alice.stream("Tell me a fortune.", { model: MODEL, maxTokens: 16 })) {
      events.push(e);
      if (e.type === "submitted" && !victim) {
        victim = children.find((c) => c.machineId() === e.offer.machineId)!;
        assert.ok(victim, "the job was sealed to one of the two machines");
        for (const c of children) if (c !== victim) c.child.kill("SIGCONT");
        const entry = coop.matchmaker.registry.get(e.offer.machineId)!;
        // Killed once the matchmaker has sent it the job (its slot is taken), before any token.
        killed = waitUntil(() => activeFor(entry, MODEL) > 0, 30_000, "the job to reach the first machine").then(() => {
          victim!.child.kill("SIGKILL");
          return victim!.exited;
        });
      }
    }
    await killed;
    const types = events.map((e) => e.type);
    assert.equal(types.filter((t) => t === "submitted").length, 2, `two job records written: ${types.join(",")}`);
    const redispatched = events.find((e) => e.type === "redispatched");
    assert.ok(redispatched && redispatched.type === "redispatched" && redispatched.attempt === 2, `a redispatched event: ${types.join(",")}`);
    assert.ok(!events.slice(0, types.indexOf("redispatched")).some((e) => e.type === "chunk"), "the first machine produced nothing");
    const done = events.at(-1)!;
    assert.ok(done.type === "done");
    const result = done.result;
    const survivor = children.find((c) => c !== victim)!;
    assert.equal(result.provider, survivor.account.did, "the answer came from the other provider");
    assert.equal(result.attempt, 2);
    assert.deepEqual(result.jobRecord.acceptedProviders, [survivor.account.did], "the new job record names the new provider");
    const firstJob = (events[0] as Extract<StreamEvent, { type: "submitted" }>).job;
    assert.notEqual(result.job.uri, firstJob.uri, "a new job record (the old one's commitment binds the old key)");
    assert.ok(result.text.length > 0);
    const verdict = await alice.verify(result);
    assert.deepEqual(verdict.findings, []);
    const settlement = await alice.waitForSettlement(result.receipt.uri, { timeoutMs: 60_000 });
    assert.equal(settlement.amountCharged, result.price.amount);
    const settled = await alice.settlements(requester);
    assert.equal(settled.length, settledBefore + 1, "exactly one receipt settled");
    const afterAcct = await coop.exchange.account(requester);
    assert.equal(afterAcct.balance, before.balance - result.price.amount, "charged once, for the attempt that answered");
    assert.equal(afterAcct.held, before.held, "the abandoned attempt's hold was released");
  });
});
