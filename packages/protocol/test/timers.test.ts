import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_TIMER_MS, timerDelay } from "../src/timers.ts";

test("timerDelay keeps a delay within what setTimeout honours", () => {
  assert.equal(MAX_TIMER_MS, 2_147_483_647);
  assert.equal(timerDelay(30 * 86_400_000), MAX_TIMER_MS);
  assert.equal(timerDelay(Number.POSITIVE_INFINITY), MAX_TIMER_MS);
  assert.equal(timerDelay(-5), 0);
  assert.equal(timerDelay(Number.NaN), 0);
  assert.equal(timerDelay(1234), 1234);
});
