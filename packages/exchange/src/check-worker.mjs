// Worker entry point. Workers inherit neither tsx's in-process registration (the CLI) nor its
// `--import` preload (the test runner), so the loader is registered here before the TypeScript.
import { register } from "tsx/esm/api";
register();
await import("./check-worker.ts");
