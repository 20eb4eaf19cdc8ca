// The gateway's abuse limits on a real cooperative: a key's and a DID's request budgets (429 with
// Retry-After, in OpenAI's error envelope), chat completions at once per DID, and the body cap
// (413, declared or streamed) — and none of the refused requests writes a job or moves a balance.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { listRecords, type Account } from "@cocore/atproto";
import { NSID } from "@cocore/protocol";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";

type ApiError = InstanceType<typeof OpenAI.APIError>;
// No refill within a test: what is spent stays spent.
const SLOW = 0.001;

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  assert.fail("the request was served");
}

async function jobsOf(a: Account): Promise<number> {
  return (await listRecords(a.agent, a.did, NSID.job)).length;
}

/** A raw POST to the gateway: `chunked` sends the body without a content-length. */
function post(url: string, key: string, body: Buffer, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(chunked ? {} : { "content-length": body.length }) },
    });
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

describe("gateway abuse limits", () => {
  let coop: Cooperative;
  let model: string;
  const openaiWith = (key: string) => new OpenAI({ apiKey: key, baseURL: `${coop.gateway!.url}/v1`, maxRetries: 0 });
  const ask = (o: OpenAI) => o.chat.completions.create({ model, messages: [{ role: "user", content: "A fortune" }], max_tokens: 4 });
  const askStreaming = (o: OpenAI) => o.chat.completions.create({ model, messages: [{ role: "user", content: "A fortune" }], max_tokens: 4, stream: true });

  before(async () => {
    coop = await startCooperative({
      requesters: ["keyed", "running", "bodies"],
      gateway: true,
      quiet: true,
      gatewayLimits: { perKey: { burst: 3, perSecond: SLOW }, perDid: { burst: 5, perSecond: SLOW }, concurrentPerDid: 1, maxBodyBytes: 4096 },
    });
    model = coop.model;
  });
  after(async () => {
    await coop?.close();
  });

  test("a key's budget, then its DID's budget over all its keys; refusals write no job", async () => {
    const [keyed] = coop.accounts.requesters;
    const first = openaiWith(coop.apiKeys.get(keyed!.did)!);
    for (let i = 0; i < 3; i++) await first.models.list();
    const jobsBefore = await jobsOf(keyed!);
    const balanceBefore = (await coop.clientFor(keyed!).balance()).balance;

    const e = await refusal(ask(first));
    assert.equal(e.status, 429);
    assert.equal(e.code, "rate_limit_exceeded");
    assert.equal(e.type, "rate_limit_error");
    assert.match(e.message, /this API key/);
    assert.ok(Number(e.headers?.get("retry-after")) >= 1, "Retry-After in seconds");

    // A second key of the same DID has its own key budget, but shares the DID's: 2 more, not 3.
    const second = openaiWith(coop.keys.create(keyed!.did, "second").key);
    await second.models.list();
    await second.models.list();
    const d = await refusal(second.models.list());
    assert.equal(d.status, 429);
    assert.match(d.message, /this account/);

    assert.equal(await jobsOf(keyed!), jobsBefore, "no job record for a refused request");
    assert.equal((await coop.clientFor(keyed!).balance()).balance, balanceBefore);
  });

  test("one chat completion at a time per DID: a second is refused while the first runs, and admitted after", async () => {
    const running = coop.accounts.requesters[1]!;
    const o = openaiWith(coop.apiKeys.get(running.did)!);
    const stream = await askStreaming(o);
    const iter = stream[Symbol.asyncIterator]();
    await iter.next(); // the first is now running
    const e = await refusal(ask(o));
    assert.equal(e.status, 429);
    assert.equal(e.code, "too_many_concurrent_requests");
    assert.equal(e.headers?.get("retry-after"), "1");
    while (!(await iter.next()).done);
    // The slot is given back when the response closes, which the client may see a moment earlier.
    let answered = false;
    for (let i = 0; i < 50 && !answered; i++) {
      try {
        await ask(o);
        answered = true;
      } catch (err) {
        if (!(err instanceof OpenAI.APIError) || err.code !== "too_many_concurrent_requests") throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.ok(answered, "the slot came back after the first answer");
    assert.equal(await jobsOf(running), 2, "two answers, two jobs; the refused one wrote none");
  });

  test("a body over the cap is 413 whether its length is declared or streamed, and the gateway goes on serving", async () => {
    const bodies = coop.accounts.requesters[2]!;
    const key = coop.apiKeys.get(bodies.did)!;
    const big = Buffer.from(JSON.stringify({ model, messages: [{ role: "user", content: "x".repeat(8192) }] }));
    for (const chunked of [false, true]) {
      const r = await post(coop.gateway!.url, key, big, chunked);
      assert.equal(r.status, 413, `${chunked ? "chunked" : "declared"}: ${r.body}`);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, "body_too_large");
    }
    const answer = await ask(openaiWith(key));
    assert.ok(answer.choices[0]!.message.content !== undefined);
    assert.equal(await jobsOf(bodies), 1);
  });
});
