// No completed job loses its receipt: with the PDS unreachable (a proxy in front of it taken
// down) the signed receipt sits in the durable JSONL queue — surviving a re-open as after a
// restart — and reaches the PDS once it is back.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { getRecord, startLocalNetwork, type Account, type LocalNetwork } from "@cocore/atproto";
import { RECEIPT_QUEUE_FILE, ReceiptQueue, startAgent, type DoneMessage } from "@cocore/agent";
import { fakeLoader, makeJob, startProxy, tempDir, type Proxy } from "./support.ts";

describe("durable receipt queue", () => {
  let net: LocalNetwork;
  let provider: Account;
  let requester: Account;
  let proxy: Proxy;
  const tmp = tempDir("cocore-agent-queue-");

  before(async () => {
    net = await startLocalNetwork();
    provider = await net.createAccount("queue-provider");
    requester = await net.createAccount("queue-requester");
    proxy = await startProxy(Number(new URL(net.pdsUrl).port));
  });
  after(async () => {
    await proxy?.close();
    await net?.close();
    tmp.cleanup();
  });

  it("queues a receipt while the PDS is down and writes it when it is back", async () => {
    const agent = await startAgent({
      pds: proxy.url,
      handle: provider.handle,
      password: provider.password,
      stateDir: tmp.dir,
      engine: "llama",
      modelId: "tiny",
      engineLoader: fakeLoader(["tiny"]),
      receiptRetryMs: 3_600_000, // the test drives the retry itself
      log: () => {},
    });
    try {
      const fx = await makeJob(
        { agent: requester.agent, did: requester.did },
        { exchange: "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb", encryptionPubKey: Buffer.from(agent.state.encryption.publicKey).toString("base64"), input: { prompt: "hi" }, model: "tiny" },
      );
      await proxy.down();
      const sent: Array<Record<string, unknown>> = [];
      await agent.handleJob(fx.msg, (m) => sent.push(m as Record<string, unknown>));
      const done = sent.find((m) => m.type === "done") as unknown as DoneMessage | undefined;
      assert.ok(done, JSON.stringify(sent));
      assert.equal(done.receipt.written, false);
      assert.equal(agent.queue.size, 1);
      const rkey = done.receipt.uri.split("/").pop()!;
      assert.equal(await getRecord(net.pdsUrl, provider.did, "dev.cocore.compute.receipt", rkey), null);

      // Durable: a fresh process opening the same file finds the receipt still owed.
      const path = join(tmp.dir, RECEIPT_QUEUE_FILE);
      assert.match(readFileSync(path, "utf8"), new RegExp(rkey));
      assert.deepEqual(
        ReceiptQueue.open(path).list().map((q) => q.rkey),
        [rkey],
      );

      await agent.flushReceipts();
      assert.equal(agent.queue.size, 1, "still down: still queued");

      await proxy.up();
      await agent.flushReceipts();
      assert.equal(agent.queue.size, 0);
      const written = await getRecord(net.pdsUrl, provider.did, "dev.cocore.compute.receipt", rkey);
      assert.ok(written);
      assert.equal(written.cid, done.receipt.cid);
      assert.equal(ReceiptQueue.open(path).size, 0, "the queue file records the write");
    } finally {
      await proxy.up().catch(() => {});
      await agent.stop();
    }
  });
});
