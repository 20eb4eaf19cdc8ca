import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { bundledModelPath, EngineError, IncrementalDetokenizer, LlamaEngine, type GenerateResult } from "../src/engines/index.ts";

// The bundled char-level model (models/README.md): 256-token context, one token per character.
const MODEL_ID = "fortunes-char";

interface Reference {
  samples: { prompt: string; promptTokens: number[]; greedyTokens: number[]; greedyText: string }[];
}
const reference = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../../models/train/greedy-reference.json", import.meta.url)), "utf8"),
) as Reference;

async function run(engine: LlamaEngine, prompt: string, maxTokens: number, extra: Partial<Parameters<LlamaEngine["generate"]>[0]> = {}) {
  const chunks: string[] = [];
  const result = await engine.generate({ model: MODEL_ID, prompt, maxTokens, ...extra }, (t) => chunks.push(t));
  return { result, chunks };
}

function codeOf(err: unknown): string | undefined {
  return err instanceof EngineError ? err.code : undefined;
}

describe("llama engine on the bundled model", () => {
  const engine = new LlamaEngine({ model: bundledModelPath(), threads: 1 });
  before(async () => {
    await engine.load();
  });
  after(async () => {
    await engine.close();
  });

  test("advertises the file name as model id and the trained context", () => {
    assert.deepEqual(engine.models(), [MODEL_ID]);
    assert.equal(engine.contextSize, 256);
  });

  test("greedy output is deterministic across runs", async () => {
    const a = await run(engine, "The meaning of life is", 60);
    const b = await run(engine, "The meaning of life is", 60);
    assert.ok(a.result.text.length > 0);
    assert.deepEqual(b.result, a.result);
    assert.deepEqual(b.chunks, a.chunks);
  });

  test("greedy output equals the PyTorch model it was exported from", async () => {
    for (const s of reference.samples) {
      const eos = s.greedyTokens.at(-1) === 2;
      const n = s.greedyTokens.length - (eos ? 1 : 0);
      const { result } = await run(engine, s.prompt, n);
      assert.equal(result.text, s.greedyText, `prompt ${JSON.stringify(s.prompt)}`);
      assert.equal(result.tokensOut, n);
      assert.equal(result.tokensIn, s.promptTokens.length);
    }
  });

  test("tokensIn is the prompt's tokens plus the BOS the model prepends", async () => {
    const prompt = "Q: What is a computer?\nA:";
    assert.equal(engine.model.tokens.shouldPrependBosToken, true);
    const { result } = await run(engine, prompt, 3);
    assert.equal(result.tokensIn, engine.model.tokenize(prompt).length + 1);
    assert.deepEqual(engine.promptTokens(prompt), [engine.model.tokens.bos, ...engine.model.tokenize(prompt)]);
    // char-level vocabulary: one token per character (newline via the <0x0A> byte token)
    assert.equal(engine.model.tokenize(prompt).length, prompt.length);
  });

  test("tokensOut counts generated tokens and stops at maxTokens", async () => {
    for (const maxTokens of [1, 7, 40]) {
      const { result, chunks } = await run(engine, "A", maxTokens);
      assert.ok(result.tokensOut <= maxTokens);
      // every generated token of this model is a whole character, so one chunk per token
      assert.equal(chunks.length, result.tokensOut);
      assert.equal(chunks.join(""), result.text);
      assert.equal(result.finishReason === "length", result.tokensOut === maxTokens);
      if (result.finishReason === "length") assert.equal(result.tokensOut, maxTokens);
    }
  });

  test("the model ends a fortune with EOS (finishReason stop, EOS not counted)", async () => {
    // Greedy decoding of a char model loops forever; sampled fortunes end (they average ~170 chars).
    let stopped: { result: GenerateResult; chunks: string[] } | undefined;
    for (let seed = 1; seed <= 20 && !stopped; seed++) {
      const r = await run(engine, "A", 250, { temperatureMilli: 800, seed });
      if (r.result.finishReason === "stop") stopped = r;
    }
    assert.ok(stopped, "no sampled fortune ended with EOS");
    const { result, chunks } = stopped;
    assert.ok(result.tokensOut < 250);
    assert.equal(chunks.join(""), result.text);
    assert.ok(chunks.length <= result.tokensOut);
    if (/^[\x00-\x7f]*$/.test(result.text)) assert.equal(engine.model.tokenize(result.text).length, result.tokensOut);
  });

  test("refuses a prompt that does not fit the context with maxTokens", async () => {
    const long = "All work and no play makes Jack a dull boy. ".repeat(8); // 352 chars > 256
    await assert.rejects(run(engine, long, 1), (e) => codeOf(e) === "prompt-too-long");
    const fits = "x".repeat(200); // 201 with BOS: fits alone, not with 100 more
    await assert.rejects(run(engine, fits, 100), (e) => codeOf(e) === "prompt-too-long");
    const { result } = await run(engine, fits, 55);
    assert.equal(result.tokensIn, 201);
  });

  test("seeded sampling is reproducible", async () => {
    const opts = { temperatureMilli: 900, topPMilli: 950, seed: 42 };
    const a = await run(engine, "The", 40, opts);
    const b = await run(engine, "The", 40, opts);
    assert.equal(a.result.text, b.result.text);
  });

  test("abort stops generation and reports what was generated", async () => {
    const ac = new AbortController();
    const chunks: string[] = [];
    const result = await engine.generate({ model: MODEL_ID, prompt: "A", maxTokens: 100, signal: ac.signal }, (t) => {
      chunks.push(t);
      if (chunks.length === 3) ac.abort();
    });
    assert.equal(result.finishReason, "abort");
    assert.equal(result.tokensOut, 3);
    assert.equal(result.text, chunks.join(""));
  });

  test("coalesced output (emitIntervalMs) is the same text in fewer pieces, first piece at once", async () => {
    const plain = await run(engine, "The meaning of life is", 200);
    const coalesced = await run(engine, "The meaning of life is", 200, { emitIntervalMs: 16 });
    let firstAt = 0;
    const started = performance.now();
    const timed = await engine.generate({ model: MODEL_ID, prompt: "The meaning of life is", maxTokens: 200, emitIntervalMs: 16 }, () => {
      firstAt ||= performance.now();
    });
    const ended = performance.now();
    assert.equal(coalesced.result.text, plain.result.text);
    assert.equal(coalesced.result.tokensOut, plain.result.tokensOut);
    assert.equal(coalesced.chunks.join(""), coalesced.result.text);
    assert.ok(coalesced.chunks.length < coalesced.result.tokensOut, `${coalesced.chunks.length} pieces for ${coalesced.result.tokensOut} tokens`);
    // The first piece does not wait for the interval (nor for the end of generation).
    assert.equal(timed.text, plain.result.text);
    assert.ok(firstAt - started < (ended - started) / 2, `first piece after ${(firstAt - started).toFixed(1)} of ${(ended - started).toFixed(1)} ms`);
  });

  test("coalesced output still stops on abort, with the text matching what was emitted", async () => {
    const ac = new AbortController();
    const chunks: string[] = [];
    const result = await engine.generate({ model: MODEL_ID, prompt: "A", maxTokens: 200, signal: ac.signal, emitIntervalMs: 16 }, (t) => {
      chunks.push(t);
      ac.abort();
    });
    assert.equal(result.finishReason, "abort");
    assert.ok(result.tokensOut >= 1 && result.tokensOut < 200, `tokensOut ${result.tokensOut}`);
    assert.equal(result.text, chunks.join(""));
  });

  test("coalesced output: a callback that throws fails generate(), and nothing is emitted after", async () => {
    let calls = 0;
    let failedAt = 0;
    await assert.rejects(
      // An interval this short schedules a drain for every token, so one is pending when it fails.
      engine.generate({ model: MODEL_ID, prompt: "The", maxTokens: 200, emitIntervalMs: 0.001 }, () => {
        calls++;
        throw new Error("sink broke");
      }),
      /sink broke/,
    );
    failedAt = calls;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(calls, failedAt);
    assert.equal(calls, 1);
  });

  test("rejects unknown models and bad maxTokens", async () => {
    await assert.rejects(engine.generate({ model: "gpt-4", prompt: "hi", maxTokens: 5 }, () => {}), (e) => codeOf(e) === "unknown-model");
    await assert.rejects(run(engine, "hi", 0), (e) => codeOf(e) === "bad-request");
  });

  test("multi-byte characters split over byte tokens stream as whole characters", () => {
    const model = engine.model;
    // "€" is not in the vocabulary: SPM byte fallback gives <0xE2><0x82><0xAC>
    const tokens = model.tokenize("a€b");
    assert.equal(tokens.length, 5);
    const detok = new IncrementalDetokenizer(model, []);
    const out = tokens.map((t) => detok.push(t));
    assert.deepEqual(out, ["a", "", "", "€", "b"]);
    assert.equal(detok.flush(), "");
    // Several at once: an incomplete character at the end is held back until its last byte.
    const many = new IncrementalDetokenizer(model, []);
    assert.equal(many.pushMany(tokens.slice(0, 3)), "a");
    assert.equal(many.pushMany(tokens.slice(3)), "€b");
    assert.equal(many.flush(), "");
  });
});
