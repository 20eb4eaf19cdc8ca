// Which models this machine serves right now. `reconcile(ids)` loads the wanted set (desiredModels
// or the local default), keeps what loaded and leaves out what did not; when nothing loads the
// machine falls back to the `stub` engine and reports engineFault `model-load-failed` (seed 003).
import type { Fault } from "./provider-record.ts";
import type { ModelRunner } from "./model-runner.ts";
import type { EngineState } from "./matchmaker-protocol.ts";
import { createEngineLoader } from "./engine-adapters.ts";
import { STUB_MODEL_ID, type EngineKind } from "./engines/index.ts";

export interface LoadedModel extends ModelRunner {
  /** Jobs of this model the engine runs at once (default 1); the agent advertises and enforces it. */
  readonly concurrency?: number;
  dispose(): Promise<void>;
}

/** Loads one model by id; throws (with a content-safe message) when it cannot. */
export interface EngineLoader {
  load(modelId: string): Promise<LoadedModel>;
  /** The always-available no-op engine served when the configured one fails. */
  stub(): Promise<LoadedModel>;
  dispose?(): Promise<void>;
}

export interface EngineHostOptions {
  kind: EngineKind;
  defaultModelId: string;
  model?: string;
  modelsDir?: string;
  threads?: number;
  /** Jobs per model at once (llama: context sequences; openai: requests in flight upstream). Default 1. */
  parallel?: number;
  openaiBase?: string;
  openaiApiKey?: string;
  loader?: EngineLoader;
  log: (line: string) => void;
}

export class EngineHost {
  readonly defaultModelId: string;
  private loaded = new Map<string, LoadedModel>();
  private readonly loader: EngineLoader;
  state: EngineState = "loading";
  fault: Fault | undefined;

  constructor(private readonly opts: EngineHostOptions) {
    this.defaultModelId = opts.kind === "stub" ? STUB_MODEL_ID : opts.defaultModelId;
    this.loader = opts.loader ?? createEngineLoader(opts);
  }

  get supported(): string[] {
    return [...this.loaded.keys()];
  }

  runner(modelId: string): ModelRunner | undefined {
    return this.loaded.get(modelId);
  }

  /** Jobs of `modelId` to run at once: what its engine was loaded for, 1 for a model not loaded. */
  concurrency(modelId: string): number {
    const n = this.loaded.get(modelId)?.concurrency ?? 1;
    return Number.isInteger(n) && n > 0 ? n : 1;
  }

  async reconcile(wanted: string[]): Promise<void> {
    this.state = "loading";
    const want = [...new Set(wanted)];
    // Unload what is no longer wanted first: memory for the new set may depend on it.
    for (const [id, m] of this.loaded) {
      if (!want.includes(id)) {
        this.loaded.delete(id);
        await m.dispose().catch(() => {});
      }
    }
    const failed: Array<{ id: string; reason: string }> = [];
    for (const id of want) {
      if (this.loaded.has(id)) continue;
      try {
        const m = id === STUB_MODEL_ID ? await this.loader.stub() : await this.loader.load(id);
        this.loaded.set(id, m);
        this.opts.log(`loaded model ${id}`);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        failed.push({ id, reason });
        this.opts.log(`model ${id} did not load: ${reason}`);
      }
    }
    if (failed.length === 0) {
      this.fault = undefined;
      this.state = "ready";
      return;
    }
    if (this.loaded.size === 0) {
      this.loaded.set(STUB_MODEL_ID, await this.loader.stub());
      this.state = "fault";
    } else {
      this.state = "ready";
    }
    const detail = failed.map((f) => `${f.id}: ${f.reason}`).join("; ");
    this.fault = {
      code: "model-load-failed",
      message: `Could not load ${failed.map((f) => f.id).join(", ")} (${detail}). Check the model path or URL and that the file is a GGUF that fits in memory, then restart the agent or change desiredModels.`.slice(0, 600),
      at: new Date().toISOString(),
      models: failed.map((f) => f.id),
    };
  }

  async dispose(): Promise<void> {
    for (const m of this.loaded.values()) await m.dispose().catch(() => {});
    this.loaded.clear();
    await this.loader.dispose?.();
  }
}
