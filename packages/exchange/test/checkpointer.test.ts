import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sql } from "kysely";
import { openLedgerDb } from "../src/index.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a file ledger's WAL is checkpointed into the database file by the checkpointer thread", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cocore-ckpt-"));
  const file = join(dir, "ledger.db");
  const ldb = await openLedgerDb(`sqlite:${file}`);
  try {
    const before = statSync(file).size;
    // ~4 MB in a few commits: far below SQLite's own automatic checkpoint (10,000 pages), so only
    // the checkpointer thread can have copied it into the database file.
    const value = "x".repeat(4000);
    for (let t = 0; t < 4; t++) {
      await ldb.write(async (tx) => {
        for (let i = 0; i < 250; i++) await sql`insert into meta (key, value) values (${`k${t}-${i}`}, ${value})`.execute(tx);
      });
      await sleep(250); // past the kick interval, so the next commit asks for a checkpoint
    }
    let grown = false;
    for (let i = 0; i < 40 && !grown; i++) {
      grown = statSync(file).size > before + 3_000_000;
      if (!grown) await sleep(50);
    }
    assert.ok(grown, `database file ${statSync(file).size} bytes, was ${before}`);
    const n = await ldb.db.selectFrom("meta").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow();
    assert.ok(Number(n.n) >= 1000);
  } finally {
    await ldb.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
