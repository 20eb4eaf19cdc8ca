// The request parser on its own: what each parameter becomes, every unsupported one refused
// with its code, and no JSON value making it throw.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseChatRequest, UNSUPPORTED_PARAMETERS } from "../src/chat-request.ts";
import { REFUSALS, weather } from "./refusals.ts";

const base = { model: "m", messages: [{ role: "user", content: "hi" }] };

function codeOf(body: unknown): string | undefined {
  const r = parseChatRequest(body);
  return r.ok ? undefined : r.error.code;
}


for (const [name, extra, code] of REFUSALS) {
  test(`refused: ${name} → ${code}`, () => {
    const r = parseChatRequest({ ...base, ...extra });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, code, r.error.message);
      assert.equal(r.error.status, 400);
      assert.equal(r.error.type, "invalid_request_error");
      assert.ok(r.error.message.length > 0);
    }
  });
}

test("every parameter the gateway does not serve has a refusal case", () => {
  const covered = new Set(REFUSALS.flatMap(([, extra]) => Object.keys(extra)));
  assert.deepEqual(Object.keys(UNSUPPORTED_PARAMETERS).filter((k) => !covered.has(k)), []);
});

test("values that ask for nothing are accepted: n 1, logprobs false, text modality, empty logit_bias, store false", () => {
  for (const extra of [{ n: 1 }, { logprobs: false }, { top_logprobs: 0 }, { modalities: ["text"] }, { logit_bias: {} }, { store: false }, { service_tier: "auto" }]) {
    assert.equal(codeOf({ ...base, ...extra }), undefined, JSON.stringify(extra));
  }
});

test("the served parameters become the job input and work", () => {
  const r = parseChatRequest({
    model: "m",
    messages: [
      { role: "developer", content: [{ type: "text", text: "Be " }, { type: "text", text: "brief." }] },
      { role: "user", content: "weather in Oslo?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "-3C" },
    ],
    max_completion_tokens: 40,
    temperature: 0.7,
    top_p: 0.9,
    seed: 5,
    presence_penalty: 0.5,
    frequency_penalty: -1,
    user: "end-user-1",
    stream: true,
    stream_options: { include_usage: true },
    tools: [weather],
    tool_choice: { type: "function", function: { name: "get_weather" } },
    parallel_tool_calls: false,
    response_format: { type: "json_schema", json_schema: { name: "answer", strict: true, schema: { type: "object", properties: { t: { type: "integer" } } } } },
  });
  assert.ok(r.ok);
  const q = r.request;
  assert.equal(q.maxTokens, 40);
  assert.equal(q.includeUsage, true);
  assert.equal(q.user, "end-user-1");
  assert.deepEqual(q.input, {
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "weather in Oslo?" },
      { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Oslo"}' }] },
      { role: "tool", content: "-3C", toolCallId: "call_1" },
    ],
    temperatureMilli: 700,
    topPMilli: 900,
    seed: 5,
    presencePenaltyMilli: 500,
    frequencyPenaltyMilli: -1000,
    parallelToolCalls: false,
  });
  assert.deepEqual(q.work, {
    outputSchema: { name: "answer", strict: true, schema: { type: "object", properties: { t: { type: "integer" } } } },
    tools: [weather],
    toolChoice: "required",
    toolChoiceFunction: "get_weather",
  });
  const json = parseChatRequest({ ...base, response_format: { type: "json_object" }, stop: undefined });
  assert.ok(json.ok);
  assert.deepEqual(json.request.work, { outputSchema: { name: "json_object", strict: false, schema: { type: "object" } } });
  const stops = parseChatRequest({ ...base, stop: "\n" });
  assert.ok(stops.ok);
  assert.deepEqual(stops.request.input.stop, ["\n"]);
});

test("malformed values are refused with the parameter named", () => {
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ model: "" }, "missing_model", "model"],
    [{ messages: [] }, "missing_messages", "messages"],
    [{ messages: [{ role: "tool", tool_call_id: "nope", content: "x" }] }, "invalid_value", "messages[0].tool_call_id"],
    [{ temperature: 3 }, "invalid_value", "temperature"],
    [{ top_p: -0.1 }, "invalid_value", "top_p"],
    [{ max_tokens: 0 }, "invalid_max_tokens", "max_tokens"],
    [{ max_tokens: 5, max_completion_tokens: 6 }, "invalid_max_tokens", "max_tokens"],
    [{ stop: ["a", "b", "c", "d", "e"] }, "invalid_value", "stop"],
    [{ tool_choice: "auto" }, "invalid_value", "tool_choice"],
    [{ tools: [weather], tool_choice: { type: "function", function: { name: "other" } } }, "invalid_tool_choice", "tool_choice"],
    [{ tools: [weather, weather] }, "invalid_tools", "tools[1].function.name"],
    [{ stream_options: { include_usage: true } }, "invalid_value", "stream_options"],
    [{ response_format: { type: "yaml" } }, "invalid_response_format", "response_format.type"],
    [{ seed: 1.5 }, "invalid_value", "seed"],
  ];
  for (const [extra, code, param] of cases) {
    const r = parseChatRequest({ ...base, ...extra });
    assert.equal(r.ok, false, JSON.stringify(extra));
    if (!r.ok) assert.deepEqual([r.error.code, r.error.param], [code, param], JSON.stringify(extra));
  }
});

test("parseChatRequest never throws, whatever JSON it is given", () => {
  const anything = fc.jsonValue({ maxDepth: 6 });
  // Mostly near-valid bodies, so the deeper checks are reached too.
  const nearValid = fc.record(
    {
      model: fc.oneof(fc.constant("m"), anything),
      messages: fc.oneof(fc.array(fc.record({ role: fc.constantFrom("user", "assistant", "tool", "system", "x"), content: fc.oneof(fc.string(), anything), tool_calls: anything, tool_call_id: anything }, { requiredKeys: ["role"] })), anything),
      tools: fc.oneof(fc.constant([weather]), anything),
      tool_choice: anything,
      response_format: fc.oneof(fc.record({ type: fc.constantFrom("json_schema", "json_object", "text"), json_schema: fc.record({ name: fc.constant("a"), schema: anything, strict: anything }) }), anything),
      stream: anything,
      stream_options: anything,
      stop: anything,
      n: anything,
    },
    { requiredKeys: ["model", "messages"] },
  );
  fc.assert(
    fc.property(fc.oneof(anything, nearValid), (body) => {
      const r = parseChatRequest(body);
      assert.equal(typeof r.ok, "boolean");
      if (!r.ok) assert.equal(r.error.code === "invalid_request" && r.error.message === "The request body could not be read.", false, "an unexpected exception was turned into a refusal");
    }),
    { numRuns: 3000 },
  );
});
