export * from "./types.ts";
export { IncrementalDetokenizer, LlamaEngine, defaultThreads, type LlamaEngineOptions } from "./llama.ts";
export { OpenAIEngine, sseData, type OpenAIEngineOptions } from "./openai.ts";
export { StubEngine, STUB_MODEL_ID } from "./stub.ts";
export {
  bundledModelPath,
  cacheFileName,
  defaultModelCacheDir,
  downloadModel,
  isUrl,
  resolveModelFile,
  sha256File,
  type DownloadProgress,
  type ModelFileOptions,
} from "./model-file.ts";

import { LlamaEngine, type LlamaEngineOptions } from "./llama.ts";
import { OpenAIEngine, type OpenAIEngineOptions } from "./openai.ts";
import { StubEngine } from "./stub.ts";
import type { Engine } from "./types.ts";

export type EngineConfig =
  | ({ kind: "llama" } & LlamaEngineOptions)
  | ({ kind: "openai" } & OpenAIEngineOptions)
  | { kind: "stub" };

export function createEngine(config: EngineConfig): Engine {
  switch (config.kind) {
    case "llama":
      return new LlamaEngine(config);
    case "openai":
      return new OpenAIEngine(config);
    case "stub":
      return new StubEngine();
  }
}
