// Bursts through the OpenAI-compatible API on a real cooperative (PDS, exchange, matchmaker, one
// agent with the bundled model), driven by the official `openai` client with no retries: the
// matchmaker's queue absorbs a burst of 100, shares the slot with a second requester, refuses
// beyond its bound with 429 queue_full, and lets a client that leaves while queued go uncharged.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { listRecords, type Account } from "@cocore/atproto";
import { CocoreClient } from "@cocore/client";
import { serviceAuthFromKeypair, startMatchmaker, type Matchmaker, type MatchmakerStatus, type QueueLimits } from "@cocore/matchmaker";
import { NSID } from "@cocore/protocol";
import { startCooperative, startLocalAgent, type Cooperative } from "../../cli/src/cooperative.ts";
import { KeyStore, startGateway } from "../src/index.ts";

const MODEL_FILE = new URL("../../../models/fortunes-char.gguf", import.meta.url).pathname;
type ApiError = InstanceType<typeof OpenAI.APIError>;

interface Answer {
  content: string;
  receipt: string;
  price: number;
  queuePosition: number;
}

async function ask(openai: OpenAI, model: string, prompt: string): Promise<Answer> {
  const { data, response } = await openai.chat.completions.create({ model, messages: [{ role: "user", content: prompt }], max_tokens: 6 }).withResponse();
  const cocore = (data as unknown as { cocore: { receipt: string; price: { amount: number } } }).cocore;
  assert.equal(cocore.price.amount, data.usage!.total_tokens, "TOK rate: the price is the tokens");
  return { content: data.choices[0]!.message.content ?? "", receipt: cocore.receipt, price: cocore.price.amount, queuePosition: Number(response.headers.get("x-cocore-queue-position")) };
}

/** A streaming request: resolves `joined` when its headers arrive (at once if queued), then the answer. */
async function askStreaming(openai: OpenAI, model: string, prompt: string, joined: (queuePosition: number) => void): Promise<Answer> {
  const { data: stream, response } = await openai.chat.completions.create({ model, messages: [{ role: "user", content: prompt }], max_tokens: 6, stream: true }).withResponse();
  const queuePosition = Number(response.headers.get("x-cocore-queue-position"));
  joined(queuePosition);
  let content = "";
  let cocore: { receipt: string; price: { amount: number } } | undefined;
  for await (const chunk of stream) {
    content += chunk.choices[0]?.delta?.content ?? "";
    cocore ??= (chunk as unknown as { cocore?: typeof cocore }).cocore;
  }
  assert.ok(cocore, "the last chunk carries the receipt");
  return { content, receipt: cocore.receipt, price: cocore.price.amount, queuePosition };
}

async function status(matchmakerUrl: string): Promise<MatchmakerStatus["models"][number] | undefined> {
  const s = (await (await fetch(`${matchmakerUrl}/v1/status`)).json()) as MatchmakerStatus;
  return s.models[0];
}

async function until(cond: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every receipt settled, with exactly one settlement record for it in the exchange's repo; returns the sum charged. */
async function settledOnce(coop: Cooperative, receipts: string[]): Promise<number> {
  assert.equal(new Set(receipts).size, receipts.length, "one receipt per answer");
  let charged = 0;
  for (const r of receipts) {
    const s = await coop.exchange.waitForSettlement(r, 30_000);
    assert.equal(s.status, "settled", `${r}: ${s.reason ?? ""}`);
    charged += s.charged!;
  }
  await coop.exchange.waitForPublished(30_000);
  const settlements = await listRecords(coop.accounts.exchange.agent, coop.exchange.did, NSID.settlement);
  const wanted = new Set(receipts);
  const counts = new Map<string, number>();
  for (const s of settlements) {
    const uri = (s.value.receipt as { uri: string }).uri;
    if (wanted.has(uri)) counts.set(uri, (counts.get(uri) ?? 0) + 1);
  }
  for (const r of receipts) assert.equal(counts.get(r), 1, `exactly one settlement for ${r}`);
  return charged;
}

/** Receipts in the provider's repo (both of its machines write there), counted per job uri. */
async function receiptsByJob(coop: Cooperative): Promise<Map<string, number>> {
  const receipts = await listRecords(coop.accounts.provider.agent, coop.accounts.provider.did, NSID.receipt);
  const byJob = new Map<string, number>();
  for (const r of receipts) {
    const job = (r.value.job as { uri: string }).uri;
    byJob.set(job, (byJob.get(job) ?? 0) + 1);
  }
  return byJob;
}

interface Side {
  mm: Matchmaker;
  openai: OpenAI;
  close(): Promise<void>;
}

/**
 * A further matchmaker on the cooperative (the identity its exchange admits for) with its own
 * queue bounds, its own agent for the provider, and a gateway over it for `requester`.
 */
async function side(coop: Cooperative, requester: Account, queue: Partial<QueueLimits>): Promise<Side> {
  const acct = coop.accounts.matchmaker;
  const mm = await startMatchmaker({
    did: acct.did,
    serviceAuth: serviceAuthFromKeypair(acct.did, await coop.network.signingKeypair(acct.did)),
    repo: acct.agent,
    exchange: { did: coop.exchange.did, url: coop.exchange.url },
    plcUrl: coop.network.plcUrl,
    queue,
    log: () => {},
  });
  const stateDir = await mkdtemp(`${tmpdir()}/cocore-queue-test-`);
  const { agent } = await startLocalAgent({
    opts: { engine: "llama" }, pdsUrl: coop.network.pdsUrl, plcUrl: coop.network.plcUrl, account: coop.accounts.provider,
    stateDir, matchmaker: mm, exchangeDid: coop.exchange.did, log: () => {},
  });
  const keys = new KeyStore();
  const key = keys.create(requester.did).key;
  const client = new CocoreClient({ agent: requester.agent, matchmakerUrl: mm.url, exchangeUrl: coop.exchange.url, exchangeDid: coop.exchange.did, plcUrl: coop.network.plcUrl });
  const gateway = await startGateway({ keys, clientFor: async () => client, models: () => client.models(), log: () => {} });
  return {
    mm,
    openai: new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 }),
    async close() {
      await gateway.close();
      await agent.stop();
      await mm.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

describe("a burst waits its turn", { skip: existsSync(MODEL_FILE) ? false : "bundled model missing" }, () => {
  let coop: Cooperative;
  const openaiFor = (a: Account) => new OpenAI({ apiKey: coop.apiKeys.get(a.did)!, baseURL: `${coop.gateway!.url}/v1`, maxRetries: 0 });

  before(async () => {
    coop = await startCooperative({ requesters: ["burst", "single", "bounded", "impatient"], engine: "llama", gateway: true });
    // First touches (grants) before measuring, so the deltas are the receipts' alone.
    for (const a of coop.accounts.requesters) await coop.exchange.touch(a.did);
  });
  after(async () => {
    await coop?.close();
  });

  test("100 concurrent requests through the gateway are all answered, each settled once; a second requester's one request does not wait for the burst", async () => {
    const [burst, single] = coop.accounts.requesters as [Account, Account];
    const before = { burst: await coop.exchange.account(burst.did), single: await coop.exchange.account(single.did) };
    const order: string[] = [];
    const burstOpenai = openaiFor(burst);
    const answers = Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        ask(burstOpenai, coop.model, `Fortune number ${i}.`).then((a) => {
          order.push("burst");
          return a;
        }),
      ),
    );
    // The burst is well under way: dozens of its jobs wait for the one slot.
    await until(async () => ((await status(coop.matchmaker.url))?.queued ?? 0) >= 40, "the burst to queue");
    let answeredWhenJoined = -1;
    const lone = await askStreaming(openaiFor(single), coop.model, "Just one fortune.", () => (answeredWhenJoined = order.length));
    order.push("single");
    const all = await answers;

    assert.equal(all.length, 100);
    for (const a of all) assert.ok(a.content.length > 0);
    assert.ok(all.some((a) => a.queuePosition > 1), "burst jobs waited in the queue");
    // Round-robin: the single job joins the line right behind the burst's next job, however many
    // of the burst's jobs wait — it waits for the one running and one more.
    assert.equal(lone.queuePosition, 2, "the single job found the slot busy and was placed next but one");
    const burstAnsweredMeanwhile = order.indexOf("single") - answeredWhenJoined;
    assert.ok(burstAnsweredMeanwhile <= 3, `${burstAnsweredMeanwhile} burst requests were answered while the single one waited`);
    assert.ok(order.indexOf("single") < 100, "answered before the burst had drained");

    const charged = await settledOnce(coop, all.map((a) => a.receipt));
    assert.equal(charged, all.reduce((n, a) => n + a.price, 0));
    const after = await coop.exchange.account(burst.did);
    assert.equal(after.balance, before.burst.balance - charged, "the balance moved by exactly the sum of the prices");
    assert.equal(after.held, 0, "no hold left");
    assert.equal(await settledOnce(coop, [lone.receipt]), lone.price);
    const single1 = await coop.exchange.account(single.did);
    assert.equal(single1.balance, before.single.balance - lone.price);
    assert.equal(single1.held, 0);
    const byJob = await receiptsByJob(coop);
    const jobs = await listRecords(burst.agent, burst.did, NSID.job);
    assert.equal(jobs.length, 100);
    for (const j of jobs) assert.equal(byJob.get(j.uri), 1, `exactly one receipt for ${j.uri}`);
  });

  describe("beyond the bounds", () => {
    const BOUND = 8;
    let bounded: Side;
    let impatient: Side;

    before(async () => {
      bounded = await side(coop, coop.accounts.requesters[2]!, { maxQueuedPerModel: BOUND });
      // Waits of 1 ms: a job that finds the slot busy times out before it can get it.
      impatient = await side(coop, coop.accounts.requesters[3]!, { maxWaitMs: 1 });
    });
    after(async () => {
      await bounded?.close();
      await impatient?.close();
    });

    test("a burst beyond the queue's bound: the excess is refused with 429 queue_full and a Retry-After, the rest answered", async () => {
      const requester = coop.accounts.requesters[2]!;
      const before = await coop.exchange.account(requester.did);
      const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => ask(bounded.openai, coop.model, `Overflow ${i}.`)));
      const served = outcomes.filter((o): o is PromiseFulfilledResult<Answer> => o.status === "fulfilled").map((o) => o.value);
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected").map((o) => o.reason as ApiError);
      assert.ok(refused.length > 0, "some of the burst found the queue full");
      assert.ok(served.length >= BOUND, `at least the queue's worth was served (${served.length})`);
      for (const e of refused) {
        assert.equal(e.status, 429, String(e));
        assert.equal(e.code, "queue_full");
        const retryAfter = e.headers?.get("retry-after");
        assert.match(retryAfter ?? "", /^[1-9][0-9]*$/, "Retry-After in whole seconds");
        assert.equal((e.error as { retry_after_ms?: number }).retry_after_ms, Number(retryAfter) * 1000);
      }
      const charged = await settledOnce(coop, served.map((a) => a.receipt));
      const after = await coop.exchange.account(requester.did);
      assert.equal(after.balance, before.balance - charged, "refused jobs cost nothing");
      assert.equal(after.held, 0, "and hold nothing");
    });

    test("a client that disconnects while queued leaves no hold and no job running", async () => {
      const requester = coop.accounts.requesters[2]!;
      const jobsBefore = new Set((await listRecords(requester.agent, requester.did, NSID.job)).map((j) => j.uri));
      const ahead = Promise.all(Array.from({ length: BOUND - 1 }, (_, i) => ask(bounded.openai, coop.model, `Ahead ${i}.`)));
      await until(async () => ((await status(bounded.mm.url))?.queued ?? 0) >= 3, "jobs ahead to queue");
      const abort = new AbortController();
      const { data: stream, response } = await bounded.openai.chat.completions
        .create({ model: coop.model, messages: [{ role: "user", content: "I will not wait." }], max_tokens: 6, stream: true }, { signal: abort.signal })
        .withResponse();
      // Headers come as soon as the job is in line, with its place.
      assert.ok(Number(response.headers.get("x-cocore-queue-position")) >= 2, "the job is waiting behind others");
      assert.ok(Number(response.headers.get("x-cocore-queue-wait-ms")) > 0);
      abort.abort();
      // The SDK ends an aborted stream quietly: no token was ever sent (only SSE comments).
      let text = "";
      try {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      } catch (err) {
        assert.ok(err instanceof OpenAI.APIUserAbortError, String(err));
      }
      assert.equal(text, "");
      const answered = await ahead;
      await until(async () => {
        const s = await status(bounded.mm.url);
        return s !== undefined && s.queued === 0 && s.busySlots === 0 && s.admitting === 0;
      }, "the matchmaker to be idle");
      const jobs = (await listRecords(requester.agent, requester.did, NSID.job)).map((j) => j.uri).filter((uri) => !jobsBefore.has(uri));
      assert.equal(jobs.length, BOUND, "the jobs ahead and the abandoned one were written");
      const byJob = await receiptsByJob(coop);
      assert.equal(jobs.filter((uri) => byJob.get(uri) === 1).length, BOUND - 1, "each job ahead has its one receipt");
      assert.equal(jobs.filter((uri) => !byJob.has(uri)).length, 1, "the abandoned job never ran: no receipt");
      await settledOnce(coop, answered.map((a) => a.receipt));
      assert.equal((await coop.exchange.account(requester.did)).held, 0, "no hold left");
    });

    test("a job that waits past the queue's longest wait gets 503 queue_timeout, its place in the error, and is not charged", async () => {
      const requester = coop.accounts.requesters[3]!;
      const before = await coop.exchange.account(requester.did);
      const outcomes = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => ask(impatient.openai, coop.model, `Hurry ${i}.`)));
      const served = outcomes.filter((o): o is PromiseFulfilledResult<Answer> => o.status === "fulfilled").map((o) => o.value);
      const timedOut = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected").map((o) => o.reason as ApiError);
      assert.ok(timedOut.length > 0, "some of the burst had to wait");
      for (const e of timedOut) {
        assert.equal(e.status, 503, String(e));
        assert.equal(e.code, "queue_timeout");
        const err = e.error as { queue_position?: number; queue_wait_ms?: number };
        assert.ok(Number.isInteger(err.queue_position) && err.queue_position! >= 1, "the error says where the job was in line");
        assert.equal(e.headers?.get("x-cocore-queue-position"), String(err.queue_position));
        assert.equal(e.headers?.get("x-cocore-queue-wait-ms"), String(err.queue_wait_ms));
      }
      const charged = await settledOnce(coop, served.map((a) => a.receipt));
      const after = await coop.exchange.account(requester.did);
      assert.equal(after.balance, before.balance - charged, "timed-out jobs cost nothing");
      assert.equal(after.held, 0, "their holds were released");
    });
  });
});
