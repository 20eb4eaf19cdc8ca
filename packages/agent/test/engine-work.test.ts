// The llama engine's answers beyond free text, on the bundled model (no chat template, so every
// structured answer comes from grammar-constrained generation): JSON under a schema, tool calls
// as a tool stream, stop sequences, penalties, and the capability probe.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { assembleToolStream, encodeToolEvent, ToolStreamDecoder } from "@cocore/protocol";
import { probeCapabilities, promptFromInput } from "../src/engine-adapters.ts";
import { bundledModelPath, LlamaEngine, type GenerateRequest } from "../src/engines/index.ts";
import { EnvelopeScanner } from "../src/engines/tool-envelope.ts";
import { makeAjv } from "../../../test-support/ajv.ts";
import { schemaFamily } from "../../../test-support/schema-family.ts";

const MODEL_ID = "fortunes-char";
const ajv = makeAjv();
const weather = { name: "get_weather", description: "Weather now", parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] } };
const add = { name: "add", parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } } } };

/** Schema answers checked through the engine directly; the cooperative test runs fewer end to end. */
export const ENGINE_SCHEMA_RUNS = 200;

describe("llama engine: structured answers on the bundled model", () => {
  const engine = new LlamaEngine({ model: bundledModelPath(), threads: 1 });
  before(() => engine.load());
  after(() => engine.close());

  const generate = async (req: Partial<GenerateRequest>) => {
    const chunks: string[] = [];
    const prompt = req.prompt ?? "Tell me";
    const r = await engine.generate({ model: MODEL_ID, prompt, maxTokens: 256 - prompt.length - 1, ...req }, (t) => chunks.push(t));
    assert.equal(chunks.join(""), r.text);
    return { ...r, chunks };
  };

  test(`${ENGINE_SCHEMA_RUNS} random schemas of the family: every answer parses and validates (ajv)`, async () => {
    const started = performance.now();
    let tokens = 0;
    await fc.assert(
      fc.asyncProperty(schemaFamily, fc.integer({ min: 0, max: 1300 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), async ({ schema, strict }, temperatureMilli, seed) => {
        const r = await generate({ prompt: "JSON: ", temperatureMilli, seed, work: { outputSchema: { name: "answer", strict, schema } } });
        assert.equal(r.finishReason, "stop", `cut off: ${r.text}`);
        const value = JSON.parse(r.text) as unknown;
        assert.ok(ajv.validate(schema, value), `${JSON.stringify(schema)} → ${r.text}: ${ajv.errorsText()}`);
        tokens += r.tokensOut;
      }),
      { numRuns: ENGINE_SCHEMA_RUNS },
    );
    process.stderr.write(`# ${ENGINE_SCHEMA_RUNS} schema answers in ${Math.round(performance.now() - started)} ms (${tokens} tokens)\n`);
  });

  test("a required tool call streams as a tool stream whose arguments fit the function's schema", async () => {
    for (const [temperatureMilli, seed] of [[0, 1], [800, 7], [1300, 99]] as const) {
      const r = await generate({ prompt: "User: weather?\nAssistant:", temperatureMilli, seed, work: { tools: { tools: [weather, add], choice: "required", parallel: false, idSeed: "s" } } });
      assert.equal(r.finishReason, "stop");
      const decoder = new ToolStreamDecoder();
      for (const c of r.chunks) decoder.push(c);
      const { toolCalls, content } = decoder.end();
      assert.equal(content, "");
      assert.equal(toolCalls.length, 1);
      const tool = [weather, add].find((t) => t.name === toolCalls[0]!.name)!;
      assert.ok(ajv.validate(tool.parameters, JSON.parse(toolCalls[0]!.arguments)), toolCalls[0]!.arguments);
      assert.match(toolCalls[0]!.id, /^call_[0-9a-f]{24}$/);
    }
  });

  test("a named function is the one called; parallel calls may be several, each well-formed", async () => {
    const named = await generate({ work: { tools: { tools: [weather, add], choice: { name: "add" }, parallel: false, idSeed: "s" } } });
    assert.deepEqual(assembleToolStream(named.text).toolCalls.map((c) => c.name), ["add"]);
    for (let seed = 1; seed <= 5; seed++) {
      const r = await generate({ temperatureMilli: 1200, seed, work: { tools: { tools: [weather, add], choice: "required", parallel: true, idSeed: `p${seed}` } } });
      const { toolCalls } = assembleToolStream(r.text);
      assert.ok(toolCalls.length >= 1 && toolCalls.length <= 4);
      assert.equal(new Set(toolCalls.map((c) => c.id)).size, toolCalls.length, "ids are unique in an answer");
      for (const c of toolCalls) assert.ok(ajv.validate([weather, add].find((t) => t.name === c.name)!.parameters, JSON.parse(c.arguments)));
    }
  });

  test("auto: a call or a text answer, either well-formed; same seed, same answer and ids", async () => {
    const req = { temperatureMilli: 900, seed: 42, work: { tools: { tools: [weather], choice: "auto" as const, parallel: false, idSeed: "same" } } };
    const a = await generate(req);
    const b = await generate(req);
    assert.equal(a.text, b.text);
    const answer = assembleToolStream(a.text);
    assert.ok(answer.toolCalls.length <= 1, "no parallel calls were allowed");
    for (const c of answer.toolCalls) assert.ok(ajv.validate(weather.parameters, JSON.parse(c.arguments)));
  });

  test("stop sequences end the answer before the sequence, and never inside a held-back prefix", async () => {
    const free = await generate({ prompt: "The ", maxTokens: 120 });
    const cut = free.text.slice(10, 12);
    const r = await generate({ prompt: "The ", maxTokens: 120, stop: [cut, "zzzz-never"] });
    assert.equal(r.text, free.text.slice(0, free.text.indexOf(cut)));
    assert.equal(r.finishReason, "stop");
    assert.ok(!r.text.includes(cut));
  });

  test("presence and frequency penalties change greedy output (they reach the sampler)", async () => {
    const plain = await generate({ prompt: "The ", maxTokens: 120 });
    const penalised = await generate({ prompt: "The ", maxTokens: 120, presencePenalty: 2, frequencyPenalty: 2 });
    assert.notEqual(penalised.text, plain.text);
  });

  test("the capability probe finds tool calls and schemas working on the bundled model", async () => {
    assert.deepEqual(await probeCapabilities(engine, MODEL_ID, engine.contextSize), { tools: true, structuredOutput: true, contextLength: 256 });
  });
});

test("earlier tool calls and tool results enter the prompt in the envelope the model writes", () => {
  const prompt = promptFromInput({
    messages: [
      { role: "user", content: "weather?" },
      { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Oslo"}' }] },
      { role: "tool", content: "-3C", toolCallId: "call_1" },
    ],
  });
  assert.equal(prompt, 'User: weather?\nAssistant: {"tool_calls":[{"name":"get_weather","arguments":{"city":"Oslo"}}]}\nTool: -3C\nAssistant:');
});

test("the envelope scanner gives the same calls however the envelope is cut", () => {
  const envelope = '{"tool_calls":[{"name":"get_weather","arguments":{"city":"a\\"}{,b","n":[1,{"x":[]}]}},{"name":"add","arguments":{}}]}';
  const whole = new EnvelopeScanner((i, n) => `id${i}${n}`).push(envelope);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: envelope.length }), { maxLength: 12 }), (cuts) => {
      const points = [0, ...[...new Set(cuts)].sort((a, b) => a - b), envelope.length];
      const scanner = new EnvelopeScanner((i, n) => `id${i}${n}`);
      const events = points.slice(1).flatMap((end, k) => scanner.push(envelope.slice(points[k], end)));
      assert.ok(scanner.done);
      const join = (es: typeof events) => JSON.stringify(assembleToolStream(es.map(encodeToolEvent).join("")));
      assert.equal(join(events), join(whole));
    }),
  );
  const calls = assembleToolStream(whole.map(encodeToolEvent).join("")).toolCalls;
  assert.deepEqual(calls, [
    { id: "id0get_weather", name: "get_weather", arguments: '{"city":"a\\"}{,b","n":[1,{"x":[]}]}' },
    { id: "id1add", name: "add", arguments: "{}" },
  ]);
  const text = new EnvelopeScanner(() => "x").push('{"content":"a\\nb\\"c"}');
  assert.deepEqual(text, [{ type: "content", text: 'a\nb"c' }]);
});
