// The settle bench is not timed here (figures belong to `cocore bench`), but it must keep working:
// a small run settles every receipt on both databases, leaves a consistent ledger (the bench
// checks both itself and throws), and reports the figures that explain its rate.
import assert from "node:assert/strict";
import { test } from "node:test";
import { benchSettle } from "../../../bench/settle.ts";
import { PG_ADMIN_URL, pgSkip } from "./support.ts";

test("a small settle bench run settles everything and reports its cost figures", async () => {
  const r = await benchSettle({ receipts: 300, batch: 120, pgUrl: PG_ADMIN_URL });
  assert.equal(r.receipts, 300);
  assert.ok(r.sqliteReceiptsPerSec > 0 && r.sqliteCpuUsPerReceipt > 0);
  assert.ok(r.checksUsPerReceipt > 0 && r.p256VerifyPerSecPerCore > 0);
  if (!pgSkip) assert.ok(r.postgresReceiptsPerSec !== null && r.postgresReceiptsPerSec > 0 && r.postgresCpuUsPerReceipt !== null);
});
