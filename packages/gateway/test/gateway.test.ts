// The OpenAI-compatible API, driven by the official `openai` client against a running cooperative
// with the real engine.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import type { CocoreClient, JobResult, StreamEvent } from "@cocore/client";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { KeyStore, startGateway, type Gateway } from "../src/index.ts";

const MODEL_FILE = new URL("../../../models/fortunes-char.gguf", import.meta.url).pathname;

describe("OpenAI-compatible gateway", { skip: existsSync(MODEL_FILE) ? false : "bundled model missing" }, () => {
  let coop: Cooperative;
  let openai: OpenAI;

  before(async () => {
    coop = await startCooperative({ requesters: ["gateway-user"], engine: "llama", gateway: true });
    const key = coop.apiKeys.get(coop.accounts.requesters[0]!.did)!;
    openai = new OpenAI({ apiKey: key, baseURL: `${coop.gateway!.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await coop?.close();
  });

  test("GET /v1/models lists the served model", async () => {
    const page = await openai.models.list();
    assert.deepEqual(page.data.map((m) => m.id), [coop.model]);
  });

  test("streaming chat completion: chunks, finish_reason and usage", async () => {
    const stream = await openai.chat.completions.create({ model: coop.model, messages: [{ role: "user", content: "A fortune please." }], max_tokens: 16, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (c?.delta?.content) text += c.delta.content;
      if (c?.finish_reason) finish = c.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(text.length > 0);
    assert.ok(finish === "stop" || finish === "length");
    assert.ok(usage && usage.completion_tokens > 0 && usage.completion_tokens <= 16);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  });

  test("non-streaming chat completion settles like any job", async () => {
    const res = await openai.chat.completions.create({ model: coop.model, messages: [{ role: "user", content: "Hello" }], max_tokens: 8 });
    assert.equal(res.object, "chat.completion");
    assert.ok(res.choices[0]!.message.content!.length > 0);
    const receipt = (res as unknown as { cocore: { receipt: string } }).cocore.receipt;
    const status = await coop.exchange.waitForSettlement(receipt, 30_000);
    assert.equal(status.status, "settled");
    assert.equal(status.charged, res.usage!.total_tokens);
  });

  test("errors come back in OpenAI's shape", async () => {
    const bad = new OpenAI({ apiKey: "ck-wrong", baseURL: `${coop.gateway!.url}/v1`, maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 401 && e.code === "invalid_api_key");
    await assert.rejects(
      openai.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }], stream: true }),
      (e: InstanceType<typeof OpenAI.APIError>) => e.status === 404 && e.code === "model_not_found" && /no-such-model/.test(e.message),
    );
  });

  test("API keys are stored hashed and bound to a DID", () => {
    const store = new KeyStore();
    const { key, entry } = store.create("did:plc:someone");
    assert.ok(!JSON.stringify(store.list()).includes(key));
    assert.equal(store.lookup(key)?.did, "did:plc:someone");
    assert.equal(store.lookup(key + "x"), undefined);
    assert.equal(store.revoke(entry.id), true);
    assert.equal(store.lookup(key), undefined);
  });
});

// A provider whose receipt does not commit to the output we were relayed cannot be produced by a
// real cooperative cheaply, so the gateway runs over a stand-in SDK client that reports it.
describe("gateway refuses output that does not match the receipt", () => {
  let gateway: Gateway;
  let key: string;
  let flags: { outputMatches: boolean; cipherMatches: boolean };

  before(async () => {
    const keys = new KeyStore();
    key = keys.create("did:plc:requester").key;
    const result = {
      job: { uri: "at://did:plc:requester/dev.cocore.job/1", cid: "c" },
      provider: "did:plc:provider",
      text: "forged",
      tokens: { in: 3, out: 2 },
      price: { amount: 5, currency: "CCR" },
      finishReason: "stop",
      receipt: { uri: "at://did:plc:provider/dev.cocore.receipt/1", cid: "c", written: true },
    };
    const client = {
      async *stream(): AsyncGenerator<StreamEvent> {
        yield { type: "chunk", text: "forged" };
        yield { type: "done", result: { ...result, ...flags } as unknown as JobResult };
      },
      models: async () => [{ id: "m", providers: 1 }],
    } as unknown as CocoreClient;
    gateway = await startGateway({ keys, clientFor: async () => client, models: () => client.models(), log: () => {} });
  });
  after(async () => {
    await gateway?.close();
  });

  const openai = () => new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  const isMismatch = (e: InstanceType<typeof OpenAI.APIError>) => e.code === "output_mismatch" && e.type === "server_error";

  for (const f of [{ outputMatches: false, cipherMatches: true }, { outputMatches: true, cipherMatches: false }]) {
    test(`non-streaming: 502 output_mismatch (${JSON.stringify(f)})`, async () => {
      flags = f;
      await assert.rejects(openai().chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }] }), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 502 && isMismatch(e));
    });

    test(`streaming: an error event instead of a finish (${JSON.stringify(f)})`, async () => {
      flags = f;
      const stream = await openai().chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }], stream: true });
      let finish: string | null = null;
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) finish ??= chunk.choices[0]?.finish_reason ?? null;
        })(),
        isMismatch,
      );
      assert.equal(finish, null);
    });
  }

  test("raw stream: the error event comes before [DONE]", async () => {
    flags = { outputMatches: true, cipherMatches: false };
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }], stream: true }),
    });
    const events = (await res.text()).split("\n\n").filter(Boolean);
    assert.equal(events.at(-1), "data: [DONE]");
    const err = JSON.parse(events.at(-2)!.slice("data: ".length)) as { error: { code: string }; cocore: { receipt: string } };
    assert.equal(err.error.code, "output_mismatch");
    assert.equal(err.cocore.receipt, "at://did:plc:provider/dev.cocore.receipt/1");
  });

  test("matching output still succeeds", async () => {
    flags = { outputMatches: true, cipherMatches: true };
    const res = await openai().chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }] });
    assert.equal(res.choices[0]!.message.content, "forged");
  });
});
