// Raw node-llama-cpp generation speed: the bare sequence.evaluate loop, no engine, no agent,
// no protocol. It is the ceiling that `agentTokensPerSec` is compared against.
//
// Like for like with the agent path: the same prompt tokens (BOS only when the model asks for
// one, as LlamaEngine.promptTokens does), greedy, stopping at end-of-generation or after
// `tokensPerRun` generated tokens — exactly what the engine does, minus detokenizing, sealing and
// streaming. The clock of one run covers clearing the sequence, evaluating the prompt and
// generating, as the agent's covers a whole job.

import { availableParallelism } from "node:os";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { bundledModelPath } from "../packages/agent/src/engines/model-file.ts";

export interface EngineRawOptions {
  /** GGUF path; default: the bundled fortunes-char model. */
  modelPath?: string;
  /** Default cores − 1 (min 1), as the agent uses. */
  threads?: number;
  /** Timed generation runs (after one untimed warm-up). */
  runs?: number;
  /** Tokens per run; capped so prompt + output fit the context. */
  tokensPerRun?: number;
  prompt?: string;
}

export interface EngineRawResult {
  rawTokensPerSec: number;
  tokens: number;
  seconds: number;
  threads: number;
  contextSize: number;
  model: string;
}

export interface RawEngine {
  contextSize: number;
  /** One timed generation: tokens generated and milliseconds taken. */
  once(): Promise<{ tokens: number; ms: number }>;
  dispose(): Promise<void>;
}

export async function openRawEngine(opts: EngineRawOptions = {}): Promise<RawEngine> {
  const modelPath = opts.modelPath ?? bundledModelPath();
  const threads = opts.threads ?? Math.max(1, availableParallelism() - 1);
  const llama = await getLlama({ build: "never", gpu: false, maxThreads: threads, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const contextSize = Math.min(model.trainContextSize, 4096);
  const context = await model.createContext({ contextSize, threads: { ideal: threads, min: 1 }, batchSize: Math.min(contextSize, 512) });
  const seq = context.getSequence();
  const bos: Token[] = model.tokens.shouldPrependBosToken && model.tokens.bos !== null ? [model.tokens.bos] : [];
  const prompt = [...bos, ...model.tokenize(opts.prompt ?? "The")];
  const perRun = Math.min(opts.tokensPerRun ?? 200, contextSize - prompt.length);
  return {
    contextSize,
    async once() {
      const t0 = performance.now();
      await seq.clearHistory();
      let n = 0;
      for await (const token of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
        if (model.isEogToken(token)) break;
        if (++n >= perRun) break;
      }
      return { tokens: n, ms: performance.now() - t0 };
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

export async function benchEngineRaw(opts: EngineRawOptions = {}): Promise<EngineRawResult> {
  const threads = opts.threads ?? Math.max(1, availableParallelism() - 1);
  const runs = opts.runs ?? 5;
  const raw = await openRawEngine({ ...opts, threads });
  try {
    await raw.once();
    let tokens = 0;
    let ms = 0;
    for (let i = 0; i < runs; i++) {
      const r = await raw.once();
      tokens += r.tokens;
      ms += r.ms;
    }
    return { rawTokensPerSec: tokens / (ms / 1000), tokens, seconds: ms / 1000, threads, contextSize: raw.contextSize, model: opts.modelPath ?? bundledModelPath() };
  } finally {
    await raw.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchEngineRaw()));
}
