// In-process inference with node-llama-cpp. We drive the low-level sequence API rather than a
// chat session so that the token counts on a receipt are ones we counted: the prompt tokens we
// fed and each generated token the sampler returned.

import { availableParallelism } from "node:os";
import { basename } from "node:path";
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";
import { AnswerShaper, GrammarCache } from "./answer-shaper.ts";
import { resolveModelFile, type DownloadProgress } from "./model-file.ts";
import { EngineError, validateRequest, type Engine, type GenerateRequest, type GenerateResult, type OnToken } from "./types.ts";

export interface LlamaEngineOptions {
  /** GGUF file: a local path or an http(s) URL (downloaded to cacheDir, resumable). */
  model: string;
  /** Id advertised in models() and expected in requests; default: file name without .gguf. */
  modelId?: string;
  /** Context window in tokens (prompt + output must fit); default: min(trained size, 4096). */
  contextSize?: number;
  /**
   * CPU threads for evaluation; default: cores − 1 (min 1). Always passed explicitly: the
   * library's own default (≥ 4 threads) oversubscribes small machines (0.3 tok/s vs ~100 on 2 cores).
   */
  threads?: number;
  /** Concurrent generations (context sequences); default 1. Extra requests queue. */
  parallel?: number;
  /** Prompt evaluation batch size; default: the context size capped at 512. */
  batchSize?: number;
  /** GPU backend; default false (CPU). "auto" lets node-llama-cpp pick CUDA/Vulkan/Metal. */
  gpu?: false | "auto";
  cacheDir?: string;
  expectedSize?: number;
  sha256?: string;
  onDownloadProgress?: (p: DownloadProgress) => void;
}

export function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Bounded pool of context sequences; waiters are served in arrival order. */
class SequencePool {
  readonly #free: LlamaContextSequence[];
  readonly #waiters: ((s: LlamaContextSequence) => void)[] = [];
  constructor(seqs: LlamaContextSequence[]) {
    this.#free = seqs;
  }
  acquire(): Promise<LlamaContextSequence> {
    const s = this.#free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((res) => this.#waiters.push(res));
  }
  release(s: LlamaContextSequence): void {
    const w = this.#waiters.shift();
    if (w) w(s);
    else this.#free.push(s);
  }
}

/**
 * Turns a token stream into text chunks that are always whole UTF-8 characters: a byte-fallback
 * token carrying half of "é" is held back until the rest arrives.
 */
export class IncrementalDetokenizer {
  readonly #model: LlamaModel;
  #pending: Token[] = [];
  #context: Token[] = [];
  constructor(model: LlamaModel, context: readonly Token[]) {
    this.#model = model;
    this.#context = context.slice(-16);
  }
  push(token: Token): string {
    this.#pending.push(token);
    const text = this.#model.detokenize(this.#pending, false, this.#context);
    // A UTF-8 sequence is at most 4 bytes; beyond that the bytes are simply invalid, so emit.
    if (text.endsWith("\uFFFD") && this.#pending.length < 4) return "";
    return this.#commit(text);
  }
  /**
   * Several tokens in one detokenize call: the text of all of them, except that the tokens of a
   * character still incomplete at the end (at most three) are held back, as push does.
   */
  pushMany(tokens: readonly Token[]): string {
    this.#pending.push(...tokens);
    const text = this.#model.detokenize(this.#pending, false, this.#context);
    if (!text.endsWith("\uFFFD")) return this.#commit(text);
    for (let held = 1; held <= 3 && held < this.#pending.length; held++) {
      const head = this.#pending.slice(0, -held);
      const headText = this.#model.detokenize(head, false, this.#context);
      if (!headText.endsWith("\uFFFD")) {
        const tail = this.#pending.slice(-held);
        this.#pending = head;
        const out = this.#commit(headText);
        this.#pending = tail;
        return out;
      }
    }
    return this.#pending.length < 4 ? "" : this.#commit(text);
  }
  flush(): string {
    if (this.#pending.length === 0) return "";
    return this.#commit(this.#model.detokenize(this.#pending, false, this.#context));
  }
  #commit(text: string): string {
    this.#context = [...this.#context, ...this.#pending].slice(-16);
    this.#pending = [];
    return text;
  }
}

export class LlamaEngine implements Engine {
  readonly kind = "llama" as const;
  readonly #opts: LlamaEngineOptions;
  #modelId: string;
  #llama: Llama | undefined;
  #model: LlamaModel | undefined;
  #context: LlamaContext | undefined;
  #pool: SequencePool | undefined;
  #grammars: GrammarCache | undefined;
  #loading: Promise<void> | undefined;
  #threads: number;

  constructor(opts: LlamaEngineOptions) {
    this.#opts = opts;
    this.#modelId = opts.modelId ?? basename(new URL(opts.model, "file:///").pathname).replace(/\.gguf$/i, "");
    this.#threads = opts.threads ?? defaultThreads();
    if (!Number.isInteger(this.#threads) || this.#threads < 1) throw new EngineError("bad-request", `threads must be >= 1`);
  }

  models(): string[] {
    return [this.#modelId];
  }

  /** The loaded model, for callers that need its tokenizer (tests, benchmarks). */
  get model(): LlamaModel {
    if (!this.#model) throw new EngineError("not-loaded", "llama engine is not loaded");
    return this.#model;
  }

  get contextSize(): number {
    if (!this.#context) throw new EngineError("not-loaded", "llama engine is not loaded");
    return this.#context.contextSize;
  }

  get threads(): number {
    return this.#threads;
  }

  load(): Promise<void> {
    this.#loading ??= this.#load();
    return this.#loading;
  }

  async #load(): Promise<void> {
    const o = this.#opts;
    const path = await resolveModelFile(o.model, {
      ...(o.cacheDir !== undefined && { cacheDir: o.cacheDir }),
      ...(o.expectedSize !== undefined && { expectedSize: o.expectedSize }),
      ...(o.sha256 !== undefined && { sha256: o.sha256 }),
      ...(o.onDownloadProgress !== undefined && { onProgress: o.onDownloadProgress }),
    });
    // build "never": a provider must not compile or fetch llama.cpp at run time; the prebuilt
    // binaries ship inside the npm package.
    this.#llama = await getLlama({ build: "never", gpu: o.gpu ?? false, maxThreads: this.#threads, logLevel: LlamaLogLevel.error });
    this.#model = await this.#llama.loadModel({ modelPath: path });
    const contextSize = o.contextSize ?? Math.min(this.#model.trainContextSize, 4096);
    const parallel = o.parallel ?? 1;
    this.#context = await this.#model.createContext({
      contextSize,
      sequences: parallel,
      threads: { ideal: this.#threads, min: 1 },
      batchSize: o.batchSize ?? Math.min(contextSize, 512),
    });
    const seqs: LlamaContextSequence[] = [];
    for (let i = 0; i < parallel; i++) seqs.push(this.#context.getSequence());
    this.#pool = new SequencePool(seqs);
    this.#grammars = new GrammarCache(this.#llama);
  }

  /** Prompt tokens exactly as generate() feeds them: BOS first when the model asks for one. */
  promptTokens(prompt: string): Token[] {
    const model = this.model;
    const tokens = model.tokenize(prompt);
    if (model.tokens.shouldPrependBosToken && model.tokens.bos !== null) return [model.tokens.bos, ...tokens];
    return tokens;
  }

  async generate(req: GenerateRequest, onToken: OnToken): Promise<GenerateResult> {
    if (!this.#model || !this.#context || !this.#pool) throw new EngineError("not-loaded", "llama engine is not loaded");
    validateRequest(req, this.models());
    const model = this.#model;
    const prompt = this.promptTokens(req.prompt);
    const contextSize = this.#context.contextSize;
    // Refuse rather than truncate or context-shift: the requester pays for what they sent.
    if (prompt.length + req.maxTokens > contextSize) {
      throw new EngineError(
        "prompt-too-long",
        `prompt is ${prompt.length} tokens; with maxTokens ${req.maxTokens} it needs ${prompt.length + req.maxTokens} > context ${contextSize}`,
      );
    }
    if (req.signal?.aborted) return { text: "", tokensIn: 0, tokensOut: 0, finishReason: "abort" };

    const shaper = await AnswerShaper.prepare(req, this.#grammars!, contextSize);
    const generated: Token[] = [];
    const penalised = (req.presencePenalty ?? 0) !== 0 || (req.frequencyPenalty ?? 0) !== 0;
    const sampling = {
      ...(req.temperatureMilli
        ? {
            temperature: req.temperatureMilli / 1000,
            ...(req.topPMilli !== undefined && req.topPMilli < 1000 && { topP: req.topPMilli / 1000 }),
            seed: req.seed ?? Math.floor(Math.random() * 2 ** 31),
          }
        : { temperature: 0 }),
      // OpenAI's penalties count only the answer's own tokens, not the prompt's.
      ...(penalised && {
        repeatPenalty: { punishTokens: () => generated.slice(-64), maxPunishTokens: 64, penalty: 1, presencePenalty: req.presencePenalty ?? 0, frequencyPenalty: req.frequencyPenalty ?? 0 },
      }),
      ...(shaper.grammar && { grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar: shaper.grammar }) }),
    };

    const seq = await this.#pool.acquire();
    let text = "";
    let tokensOut = 0;
    let finishReason: GenerateResult["finishReason"] = "stop";
    let evaluated = false;
    const emit = (raw: string) => {
      const s = shaper.shape(raw);
      if (s === "") return;
      text += s;
      onToken(s);
    };
    const coalesce = (req.emitIntervalMs ?? 0) > 0 && !shaper.perToken;
    // Coalescing (emitIntervalMs): the loop only queues token ids, and a token arriving once the
    // interval has passed (or the first one) schedules a drain two event-loop turns later: after
    // node-llama-cpp has dispatched the next decode (from a setImmediate of its own), so the text
    // work and whatever the callback does overlap that decode. A timer would not do: it tends to
    // fire in the gap between a decode and its sampling, right in front of the next token. The
    // last tokens are drained before generate() returns.
    const queued: Token[] = [];
    let drainScheduled = false;
    let lastDrainAt = Number.NEGATIVE_INFINITY;
    let drainError: unknown;
    let detok: IncrementalDetokenizer | undefined;
    let finished = false;
    const drain = () => {
      drainScheduled = false;
      // Once generate() has returned or failed, a drain still scheduled has nothing to say.
      if (finished || queued.length === 0 || !detok) return;
      try {
        emit(detok.pushMany(queued.splice(0)));
      } catch (err) {
        drainError ??= err;
      }
    };
    const queueToken = (t: Token) => {
      queued.push(t);
      if (drainScheduled) return;
      const now = performance.now();
      if (now - lastDrainAt < req.emitIntervalMs!) return;
      drainScheduled = true;
      lastDrainAt = now;
      setImmediate(() => setImmediate(drain));
    };
    try {
      await seq.clearHistory();
      detok = new IncrementalDetokenizer(model, prompt);
      if (req.signal?.aborted) {
        finishReason = "abort";
      } else {
        evaluated = true;
        for await (const token of seq.evaluate(prompt, { ...sampling, yieldEogToken: true })) {
          if (model.isEogToken(token)) break;
          tokensOut++;
          if (penalised) generated.push(token);
          if (!coalesce) {
            emit(detok.push(token));
            if (shaper.stopped) break;
          }
          else {
            queueToken(token);
            if (drainError !== undefined) throw drainError;
          }
          if (req.signal?.aborted) {
            finishReason = "abort";
            break;
          }
          if (tokensOut >= req.maxTokens) {
            finishReason = "length";
            break;
          }
        }
      }
      drain();
      if (drainError !== undefined) throw drainError;
      emit(detok.flush());
      const rest = shaper.flush();
      if (rest !== "") {
        text += rest;
        onToken(rest);
      }
      // A stop sequence ends the answer as the model's own end does.
      if (shaper.stopped) finishReason = "stop";
    } finally {
      finished = true;
      this.#pool.release(seq);
    }
    shaper.check(text, finishReason);
    // A request aborted before evaluation started consumed no prompt tokens.
    return { text, tokensIn: evaluated ? prompt.length : 0, tokensOut, finishReason };
  }

  async close(): Promise<void> {
    const ctx = this.#context;
    const model = this.#model;
    const llama = this.#llama;
    this.#context = undefined;
    this.#model = undefined;
    this.#llama = undefined;
    this.#pool = undefined;
    this.#grammars = undefined;
    await ctx?.dispose();
    await model?.dispose();
    await llama?.dispose();
  }
}
