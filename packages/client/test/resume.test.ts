// An answer survives the agent–matchmaker socket being cut mid-stream (issue 13 item 6): on the
// real local cooperative with the real agent and the bundled model, the matchmaker cuts the
// agent's socket (as a network fault would, no close handshake) right after the first piece of
// the answer reached the requester. The agent reconnects, registers again (challenge-signed, same
// machine key) and resumes the job from its last acknowledged frame: the requester's one stream
// carries the same text as an uncut run with the same seed, and one receipt is settled, once.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { listRecords } from "@cocore/atproto";
import type { JobInput, StreamEvent } from "../src/index.ts";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";

const MODEL_FILE = new URL("../../../models/fortunes-char.gguf", import.meta.url).pathname;

describe("resume after the agent's socket is cut mid-answer", { skip: existsSync(MODEL_FILE) ? false : `bundled model missing (${MODEL_FILE})` }, () => {
  let coop: Cooperative;
  const lines: string[] = [];

  before(async () => {
    coop = await startCooperative({ requesters: ["alice"], engine: "llama", log: (l) => lines.push(l) });
  });
  after(async () => {
    await coop?.close();
  });

  test("cut after the first piece: the same answer as an uncut run with the same seed, one receipt, one settlement", async () => {
    const alice = coop.clientFor(coop.accounts.requesters[0]!);
    const requester = coop.accounts.requesters[0]!.did;
    const input: JobInput = { prompt: "Tell me a long fortune.", maxTokens: 400, temperatureMilli: 900, seed: 1234 };
    const uncut = await alice.run(input, { model: coop.model });
    await alice.waitForSettlement(uncut.receipt.uri, { timeoutMs: 60_000 });
    const before = await coop.exchange.account(requester);
    const settledBefore = (await alice.settlements(requester)).length;

    const events: StreamEvent[] = [];
    let machineId = "";
    let cut = false;
    for await (const e of alice.stream(input, { model: coop.model })) {
      events.push(e);
      if (e.type === "dispatched") machineId = e.machineId;
      if (e.type === "chunk" && !cut) {
        cut = true;
        assert.equal(coop.matchmaker.disconnectMachine(machineId), true, "the agent's socket was there to cut");
      }
    }
    const done = events.at(-1)!;
    assert.ok(done.type === "done", `the answer completed: ${events.map((e) => e.type).join(",")}`);
    const result = done.result;
    assert.ok(lines.some((l) => l.includes(`job ${result.job.uri} resumed after seq`)), "the job was resumed on a new session: the cut came before its end");
    const streamed = events.flatMap((e) => (e.type === "chunk" ? [e.text] : [])).join("");
    assert.equal(streamed, result.text);
    assert.equal(result.text, uncut.text, "byte-identical to the uncut run");
    assert.equal(result.outputMatches, true, "the receipt's outputCommitment is over what was streamed");
    assert.equal(result.cipherMatches, true, "the sealed frames relayed are the ones the provider signed for, each once, in order");
    const verdict = await alice.verify(result);
    assert.deepEqual(verdict.findings, []);

    const receipts = await listRecords(coop.accounts.provider.agent, coop.accounts.provider.did, "dev.cocore.compute.receipt");
    assert.equal(receipts.filter((r) => (r.value as { job?: { uri?: string } }).job?.uri === result.job.uri).length, 1, "exactly one receipt for the job");
    const settlement = await alice.waitForSettlement(result.receipt.uri, { timeoutMs: 60_000 });
    assert.equal(settlement.amountCharged, result.price.amount);
    assert.equal((await alice.settlements(requester)).length, settledBefore + 1, "exactly one settlement");
    const afterAcct = await coop.exchange.account(requester);
    assert.equal(afterAcct.balance, before.balance - result.price.amount, "charged once");
    assert.equal(afterAcct.held, before.held, "no hold left behind");
  });
});
