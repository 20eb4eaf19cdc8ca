// The receipt checks the Chat page lists must account for every finding verifyReceipt can make.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FINDING_CODES } from "@cocore/protocol";
import { RECEIPT_CHECKS, receiptChecks } from "../src/checks.ts";

test("every finding code belongs to exactly one listed check", () => {
  const listed = RECEIPT_CHECKS.flatMap((c) => c.codes);
  assert.deepEqual([...listed].sort(), [...FINDING_CODES].sort());
});

test("a finding fails its own check and no other", () => {
  const r = receiptChecks([{ code: "price-mismatch", message: "price is not the rate formula" }]);
  assert.deepEqual(r.filter((c) => !c.ok).map((c) => c.label), ["Price is the exchange's token rate, within the ceiling"]);
  assert.ok(receiptChecks([]).every((c) => c.ok));
});
