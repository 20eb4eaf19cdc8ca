import assert from "node:assert/strict";
import test from "node:test";
import fc from "fast-check";
import { ConcurrencyCaps, TokenBuckets } from "../src/index.ts";

const spec = fc.record({ burst: fc.integer({ min: 1, max: 50 }), perSecond: fc.double({ min: 0.01, max: 100, noNaN: true }) });
const steps = fc.array(fc.record({ dt: fc.integer({ min: 0, max: 5_000 }), key: fc.constantFrom("a", "b", "c"), cost: fc.integer({ min: 1, max: 5 }) }), { maxLength: 200 });

test("no key ever spends more than its burst plus what it earned", () => {
  fc.assert(
    fc.property(spec, steps, (s, seq) => {
      const buckets = new TokenBuckets(s);
      let now = 1_000_000;
      const spent = new Map<string, number>();
      const first = new Map<string, number>();
      for (const { dt, key, cost } of seq) {
        now += dt;
        if (!first.has(key)) first.set(key, now);
        if (buckets.take(key, now, cost).ok) spent.set(key, (spent.get(key) ?? 0) + cost);
        const earned = ((now - first.get(key)!) / 1000) * s.perSecond;
        assert.ok((spent.get(key) ?? 0) <= s.burst + earned + 1e-9, `${key} spent ${spent.get(key)} > ${s.burst} + ${earned}`);
      }
    }),
  );
});

test("a refusal's retryAfterMs is when the same take succeeds, and not a millisecond long before", () => {
  fc.assert(
    fc.property(spec, steps, fc.integer({ min: 1, max: 5 }), (s, seq, cost) => {
      fc.pre(cost <= s.burst);
      const buckets = new TokenBuckets(s);
      let now = 0;
      for (const { dt, key, cost: c } of seq) buckets.take(key, (now += dt), c);
      const r = buckets.take("a", now, cost);
      if (r.ok) return;
      assert.ok(buckets.take("a", now + r.retryAfterMs, cost).ok, `refused until ${r.retryAfterMs} ms, still refused then`);
      // Earlier than a millisecond before, the tokens were not there yet.
      if (r.retryAfterMs > 1) assert.ok(buckets.available("a", now + r.retryAfterMs - 2) < cost);
    }),
  );
});

test("a full bucket allows exactly its burst at one instant; a cost above the burst never succeeds", () => {
  const b = new TokenBuckets({ burst: 5, perSecond: 1 });
  for (let i = 0; i < 5; i++) assert.ok(b.take("k", 0).ok);
  const refused = b.take("k", 0);
  assert.deepEqual(refused, { ok: false, retryAfterMs: 1000 });
  assert.deepEqual(b.take("k", 0, 6), { ok: false, retryAfterMs: Number.POSITIVE_INFINITY });
  assert.ok(b.take("other", 0).ok, "another key is untouched");
});

test("a clock that steps back mints nothing", () => {
  const b = new TokenBuckets({ burst: 2, perSecond: 1 });
  assert.ok(b.take("k", 10_000, 2).ok);
  assert.equal(b.take("k", 0).ok, false);
  assert.equal(b.take("k", 10_500).ok, false, "half a second after the latest time seen: half a token");
  assert.ok(b.take("k", 11_000).ok);
});

test("memory stays bounded under a flood of distinct keys; forgetting prefers refilled buckets", () => {
  const b = new TokenBuckets({ burst: 3, perSecond: 1 }, 100);
  b.take("busy", 0, 3);
  for (let i = 0; i < 1_000; i++) {
    b.take(`flood-${i}`, 0);
    b.take("busy", 0); // keeps "busy" recently used and empty
    assert.ok(b.size <= 100);
  }
  assert.equal(b.take("busy", 0).ok, false, "the empty bucket in use was not forgotten");
  // Refilled buckets go before the longest-idle partial ones.
  const c = new TokenBuckets({ burst: 3, perSecond: 0.1 }, 2);
  c.take("partial", 0, 3); // longest idle, and at 10 s only one token back
  c.take("refilled", 0); // full again by 10 s
  c.take("new", 10_000);
  assert.equal(c.size, 2);
  assert.equal(Math.round(c.available("partial", 10_000)), 1, "the partial bucket was kept (forgotten, it would be full)");
});

test("rates need a positive burst and refill", () => {
  assert.throws(() => new TokenBuckets({ burst: 0, perSecond: 1 }), RangeError);
  assert.throws(() => new TokenBuckets({ burst: 1, perSecond: 0 }), RangeError);
  assert.throws(() => new TokenBuckets({ burst: Number.NaN, perSecond: 1 }), RangeError);
});

test("a concurrency cap holds against any order of acquires and (repeated) releases", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.oneof(fc.record({ op: fc.constant("acquire" as const), key: fc.constantFrom("a", "b") }), fc.record({ op: fc.constant("release" as const), i: fc.nat() })), { maxLength: 100 }),
      (max, ops) => {
        const caps = new ConcurrencyCaps(max);
        const held: Array<{ key: string; release: () => void; live: boolean }> = [];
        for (const o of ops) {
          if (o.op === "acquire") {
            const live = held.filter((h) => h.live && h.key === o.key).length;
            const r = caps.acquire(o.key);
            assert.equal(r !== null, live < max, `acquire with ${live} of ${max} held`);
            if (r) held.push({ key: o.key, release: r, live: true });
          } else if (held.length > 0) {
            const h = held[o.i % held.length]!;
            h.release(); // releasing twice must change nothing
            h.live = false;
          }
          for (const key of ["a", "b"]) assert.equal(caps.held(key), held.filter((h) => h.live && h.key === key).length);
        }
        assert.equal(caps.keys, new Set(held.filter((h) => h.live).map((h) => h.key)).size);
      },
    ),
  );
});
