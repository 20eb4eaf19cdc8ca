// Tool calls, structured output and the refusals, through the official `openai` client against a
// real cooperative (PDS, exchange, matchmaker, agent with the bundled model).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import OpenAI from "openai";
import { putRecord } from "@cocore/atproto";
import { startCooperative, waitUntil, type Cooperative } from "../../cli/src/cooperative.ts";
import { makeAjv } from "../../../test-support/ajv.ts";
import { schemaFamily } from "../../../test-support/schema-family.ts";
import { REFUSALS } from "./refusals.ts";

/** Schema answers end to end, through the whole cooperative (issue 13 asks for 200). */
const COOPERATIVE_SCHEMA_RUNS = 200;

const ajv = makeAjv();
const tools: OpenAI.ChatCompletionTool[] = [
  { type: "function", function: { name: "get_weather", description: "Weather now", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"], additionalProperties: false } } },
];
type Msg = OpenAI.ChatCompletionMessageParam;

describe("tools and structured output through the gateway", () => {
  let coop: Cooperative;
  let openai: OpenAI;

  before(async () => {
    coop = await startCooperative({ requesters: ["tool-user"], engine: "llama", gateway: true });
    openai = new OpenAI({ apiKey: coop.apiKeys.get(coop.accounts.requesters[0]!.did)!, baseURL: `${coop.gateway!.url}/v1`, maxRetries: 0 });
  });
  after(() => coop?.close());

  test("GET /v1/models states the model's capabilities and price", async () => {
    const page = await openai.models.list();
    const m = page.data[0] as unknown as { id: string; capabilities: unknown; pricing: unknown };
    assert.equal(m.id, coop.model);
    assert.deepEqual(m.capabilities, { tools: true, structured_output: true, context_length: 256 });
    assert.deepEqual(m.pricing, { input_per_million_tokens: 1_000_000, output_per_million_tokens: 1_000_000, currency: "TOK" });
  });

  /** One streamed answer, assembled the way a client assembles OpenAI's deltas. */
  async function streamed(body: OpenAI.ChatCompletionCreateParamsNonStreaming) {
    const stream = await openai.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    const calls: Array<{ id: string; type: string; function: { name: string; arguments: string } }> = [];
    let content = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (chunk.usage) usage = chunk.usage;
      if (!c) continue;
      content += c.delta.content ?? "";
      for (const d of c.delta.tool_calls ?? []) {
        if (d.id !== undefined) {
          // A call's first delta: index, id, type and name, empty arguments (as OpenAI streams it).
          assert.equal(d.index, calls.length);
          assert.equal(d.function?.arguments, "");
          calls.push({ id: d.id, type: d.type!, function: { name: d.function!.name!, arguments: "" } });
        } else {
          assert.equal(d.function?.name, undefined);
          calls[d.index]!.function.arguments += d.function?.arguments ?? "";
        }
      }
      finish = c.finish_reason ?? finish;
    }
    return { calls, content, finish, usage };
  }

  test("a tool-calling loop, non-streaming and streaming: same seed, the streamed deltas assemble into exactly the non-streamed calls", async () => {
    const first: Msg[] = [{ role: "user", content: "Weather?" }];
    const ask = { model: coop.model, messages: first, tools, tool_choice: "required" as const, seed: 11, temperature: 0.8, max_tokens: 120 };
    const plain = await openai.chat.completions.create(ask);
    const choice = plain.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls");
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.type, "function");
    assert.equal(call.function.name, "get_weather");
    assert.ok(ajv.validate(tools[0]!.type === "function" ? (tools[0] as OpenAI.ChatCompletionFunctionTool).function.parameters! : {}, JSON.parse(call.function.arguments)), call.function.arguments);

    const live = await streamed(ask);
    assert.equal(live.finish, "tool_calls");
    assert.deepEqual(live.calls, choice.message.tool_calls);
    assert.equal(live.content, "");
    assert.ok(live.usage && live.usage.total_tokens === live.usage.prompt_tokens + live.usage.completion_tokens);

    // The client runs the function and returns its result; the model answers.
    const next: Msg[] = [...first, { role: "assistant", content: null, tool_calls: choice.message.tool_calls }, { role: "tool", tool_call_id: call.id, content: "-3C" }];
    const answer = await openai.chat.completions.create({ model: coop.model, messages: next, tools, tool_choice: "none", seed: 11, max_tokens: 40 });
    assert.ok(["stop", "length"].includes(answer.choices[0]!.finish_reason));
    assert.equal(answer.choices[0]!.message.tool_calls, undefined);
    assert.ok((answer.choices[0]!.message.content ?? "").length > 0);
    const liveAnswer = await streamed({ model: coop.model, messages: next, tools, tool_choice: "none", seed: 11, max_tokens: 40 });
    assert.equal(liveAnswer.content, answer.choices[0]!.message.content);

    // The receipt states the tools it was offered, and the exchange settles it.
    const receipt = (plain as unknown as { cocore: { receipt: string } }).cocore.receipt;
    const settled = await coop.exchange.waitForSettlement(receipt, 30_000);
    assert.equal(settled.status, "settled");
  });

  test(`${COOPERATIVE_SCHEMA_RUNS} random json_schema answers (strict and not) parse and validate with ajv`, async () => {
    await fc.assert(
      fc.asyncProperty(schemaFamily, fc.integer({ min: 1, max: 1000 }), async ({ schema, strict }, seed) => {
        const res = await openai.chat.completions.create({
          model: coop.model,
          messages: [{ role: "user", content: "JSON:" }],
          response_format: { type: "json_schema", json_schema: { name: "answer", strict, schema } },
          seed,
          temperature: 1,
          max_tokens: 200,
        });
        const text = res.choices[0]!.message.content!;
        assert.equal(res.choices[0]!.finish_reason, "stop", text);
        assert.ok(ajv.validate(schema, JSON.parse(text)), `${JSON.stringify(schema)} → ${text}`);
      }),
      { numRuns: COOPERATIVE_SCHEMA_RUNS },
    );
    const obj = await openai.chat.completions.create({ model: coop.model, messages: [{ role: "user", content: "JSON:" }], response_format: { type: "json_object" }, max_tokens: 200 });
    const value = JSON.parse(obj.choices[0]!.message.content!) as unknown;
    assert.ok(typeof value === "object" && value !== null && !Array.isArray(value));
  });

  test("stop sequences, penalties and usage only when asked", async () => {
    const free = await openai.chat.completions.create({ model: coop.model, messages: [{ role: "user", content: "The" }], max_tokens: 60 });
    const text = free.choices[0]!.message.content!;
    const stop = text.slice(8, 10);
    const cut = await openai.chat.completions.create({ model: coop.model, messages: [{ role: "user", content: "The" }], max_tokens: 60, stop: [stop] });
    assert.equal(cut.choices[0]!.message.content, text.slice(0, text.indexOf(stop)));
    const stream = await openai.chat.completions.create({ model: coop.model, messages: [{ role: "user", content: "The" }], max_tokens: 8, stream: true, presence_penalty: 1 });
    for await (const chunk of stream) assert.equal(chunk.usage, undefined, "no usage without stream_options.include_usage");
  });

  test("every unsupported parameter is refused over HTTP with its code, in OpenAI's envelope", async () => {
    for (const [name, extra, code] of REFUSALS) {
      const res = await fetch(`${coop.gateway!.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${coop.apiKeys.get(coop.accounts.requesters[0]!.did)!}`, "content-type": "application/json" },
        body: JSON.stringify({ model: coop.model, messages: [{ role: "user", content: "hi" }], ...extra }),
      });
      assert.equal(res.status, 400, name);
      const body = (await res.json()) as { error: { code: string; type: string; message: string; param: unknown } };
      assert.equal(body.error.code, code, name);
      assert.equal(body.error.type, "invalid_request_error");
    }
  });

  test("when the owner turns tool calls off, a tools job is refused tool_calls_not_supported (and text still works)", async () => {
    const agent = coop.agent;
    const current = await agent.provider.read();
    await putRecord(agent.agent, "dev.cocore.compute.provider", agent.rkey, { ...current!.value, toolCallsDisabled: true });
    await agent.syncWithRecord();
    await waitUntil(() => coop.matchmaker.registry.all().every((m) => m.capabilitiesByModel?.[coop.model]?.tools === false), 10_000, "the matchmaker to hear tools are off");
    await assert.rejects(
      openai.chat.completions.create({ model: coop.model, messages: [{ role: "user", content: "Weather?" }], tools, max_tokens: 40 }),
      (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400 && e.code === "tool_calls_not_supported",
    );
    const text = await openai.chat.completions.create({ model: coop.model, messages: [{ role: "user", content: "Weather?" }], max_tokens: 8 });
    assert.ok(text.choices[0]!.message.content!.length > 0);
  });
});
