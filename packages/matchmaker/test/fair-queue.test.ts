// The fair queue's rules as properties over random sequences of arrivals, departures and freed
// slots: the bound holds, a requester's jobs keep their order, round-robin shares the slots, no
// waiting job is starved, and the reported positions are the order the queue actually serves.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { FairQueue } from "../src/fair-queue.ts";
import { expectedWaitMs, retryAfterSeconds, ServiceRate } from "../src/service-rate.ts";

interface Item {
  id: number;
  requester: string;
  /** Which machine can run it (a job is sealed to one machine's key). */
  machine: number;
}

type Op = { kind: "push"; requester: number; machine: number } | { kind: "take"; machine: number | null } | { kind: "remove"; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("push" as const), requester: fc.nat(5), machine: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("take" as const), machine: fc.option(fc.nat(1), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), pick: fc.nat(1000) }) },
);

/** Runs `ops`; `observe` sees the queue before each op and what it did. */
function drive(max: number, ops: Op[], observe: (q: FairQueue<Item>, o: Op, result: { pushed?: boolean; taken?: Item; removed?: Item }) => void): void {
  const q = new FairQueue<Item>(max);
  const waiting: Item[] = [];
  let next = 0;
  for (const o of ops) {
    if (o.kind === "push") {
      const item = { id: next++, requester: `r${o.requester}`, machine: o.machine };
      const sizeBefore = q.size;
      const pushed = q.push(item.requester, item);
      assert.equal(pushed, sizeBefore < max, "a push is refused exactly when the queue is full");
      if (pushed) waiting.push(item);
      observe(q, o, { pushed });
    } else if (o.kind === "take") {
      const fits = o.machine === null ? undefined : (i: Item) => i.machine === o.machine;
      const expected = q.order().find((i) => !fits || fits(i));
      const taken = q.take(fits);
      if (o.machine === null) assert.equal(taken, expected, "take() serves the head of order()");
      if (taken) waiting.splice(waiting.indexOf(taken), 1);
      observe(q, o, { taken });
    } else {
      const victim = waiting[o.pick % Math.max(1, waiting.length)];
      if (victim) {
        assert.equal(q.remove(victim), true);
        waiting.splice(waiting.indexOf(victim), 1);
      }
      observe(q, o, { removed: victim });
    }
    assert.ok(q.size <= max, "never more than the bound");
    assert.equal(q.size, waiting.length);
  }
}

test("the bound is respected and a refused push changes nothing", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 8 }), fc.array(op, { maxLength: 200 }), (max, ops) => {
      drive(max, ops, () => {});
    }),
    { numRuns: 300 },
  );
});

test("a requester's jobs keep their order (among those a machine can run)", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const lastTaken = new Map<string, number>();
      drive(64, ops, (_q, _o, r) => {
        if (!r.taken) return;
        // Ids grow with arrival, and every job a machine can run is equally eligible for it.
        const key = `${r.taken.requester}/${r.taken.machine}`;
        assert.ok((lastTaken.get(key) ?? -1) < r.taken.id, `${key} served out of order`);
        lastTaken.set(key, r.taken.id);
      });
    }),
    { numRuns: 300 },
  );
});

test("round-robin: while a requester keeps waiting, nobody else is served twice between its turns", () => {
  fc.assert(
    fc.property(fc.array(op.filter((o) => o.kind !== "take" || o.machine === null), { maxLength: 250 }), (ops) => {
      // For every requester: who has been served since its last turn (or since it started waiting).
      const since = new Map<string, Map<string, number>>();
      drive(64, ops, (q, _o, r) => {
        if (r.taken) {
          for (const [who, counts] of since) {
            if (who === r.taken.requester) continue;
            const n = (counts.get(r.taken.requester) ?? 0) + 1;
            assert.ok(n <= 1, `${r.taken.requester} was served twice while ${who} waited`);
            counts.set(r.taken.requester, n);
          }
          since.set(r.taken.requester, new Map());
        }
        // Only requesters still waiting are owed a turn.
        const waiting = new Set(q.order().map((i) => i.requester));
        for (const who of [...since.keys()]) if (!waiting.has(who)) since.delete(who);
        for (const who of waiting) if (!since.has(who)) since.set(who, new Map());
      });
    }),
    { numRuns: 300 },
  );
});

test("no starvation: a requester's oldest job is served within one turn of each requester waiting when it looked", () => {
  fc.assert(
    fc.property(fc.array(op.filter((o) => o.kind !== "take" || o.machine === null), { maxLength: 250 }), (ops) => {
      // Watches: an oldest job, how many requesters were waiting then, and takes since.
      const watches: Array<{ item: Item; bound: number; takes: number }> = [];
      drive(64, ops, (q, _o, r) => {
        for (const w of [...watches]) {
          if (r.removed === w.item) watches.splice(watches.indexOf(w), 1);
          else if (r.taken) {
            w.takes += 1;
            if (r.taken === w.item) {
              assert.ok(w.takes <= w.bound, `served after ${w.takes} takes with ${w.bound} requesters waiting`);
              watches.splice(watches.indexOf(w), 1);
            } else assert.ok(w.takes < w.bound, `still waiting after ${w.takes} takes with ${w.bound} requesters waiting`);
          }
        }
        const order = q.order();
        const heads = new Map<string, Item>();
        for (const i of order) if (!heads.has(i.requester)) heads.set(i.requester, i);
        for (const head of heads.values()) if (!watches.some((w) => w.item === head)) watches.push({ item: head, bound: q.requesters, takes: 0 });
      });
    }),
    { numRuns: 300 },
  );
});

test("positions are the order the queue serves in", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
      drive(64, ops, (q) => {
        const order = q.order();
        order.forEach((item, k) => assert.equal(q.position(item), k + 1));
        assert.equal(new Set(order).size, q.size);
      });
    }),
    { numRuns: 200 },
  );
});

test("a single job arriving during a burst is served next but one", () => {
  const q = new FairQueue<string>(256);
  for (let i = 0; i < 100; i++) q.push("burst", `b${i}`);
  assert.equal(q.take(), "b0");
  q.push("single", "s");
  assert.equal(q.position("s"), 2);
  assert.equal(q.take(), "b1");
  assert.equal(q.take(), "s");
  assert.equal(q.take(), "b2");
});

test("service rate, expected wait and Retry-After come from observed service times", () => {
  const rate = new ServiceRate(4);
  assert.equal(rate.observed, 0);
  assert.equal(rate.perSecond(2), 2, "one second per job is assumed before any finished");
  for (const ms of [100, 300, 200, 200]) rate.record(ms);
  assert.equal(rate.meanServiceMs(), 200);
  assert.equal(rate.perSecond(1), 5);
  rate.record(1000); // the window slides: 300, 200, 200, 1000
  assert.equal(rate.meanServiceMs(), 425);
  const fast = new ServiceRate();
  fast.record(100);
  assert.equal(expectedWaitMs(3, 2, 2, fast), 150);
  assert.equal(expectedWaitMs(3, 2, 1, fast), 0, "a free slot means no wait");
  assert.equal(expectedWaitMs(1, 0, 0, fast), Number.POSITIVE_INFINITY, "no slot serves the model");
  assert.equal(retryAfterSeconds(100, 1, fast), 10);
  assert.equal(retryAfterSeconds(1, 4, fast), 1, "at least a second");
});
