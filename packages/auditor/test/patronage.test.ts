// Patronage checks on synthetic records (periods are 30 days long, too long for the live test):
// a published period against the pure ledger's distribution of the same scores and treasury.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ExportedRecord } from "@cocore/atproto";
import { distributePeriod, periodBounds, policyFromRecord } from "@cocore/protocol";
import type { Discrepancy } from "../src/codes.ts";
import { checkPublishedPeriods, comparePatronage, type PublishedShare } from "../src/facts.ts";

const EX = "did:plc:exchange00000000000000c";
const policy = policyFromRecord({
  exchange: EX,
  fee: { bps: 500, minMinor: 0, currency: "TOK" },
  selfLoop: { feeWaived: true },
  patronageDistribution: { fractionBps: 8000, cadenceDays: 30 },
  createdAt: "2026-01-01T00:00:00.000Z",
});
const scores = new Map([
  ["did:plc:a", 3],
  ["did:plc:b", 3],
  ["did:plc:c", 1],
]);
const period = periodBounds(policy, 0);
const { result } = distributePeriod({ policy, period, treasuryBefore: 1001, scores, available: 1001 });

function published(credited: Record<string, number>): PublishedShare[] {
  return Object.entries(credited).map(([did, c]) => ({
    rec: { uri: `at://${EX}/dev.cocore.account.tokenPatronage/${did.slice(-1)}`, collection: "", rkey: "", cid: "", value: {} } as ExportedRecord,
    start: result.start,
    end: result.end,
    did,
    credited: c,
    score: scores.get(did)!,
    total: 7,
    treasuryBefore: 1001,
  }));
}

function check(shares: PublishedShare[]): string[] {
  const out: Discrepancy[] = [];
  checkPublishedPeriods(shares, policy, new Map([[result.start, result]]), (d) => out.push(d));
  comparePatronage(shares, [result], (d) => out.push(d));
  return out.map((d) => d.code).sort();
}

test("the largest-remainder split the rules make is accepted", () => {
  // pool 800: 342.857…, 342.857…, 114.285… → 343, 343, 114
  const honest = Object.fromEntries(result.shares.map((s) => [s.did, s.credited]));
  assert.deepEqual(honest, { "did:plc:a": 343, "did:plc:b": 343, "did:plc:c": 114 });
  assert.deepEqual(check(published(honest)), []);
});

test("shares that miss the pool, a wrong remainder, a missing and an extra share", () => {
  assert.deepEqual(check(published({ "did:plc:a": 343, "did:plc:b": 343, "did:plc:c": 115 })), ["patronage-mismatch", "patronage-sum-mismatch"]);
  assert.deepEqual(check(published({ "did:plc:a": 344, "did:plc:b": 342, "did:plc:c": 114 })), ["patronage-mismatch", "patronage-mismatch", "patronage-split-mismatch"]);
  assert.deepEqual(check(published({ "did:plc:a": 343, "did:plc:b": 343 })), ["patronage-missing", "patronage-sum-mismatch"]);
  const extra = published({ "did:plc:a": 343, "did:plc:b": 343, "did:plc:c": 114 });
  extra.push({ ...extra[2]!, did: "did:plc:d", credited: 0 });
  assert.ok(check(extra).includes("patronage-unexpected"));
});
