// Raw node-llama-cpp generation speed: the bare sequence.evaluate loop, no engine, no agent,
// no protocol. It is the ceiling that `agentTokensPerSec` is compared against.

import { availableParallelism } from "node:os";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
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

export async function benchEngineRaw(opts: EngineRawOptions = {}): Promise<EngineRawResult> {
  const modelPath = opts.modelPath ?? bundledModelPath();
  const threads = opts.threads ?? Math.max(1, availableParallelism() - 1);
  const runs = opts.runs ?? 5;
  const llama = await getLlama({ build: "never", gpu: false, maxThreads: threads, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const contextSize = Math.min(model.trainContextSize, 4096);
  const context = await model.createContext({ contextSize, threads: { ideal: threads, min: 1 }, batchSize: Math.min(contextSize, 512) });
  const seq = context.getSequence();
  const prompt = [...(model.tokens.bos !== null ? [model.tokens.bos] : []), ...model.tokenize(opts.prompt ?? "The")];
  const perRun = Math.min(opts.tokensPerRun ?? 200, contextSize - prompt.length);

  // Greedy, and EOS does not stop the loop: every run generates exactly perRun tokens.
  const once = async (): Promise<number> => {
    await seq.clearHistory();
    let n = 0;
    for await (const _ of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
      if (++n >= perRun) break;
    }
    return n;
  };
  try {
    await once();
    let tokens = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) tokens += await once();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { rawTokensPerSec: tokens / seconds, tokens, seconds, threads, contextSize, model: modelPath };
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchEngineRaw()));
}
