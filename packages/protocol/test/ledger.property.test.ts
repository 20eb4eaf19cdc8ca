// Property tests of the ledger rules against a small reference model written independently of
// packages/protocol/src/ledger (it shares only the types): plain Number arithmetic on small
// values, linear scans instead of indexes, no shared helpers.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  applyEvents,
  emptyState,
  LedgerError,
  replay,
  type LedgerEvent,
  type LedgerPolicy,
  type LedgerState,
  type Movement,
  type ParkedReceipt,
  type PeriodResult,
  type ReceiptEvent,
  type Settlement,
} from "../src/ledger/index.ts";

const DIDS = ["did:plc:alice", "did:plc:bob", "did:plc:carol", "did:plc:dave"];
const TREASURY = "did:web:exchange.test";
const T0 = Date.parse("2026-05-01T00:00:00.000Z");
const STEP = 30 * 60_000;
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------------------------

interface RefResult {
  balances: Record<string, number>;
  treasury: number;
  movements: Movement[];
  parked: ParkedReceipt[];
  rejected: string[];
  settlements: Settlement[];
  patronage: PeriodResult[];
}

interface RefReceipt {
  ev: ReceiptEvent;
  fp: string;
  ms: number;
  status: "parked" | "settled" | "rejected";
  settledAt: number;
  kind: "transfer" | "self-loop" | "pro-bono";
  charged: number;
  payout: number;
}

const RANK: Record<LedgerEvent["type"], number> = { touch: 0, receipt: 1, grant: 2, refresh: 3, tick: 4 };

function refReplay(input: LedgerEvent[], p: LedgerPolicy): RefResult {
  // Canonical order; identical events collapse to one.
  const seen = new Set<string>();
  const events = input
    .filter((e) => {
      const k = JSON.stringify(e);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .map((e) => ({ e, ms: Date.parse(e.at), sub: e.type === "receipt" ? e.uri : e.type === "tick" ? "" : e.did }))
    .sort((a, b) => a.ms - b.ms || RANK[a.e.type] - RANK[b.e.type] || (a.sub < b.sub ? -1 : a.sub > b.sub ? 1 : 0));

  const bal = new Map<string, number>();
  const granted = new Set<string>();
  const lastRefresh = new Map<string, number>();
  const used = new Map<string, string>();
  const movements: Movement[] = [];
  const receipts = new Map<string, RefReceipt>();
  const settlements: Settlement[] = [];
  const rejected: string[] = [];
  const patronage: PeriodResult[] = [];
  let distributed = 0;

  const ensure = (did: string) => {
    if (!bal.has(did)) bal.set(did, 0);
  };
  const move = (key: string, kind: Movement["kind"], from: string | null, to: string, amount: number, ms: number): boolean => {
    const payload = JSON.stringify([kind, from, to, amount, ms]);
    const prior = used.get(key);
    if (prior !== undefined) {
      if (prior === payload) return false;
      throw new LedgerError("idempotency-conflict", key);
    }
    used.set(key, payload);
    ensure(to);
    if (amount === 0) return true;
    if (from !== null) {
      assert.ok(bal.get(from)! >= amount, "reference: overdraw");
      bal.set(from, bal.get(from)! - amount);
    }
    bal.set(to, bal.get(to)! + amount);
    movements.push({ key, kind, from, to, amount, at: iso(ms) });
    return true;
  };
  const touch = (did: string, t: number) => {
    ensure(did);
    if (!granted.has(did)) {
      granted.add(did);
      lastRefresh.set(did, t);
      move(`grant:${did}`, "grant", null, did, p.tokenGrant, t);
    } else if (p.refresh && t - lastRefresh.get(did)! >= p.refresh.cadenceMinutes * 60_000) {
      lastRefresh.set(did, t);
      move(`refresh:${did}:${iso(t)}`, "refresh", null, did, p.refresh.amountPerDid, t);
    }
  };
  const split = (r: ReceiptEvent) => {
    if (r.proBono) return { kind: "pro-bono" as const, charged: 0, payout: 0, fee: 0 };
    const self = r.requester === r.provider;
    if (self && p.selfLoopFeeWaived) return { kind: "self-loop" as const, charged: 0, payout: 0, fee: 0 };
    const price = r.price.amount;
    const min = self && p.selfLoopMinMinor !== undefined ? p.selfLoopMinMinor : p.feeMinMinor;
    const fee = Math.min(price, Math.max(Math.floor((price * p.feeBps) / 10_000), min));
    return { kind: self ? ("self-loop" as const) : ("transfer" as const), charged: price, payout: price - fee, fee };
  };
  const settlePass = (t: number) => {
    for (;;) {
      const waiting = [...receipts.values()]
        .filter((r) => r.status === "parked")
        .sort((a, b) => a.ms - b.ms || (a.ev.uri < b.ev.uri ? -1 : 1));
      const next = waiting.find((r) => bal.get(r.ev.requester)! >= split(r.ev).charged);
      if (!next) return;
      const s = split(next.ev);
      const { uri, requester, provider } = next.ev;
      if (s.payout > 0 && requester !== provider) move(`rcpt:${uri}:payout`, "payout", requester, provider, s.payout, t);
      if (s.fee > 0 && requester !== p.treasury) move(`rcpt:${uri}:fee`, "fee", requester, p.treasury, s.fee, t);
      Object.assign(next, { status: "settled", settledAt: t, kind: s.kind, charged: s.charged, payout: s.payout });
      settlements.push({ uri, requester, provider, kind: s.kind, charged: s.charged, payout: s.payout, fee: s.fee, settledAt: iso(t) });
    }
  };
  const tick = (t: number) => {
    if (!p.patronage) return;
    const len = p.patronage.cadenceDays * DAY;
    while (p.createdAt + (distributed + 1) * len <= t) {
      const start = p.createdAt + distributed * len;
      const end = start + len;
      let before = 0;
      for (const m of movements) {
        if (Date.parse(m.at) >= end) continue;
        if (m.to === p.treasury) before += m.amount;
        if (m.from === p.treasury) before -= m.amount;
      }
      before = Math.max(0, before);
      const scores = new Map<string, number>();
      for (const r of receipts.values()) {
        if (r.status !== "settled" || r.kind !== "transfer" || r.settledAt < start || r.settledAt >= end) continue;
        for (const [did, n] of [
          [r.ev.requester, r.charged],
          [r.ev.provider, r.payout],
        ] as const) {
          if (did !== p.treasury) scores.set(did, (scores.get(did) ?? 0) + n);
        }
      }
      const members = [...scores].filter(([, s]) => s > 0).sort(([a], [b]) => (a < b ? -1 : 1));
      const total = members.reduce((t2, [, s]) => t2 + s, 0);
      const pool = total === 0 ? 0 : Math.min(Math.floor((before * p.patronage.fractionBps) / 10_000), Math.max(0, bal.get(p.treasury) ?? 0));
      const shares = members.map(([did, score]) => ({ did, score, credited: Math.floor((pool * score) / total), rem: (pool * score) % total }));
      let left = pool - shares.reduce((t2, s) => t2 + s.credited, 0);
      for (const s of [...shares].sort((a, b) => b.rem - a.rem || (a.did < b.did ? -1 : 1))) {
        if (left === 0) break;
        s.credited += 1;
        left -= 1;
      }
      for (const s of shares) if (s.credited > 0) move(`patronage:${iso(start)}:${s.did}`, "patronage", p.treasury, s.did, s.credited, end);
      patronage.push({
        start: iso(start),
        end: iso(end),
        pool,
        totalScore: total,
        treasuryBefore: before,
        shares: shares.map(({ did, score, credited }) => ({ did, score, credited })),
      });
      distributed += 1;
    }
  };

  for (let i = 0; i < events.length; ) {
    const t = events[i]!.ms;
    for (; i < events.length && events[i]!.ms === t; i++) {
      const e = events[i]!.e;
      if (e.type === "touch") touch(e.did, t);
      else if (e.type === "tick") tick(t);
      else if (e.type === "grant" || e.type === "refresh") {
        const key = e.type === "grant" ? `grant:${e.did}` : `refresh:${e.did}:${iso(t)}`;
        ensure(e.did);
        if (move(key, e.type, null, e.did, e.amount, t)) {
          if (e.type === "grant") granted.add(e.did);
          lastRefresh.set(e.did, Math.max(lastRefresh.get(e.did) ?? t, t));
        }
      } else {
        const fp = JSON.stringify([e.uri, e.requester, e.provider, e.tokens.in, e.tokens.out, e.price.amount, e.price.currency, !!e.proBono, t]);
        const prior = receipts.get(e.uri);
        if (prior) {
          if (prior.fp !== fp) throw new LedgerError("idempotency-conflict", e.uri);
          continue;
        }
        const r: RefReceipt = { ev: e, fp, ms: t, status: "parked", settledAt: 0, kind: "transfer", charged: 0, payout: 0 };
        receipts.set(e.uri, r);
        if (e.price.currency !== p.currency) {
          r.status = "rejected";
          rejected.push(e.uri);
          continue;
        }
        touch(e.requester, t);
        if (e.provider !== e.requester) touch(e.provider, t);
      }
    }
    settlePass(t);
  }

  ensure(p.treasury);
  const balances: Record<string, number> = {};
  for (const d of [...bal.keys()].sort()) balances[d] = bal.get(d)!;
  const parked = [...receipts.values()]
    .filter((r) => r.status === "parked")
    .sort((a, b) => a.ms - b.ms || (a.ev.uri < b.ev.uri ? -1 : 1))
    .map((r) => ({ uri: r.ev.uri, reason: "insufficient-balance" as const, requester: r.ev.requester, price: r.ev.price.amount, at: iso(r.ms) }));
  return { balances, treasury: balances[p.treasury]!, movements, parked, rejected, settlements, patronage };
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const arbPolicy: fc.Arbitrary<LedgerPolicy> = fc
  .record({
    feeBps: fc.oneof(fc.constant(500), fc.integer({ min: 0, max: 10_000 })),
    feeMinMinor: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 })),
    tokenGrant: fc.integer({ min: 0, max: 300 }),
    refresh: fc.option(fc.record({ amountPerDid: fc.integer({ min: 0, max: 120 }), cadenceMinutes: fc.integer({ min: 60, max: 600 }) }), { nil: undefined }),
    patronage: fc.option(fc.record({ fractionBps: fc.oneof(fc.constant(8000), fc.integer({ min: 0, max: 10_000 })), cadenceDays: fc.integer({ min: 1, max: 2 }) }), {
      freq: 4,
      nil: undefined,
    }),
    selfLoopFeeWaived: fc.boolean(),
    selfLoopMinMinor: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
  })
  .map((r) => {
    const p: LedgerPolicy = {
      exchange: TREASURY,
      feeBps: r.feeBps,
      feeMinMinor: r.feeMinMinor,
      currency: "TOK",
      tokenGrant: r.tokenGrant,
      tokenFloor: 0,
      selfLoopFeeWaived: r.selfLoopFeeWaived,
      treasury: TREASURY,
      createdAt: T0,
    };
    if (r.refresh) p.refresh = r.refresh;
    if (r.patronage) p.patronage = r.patronage;
    if (r.selfLoopMinMinor !== undefined) p.selfLoopMinMinor = r.selfLoopMinMinor;
    return p;
  });

const arbDid = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...DIDS) }, { weight: 1, arbitrary: fc.constant(TREASURY) });
// 30-minute steps over ~6.5 days, so events share instants, refreshes hit their boundary exactly,
// and several 1–2 day patronage periods pass.
const arbAt = fc.integer({ min: -4, max: 320 }).map((n) => iso(T0 + n * STEP));

const arbRaw = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant("touch" as const), did: arbDid, at: arbAt }) },
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant("receipt" as const),
      requester: arbDid,
      provider: arbDid,
      tokensIn: fc.integer({ min: 0, max: 100 }),
      price: fc.integer({ min: 0, max: 320 }),
      proBono: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      currency: fc.oneof({ weight: 15, arbitrary: fc.constant("TOK") }, { weight: 1, arbitrary: fc.constant("USD") }),
      at: arbAt,
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("tick" as const), at: arbAt }) },
);

// Published grant/refresh records that the rules did not derive (e.g. refreshes from balance
// reads); a grant fact often disagrees with a derived one and must then be a conflict.
const arbFact = fc.record({
  type: fc.oneof({ weight: 1, arbitrary: fc.constant("grant" as const) }, { weight: 5, arbitrary: fc.constant("refresh" as const) }),
  did: arbDid,
  amount: fc.integer({ min: 0, max: 150 }),
  at: arbAt,
});

type Raw = typeof arbRaw extends fc.Arbitrary<infer R> ? R : never;

function toEvents(raws: Raw[]): LedgerEvent[] {
  return raws.map((r, i): LedgerEvent => {
    if (r.type !== "receipt") return r;
    return {
      type: "receipt",
      uri: `at://${r.provider}/dev.cocore.compute.receipt/${i.toString().padStart(3, "0")}`,
      requester: r.requester,
      provider: r.provider,
      tokens: { in: r.tokensIn, out: r.price },
      price: { amount: r.price, currency: r.currency },
      ...(r.proBono ? { proBono: true } : {}),
      at: r.at,
    };
  });
}

/** A stream plus exact duplicates of some of its events. */
const arbStream = fc
  .tuple(fc.array(arbRaw, { maxLength: 80, size: "max" }), fc.array(fc.nat(), { maxLength: 6 }))
  .map(([raws, dups]) => {
    const events = toEvents(raws);
    for (const d of dups) if (events.length > 0) events.push(structuredClone(events[d % events.length]!));
    return events;
  });

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const RUNS = Number(process.env.LEDGER_PROPERTY_RUNS ?? 800);

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

let conflicts = 0;
test("replay agrees with the reference model, conserves tokens and never overdraws", () => {
  fc.assert(
    fc.property(arbPolicy, arbStream, fc.array(arbFact, { maxLength: 3 }), (policy, stream, facts) => {
      const events = [...stream, ...facts];
      let got: ReturnType<typeof replay>;
      try {
        got = replay(events, policy);
      } catch (err) {
        assert.ok(err instanceof LedgerError && err.code === "idempotency-conflict", String(err));
        assert.throws(() => refReplay(events, policy), (e: unknown) => e instanceof LedgerError && e.code === "idempotency-conflict");
        conflicts += 1;
        return;
      }
      const want = refReplay(events, policy);
      assert.deepEqual(got.balances, want.balances);
      assert.equal(got.treasury, want.treasury);
      assert.deepEqual(got.movements, want.movements);
      assert.deepEqual(got.parked, want.parked);
      assert.deepEqual(
        got.rejected.map((r) => r.uri),
        want.rejected,
      );
      assert.deepEqual(got.settlements, want.settlements);
      assert.deepEqual(got.patronage, want.patronage);

      // Conservation: only grants and refreshes mint; everything else moves.
      const minted = got.movements.filter((m) => m.from === null).reduce((t, m) => t + m.amount, 0);
      assert.ok(got.movements.every((m) => (m.from === null) === (m.kind === "grant" || m.kind === "refresh")));
      assert.equal(
        Object.values(got.balances).reduce((t, b) => t + b, 0),
        minted,
      );

      // At most one grant per DID; each receipt's movements at most once; one settlement per uri.
      const grants = got.movements.filter((m) => m.kind === "grant").map((m) => m.to);
      assert.equal(new Set(grants).size, grants.length);
      const keys = got.movements.map((m) => m.key);
      assert.equal(new Set(keys).size, keys.length);
      const settled = got.settlements.map((s) => s.uri);
      assert.equal(new Set(settled).size, settled.length);
      for (const s of got.settlements) assert.equal(s.charged, s.payout + s.fee);

      // Patronage pools are distributed exactly.
      for (const period of got.patronage) {
        assert.equal(
          period.shares.reduce((t, s) => t + s.credited, 0),
          period.pool,
        );
      }

      // No balance is ever negative: replay the movements in their order of application.
      const running = new Map<string, number>();
      for (const m of got.movements) {
        assert.ok(Number.isSafeInteger(m.amount) && m.amount > 0);
        if (m.from !== null) {
          running.set(m.from, (running.get(m.from) ?? 0) - m.amount);
          assert.ok(running.get(m.from)! >= 0, `${m.from} negative after ${m.key}`);
        }
        running.set(m.to, (running.get(m.to) ?? 0) + m.amount);
      }
    }),
    { numRuns: RUNS },
  );
  assert.ok(conflicts < RUNS / 2, `too many conflicting streams (${conflicts}) to test the rest`);
});

test("any permutation of the events, with extra duplicates, gives identical output", () => {
  fc.assert(
    fc.property(arbPolicy, arbStream, fc.nat(), fc.array(fc.nat(), { maxLength: 5 }), (policy, events, seed, dups) => {
      const more = [...events];
      for (const d of dups) if (events.length > 0) more.push(structuredClone(events[d % events.length]!));
      assert.deepEqual(replay(shuffle(more, seed), policy), replay(events, policy));
    }),
    { numRuns: RUNS },
  );
});

test("published grants and refreshes fed back in do not double-count", () => {
  fc.assert(
    fc.property(arbPolicy, arbStream, fc.nat(), (policy, events, seed) => {
      const first = replay(events, policy);
      const facts: LedgerEvent[] = first.movements
        .filter((m) => m.kind === "grant" || m.kind === "refresh")
        .map((m) => ({ type: m.kind as "grant" | "refresh", did: m.to, amount: m.amount, at: m.at }));
      const again = replay(shuffle([...events, ...facts], seed), policy);
      const byKey = (ms: Movement[]) => [...ms].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      assert.deepEqual(again.balances, first.balances);
      assert.deepEqual(byKey(again.movements), byKey(first.movements));
      assert.deepEqual(again.settlements.map((s) => s.uri).sort(), first.settlements.map((s) => s.uri).sort());
      assert.deepEqual(again.patronage, first.patronage);
    }),
    { numRuns: Math.ceil(RUNS / 2) },
  );
});

test("applying instant by instant through applyEvents equals one replay; input state is not mutated", () => {
  fc.assert(
    fc.property(arbPolicy, arbStream, (policy, events) => {
      const byInstant = new Map<number, LedgerEvent[]>();
      for (const e of events) {
        const t = Date.parse(e.at);
        byInstant.set(t, [...(byInstant.get(t) ?? []), e]);
      }
      let state: LedgerState = emptyState();
      const movements: Movement[] = [];
      for (const t of [...byInstant.keys()].sort((a, b) => a - b)) {
        const before = structuredClone(state);
        const step = applyEvents(state, byInstant.get(t)!, policy);
        assert.deepEqual(state, before, "applyEvents must not mutate its input");
        movements.push(...step.movements);
        state = step.state;
      }
      assert.deepEqual(movements, replay(events, policy).movements);
    }),
    { numRuns: Math.ceil(RUNS / 4) },
  );
});

test("a receipt uri replayed with another payload is an idempotency conflict", () => {
  fc.assert(
    fc.property(arbPolicy, arbStream, fc.nat(), fc.integer({ min: 1, max: 50 }), (policy, events, pick, bump) => {
      const receipts = events.filter((e): e is ReceiptEvent => e.type === "receipt");
      fc.pre(receipts.length > 0);
      const r = receipts[pick % receipts.length]!;
      const forged: ReceiptEvent = { ...r, price: { ...r.price, amount: r.price.amount + bump } };
      assert.throws(
        () => replay([...events, forged], policy),
        (err: unknown) => err instanceof LedgerError && err.code === "idempotency-conflict",
      );
      assert.throws(() => refReplay([...events, forged], policy), LedgerError);
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );
});
