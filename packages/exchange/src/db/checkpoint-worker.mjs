// Checkpointer thread (see checkpointer.ts). Plain JavaScript: it needs only better-sqlite3, so it
// skips the TypeScript loader the other workers register. Each "go" runs passive checkpoints until
// one finds nothing left to copy; passive never blocks the writer on the other connection.
import { parentPort, workerData } from "node:worker_threads";
import BetterSqlite3 from "better-sqlite3";

const db = new BetterSqlite3(workerData.file);
db.pragma("busy_timeout = 10000");
const checkpoint = db.prepare("pragma wal_checkpoint(passive)");

parentPort.on("message", (msg) => {
  if (msg === "close") {
    db.close();
    parentPort.close();
    return;
  }
  let error;
  try {
    for (let round = 0; round < 16; round++) {
      const r = checkpoint.get();
      // busy = 1: a connection held the checkpoint lock; log = WAL frames; checkpointed = copied.
      if (r.busy !== 0 || r.log === r.checkpointed) break;
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  parentPort.postMessage({ done: true, error });
});
