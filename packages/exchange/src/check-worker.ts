// Worker side of the check pool: answers batches of CheckItems in order.
import { parentPort } from "node:worker_threads";
import { checkItem, type CheckItem, type CheckResult } from "./check.ts";

parentPort!.on("message", (msg: { id: number; items: CheckItem[] }) => {
  let out: CheckResult[] | undefined;
  let error: string | undefined;
  try {
    out = msg.items.map(checkItem);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  parentPort!.postMessage({ id: msg.id, out, error });
});
