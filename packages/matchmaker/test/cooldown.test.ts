// The cool-down rule (src/cooldown.ts): escalation is monotone and capped, nothing cools below the
// threshold, and a success or a quiet period starts a key over.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { afterFailure, backoffMs, Cooldowns, coolingUntil, DEFAULT_COOLDOWN_POLICY, isQuiet, type BackoffRule, type CooldownState } from "../src/cooldown.ts";

const rule = fc.record({
  threshold: fc.integer({ min: 1, max: 6 }),
  baseMs: fc.integer({ min: 1, max: 60_000 }),
  maxMs: fc.integer({ min: 1, max: 3_600_000 }),
  quietMs: fc.integer({ min: 1, max: 3_600_000 }),
}).filter((r) => r.maxMs >= r.baseMs);

/** Failures at increasing times, each gap shorter than the quiet period (so none is forgotten). */
function failuresInARow(r: BackoffRule, gaps: number[], start = 1_000): CooldownState[] {
  const out: CooldownState[] = [];
  let s: CooldownState | undefined;
  let now = start;
  for (const g of gaps) {
    now += g % r.quietMs;
    s = afterFailure(s, now, r);
    out.push(s);
  }
  return out;
}

test("the default back-off: 5 s, 10 s, 20 s … from the third failure, capped at 5 min", () => {
  const r = DEFAULT_COOLDOWN_POLICY;
  assert.deepEqual([1, 2, 3, 4, 5, 6, 12, 1000].map((n) => backoffMs(n, r)), [0, 0, 5_000, 10_000, 20_000, 40_000, 300_000, 300_000]);
});

test("escalation is monotone in the failures and never above the cap; nothing cools below the threshold", () => {
  fc.assert(
    fc.property(rule, fc.integer({ min: 0, max: 10_000 }), (r, n) => {
      const a = backoffMs(n, r);
      const b = backoffMs(n + 1, r);
      assert.ok(Number.isFinite(a) && a >= 0 && a <= r.maxMs);
      assert.ok(b >= a, `backoff(${n + 1}) = ${b} < backoff(${n}) = ${a}`);
      assert.equal(a === 0, n < r.threshold);
    }),
  );
});

test("failures in a row count up, cool from the threshold on, and a later failure never ends a cooling sooner", () => {
  fc.assert(
    fc.property(rule, fc.array(fc.integer({ min: 0, max: 3_600_000 }), { minLength: 1, maxLength: 40 }), (r, gaps) => {
      const states = failuresInARow(r, gaps);
      states.forEach((s, i) => {
        assert.equal(s.failures, i + 1);
        const cooling = coolingUntil(s, s.lastFailureAt);
        if (i + 1 < r.threshold) assert.equal(cooling, undefined);
        else assert.equal(cooling, Math.max(s.lastFailureAt + backoffMs(i + 1, r), states[i - 1]?.coolingUntil ?? 0));
        if (i > 0) assert.ok(s.coolingUntil >= states[i - 1]!.coolingUntil);
      });
    }),
  );
});

test("a quiet period after the cooling ended starts the count over; a shorter one does not", () => {
  fc.assert(
    fc.property(rule, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 3_600_000 }), (r, n, extra) => {
      const s = failuresInARow(r, Array.from({ length: n }, () => 1)).at(-1)!;
      const quietAt = Math.max(s.lastFailureAt, s.coolingUntil) + r.quietMs;
      assert.ok(isQuiet(s, quietAt + extra, r));
      assert.equal(afterFailure(s, quietAt + extra, r).failures, 1);
      assert.ok(!isQuiet(s, quietAt - 1, r));
      assert.equal(afterFailure(s, quietAt - 1, r).failures, n + 1);
    }),
  );
});

test("Cooldowns: cools at the threshold on its clock, forgets on success and after a quiet period", () => {
  let now = 1_000_000;
  const r = { threshold: 2, baseMs: 1_000, maxMs: 8_000, quietMs: 60_000 };
  const c = new Cooldowns(r, () => now);
  c.fail("m");
  assert.equal(c.until("m"), undefined, "one failure does not cool");
  c.fail("m");
  assert.equal(c.until("m"), now + 1_000);
  c.fail("m");
  assert.equal(c.until("m"), now + 2_000, "escalated");
  now += 2_000;
  assert.equal(c.until("m"), undefined, "the cooling ended: routable again");
  assert.equal(c.state("m")?.failures, 3, "but one more failure would cool it longer");
  c.succeed("m");
  assert.equal(c.state("m"), undefined, "a success forgets");
  for (let i = 0; i < 3; i++) c.fail("q");
  now += 2_000 + 60_000;
  assert.equal(c.state("q"), undefined, "a quiet period forgets");
  assert.deepEqual(c.entries(), []);
});

test("Cooldowns keeps a bounded number of keys, dropping the oldest", () => {
  let now = 0;
  const c = new Cooldowns({ threshold: 1, baseMs: 1, maxMs: 1, quietMs: 3_600_000 }, () => now);
  for (let i = 0; i < 10_050; i++) {
    now += 1;
    c.fail(`k${i}`);
  }
  const keys = c.entries().map(([k]) => k);
  assert.equal(keys.length, 10_000);
  assert.ok(!keys.includes("k0") && keys.includes("k10049"));
});
