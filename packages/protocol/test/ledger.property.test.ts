// Property tests of the ledger machine through `replay`'s short forms (touch, receipt, tick),
// against a small reference model of README.md written independently of src/ledger (plain
// Number arithmetic on small values, linear scans, no shared helpers), and through real signed
// records delivered in any order.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decisionOf, LedgerError, replay, type Movement, type ParkedReceipt, type PeriodResult, type ReplayResult, type Settlement } from "../src/ledger/index.ts";
import { HOUR, host, logBytes, MINUTE, T0, work, World, type Host, type Work } from "./ledger-support.ts";

const DIDS = ["did:plc:alice", "did:plc:bob", "did:plc:carol", "did:plc:dave"];
const TREASURY = "did:web:exchange.test";
const STEP = 30 * 60_000;
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

interface Pol {
  feeBps: number;
  feeMinMinor: number;
  tokenGrant: number;
  refresh?: { amountPerDid: number; cadenceMinutes: number };
  patronage?: { fractionBps: number; cadenceDays: number };
  selfLoopFeeWaived: boolean;
  selfLoopMinMinor?: number;
}

function policyRecord(p: Pol): Record<string, unknown> {
  return {
    $type: "dev.cocore.compute.exchangePolicy",
    exchange: TREASURY,
    fee: { bps: p.feeBps, minMinor: p.feeMinMinor, currency: "TOK" },
    supportedCurrencies: ["TOK"],
    selfLoop: { feeWaived: p.selfLoopFeeWaived, ...(p.selfLoopMinMinor !== undefined ? { minMinor: p.selfLoopMinMinor } : {}) },
    tokenRate: { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" },
    tokenGrant: p.tokenGrant,
    tokenFloor: 0,
    ...(p.refresh ? { weeklyRefresh: p.refresh } : {}),
    ...(p.patronage ? { patronageDistribution: p.patronage } : {}),
    active: true,
    createdAt: iso(T0),
  };
}

interface Ev {
  type: "touch" | "receipt" | "tick";
  at: string;
  did?: string;
  uri?: string;
  requester?: string;
  provider?: string;
  tokens?: { in: number; out: number };
  price?: { amount: number; currency: string };
  proBono?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Reference model (README.md: the watermark, a receipt's path, grants, patronage)
// ---------------------------------------------------------------------------------------------

interface RefReceipt {
  ev: Ev;
  ms: number;
  eff: number;
  status: "queued" | "parked" | "settled" | "rejected";
}

function refReplay(input: Ev[], p: Pol) {
  const RANK = { touch: 0, receipt: 1, tick: 4 } as const;
  const subject = (e: Ev) => e.uri ?? e.did ?? "";
  const sorted = input
    .map((e) => ({ e, ms: Date.parse(e.at), fp: JSON.stringify(e) }))
    .sort((a, b) => a.ms - b.ms || RANK[a.e.type] - RANK[b.e.type] || (subject(a.e) < subject(b.e) ? -1 : subject(a.e) > subject(b.e) ? 1 : 0) || (a.fp < b.fp ? -1 : a.fp > b.fp ? 1 : 0));
  const events = sorted.filter((x, i) => i === 0 || x.fp !== sorted[i - 1]!.fp);

  const bal = new Map<string, number>();
  const granted = new Set<string>();
  const lastRefresh = new Map<string, number>();
  const movements: Movement[] = [];
  const receipts = new Map<string, RefReceipt>();
  const settlements: Settlement[] = [];
  const patronage: PeriodResult[] = [];
  const scores: Map<string, number>[] = [];
  let closed = 0;
  let W = T0;
  let queue: { did: string; t: number }[] = [];
  const len = p.patronage ? p.patronage.cadenceDays * DAY : Infinity;

  const ensure = (did: string) => {
    if (!bal.has(did)) bal.set(did, 0);
  };
  const move = (key: string, kind: Movement["kind"], from: string | null, to: string, amount: number, t: number) => {
    ensure(to);
    if (from !== null) {
      assert.ok(bal.get(from)! >= amount, "reference: overdraw");
      bal.set(from, bal.get(from)! - amount);
    }
    bal.set(to, bal.get(to)! + amount);
    movements.push({ key, kind, from, to, amount, at: iso(t) });
    if (!queue.some((q) => q.did === to)) queue.push({ did: to, t });
  };
  const touch = (did: string, t: number) => {
    ensure(did);
    if (!granted.has(did)) {
      granted.add(did);
      lastRefresh.set(did, t);
      if (p.tokenGrant > 0) move(`grant:${did}`, "grant", null, did, p.tokenGrant, t);
    } else if (p.refresh && t - lastRefresh.get(did)! >= p.refresh.cadenceMinutes * 60_000) {
      lastRefresh.set(did, t);
      if (p.refresh.amountPerDid > 0) move(`refresh:${did}:${iso(t)}`, "refresh", null, did, p.refresh.amountPerDid, t);
    }
  };
  const split = (e: Ev) => {
    const price = e.price!.amount;
    if (e.proBono) return { kind: "pro-bono" as const, debit: 0, charged: 0, payout: 0, fee: 0 };
    const self = e.requester === e.provider;
    if (self && p.selfLoopFeeWaived) return { kind: "self-loop" as const, debit: 0, charged: price, payout: price, fee: 0 };
    const min = self && p.selfLoopMinMinor !== undefined ? p.selfLoopMinMinor : p.feeMinMinor;
    const fee = Math.min(price, Math.max(Math.floor((price * p.feeBps) / 10_000), min));
    return { kind: self ? ("self-loop" as const) : ("transfer" as const), debit: self ? fee : price, charged: price, payout: price - fee, fee };
  };
  const order = (a: RefReceipt, b: RefReceipt) => a.eff - b.eff || a.ms - b.ms || (a.ev.uri! < b.ev.uri! ? -1 : 1);
  const settle = (r: RefReceipt, t: number) => {
    const s = split(r.ev);
    const { uri, requester, provider } = r.ev as Required<Ev>;
    if (s.kind !== "pro-bono" && s.debit > 0) {
      if (s.payout > 0 && requester !== provider) move(`rcpt:${uri}:payout`, "payout", requester, provider, s.payout, t);
      if (s.fee > 0 && requester !== TREASURY) move(`rcpt:${uri}:fee`, "fee", requester, TREASURY, s.fee, t);
    }
    if (s.kind === "transfer") {
      const m = (scores[closed] ??= new Map());
      if (requester !== TREASURY && s.charged > 0) m.set(requester, (m.get(requester) ?? 0) + s.charged);
      if (provider !== TREASURY && s.payout > 0) m.set(provider, (m.get(provider) ?? 0) + s.payout);
    }
    r.status = "settled";
    settlements.push({ uri, requester, provider, kind: s.kind, charged: s.charged, payout: s.payout, fee: s.fee, settledAt: iso(t) });
  };
  // README step 5: the first payable parked receipt settles, and this repeats until none is.
  const cascade = () => {
    while (queue.length > 0) {
      const { did, t } = queue.shift()!;
      for (;;) {
        const next = [...receipts.values()]
          .filter((r) => r.status === "parked" && r.ev.requester === did)
          .sort(order)
          .find((r) => split(r.ev).debit <= bal.get(did)!);
        if (!next) break;
        touch(next.ev.requester!, t);
        if (next.ev.provider !== next.ev.requester) touch(next.ev.provider!, t);
        settle(next, t);
      }
    }
  };
  const decide = (r: RefReceipt) => {
    const t = r.eff;
    touch(r.ev.requester!, t);
    if (r.ev.provider !== r.ev.requester) touch(r.ev.provider!, t);
    if (split(r.ev).debit <= bal.get(r.ev.requester!)!) settle(r, t);
    else r.status = "parked";
    cascade();
  };
  const closePeriod = () => {
    const start = T0 + closed * len;
    const end = start + len;
    ensure(TREASURY);
    const before = bal.get(TREASURY)!;
    const members = [...(scores[closed] ?? new Map<string, number>())].filter(([, s]) => s > 0).sort(([a], [b]) => (a < b ? -1 : 1));
    const total = members.reduce((t, [, s]) => t + s, 0);
    const pool = total === 0 || before <= 0 ? 0 : Math.min(Math.floor((before * p.patronage!.fractionBps) / 10_000), before);
    const shares = members.map(([did, score]) => ({ did, score, credited: Math.floor((pool * score) / total), rem: (pool * score) % total }));
    let left = pool - shares.reduce((t, s) => t + s.credited, 0);
    for (const s of [...shares].sort((a, b) => b.rem - a.rem || (a.did < b.did ? -1 : 1))) {
      if (left === 0) break;
      s.credited += 1;
      left -= 1;
    }
    closed += 1;
    for (const s of shares) if (s.credited > 0) move(`patronage:${iso(start)}:${s.did}`, "patronage", TREASURY, s.did, s.credited, end);
    patronage.push({ start: iso(start), end: iso(end), pool, totalScore: total, treasuryBefore: before, shares: shares.map(({ did, score, credited }) => ({ did, score, credited })) });
    cascade();
  };
  const advance = (to: number, periodsTo: number) => {
    const target = Math.max(W, to);
    for (;;) {
      const end = T0 + (closed + 1) * len;
      const closes = end <= Math.max(W, periodsTo);
      const bound = closes ? Math.min(end, target) : target;
      for (const r of [...receipts.values()].filter((x) => x.status === "queued" && x.eff < bound).sort(order)) decide(r);
      if (!closes) break;
      closePeriod();
    }
    W = target;
  };

  for (const { e, ms } of events) {
    advance(ms, ms);
    if (e.type === "touch") {
      touch(e.did!, W);
      cascade();
    } else if (e.type === "receipt") {
      if (receipts.has(e.uri!)) throw new LedgerError("idempotency-conflict", e.uri!);
      const r: RefReceipt = { ev: e, ms, eff: Math.max(ms, W), status: "queued" };
      receipts.set(e.uri!, r);
      if (e.price!.currency !== "TOK") r.status = "rejected";
    }
  }
  const last = events[events.length - 1];
  if (last) advance(last.ms + 1, last.ms);

  ensure(TREASURY);
  const balances: Record<string, number> = {};
  for (const d of [...bal.keys()].sort()) balances[d] = bal.get(d)!;
  const byUri = [...receipts.values()].sort((a, b) => (a.ev.uri! < b.ev.uri! ? -1 : 1));
  const parked: ParkedReceipt[] = byUri
    .filter((r) => r.status === "parked")
    .map((r) => ({ uri: r.ev.uri!, reason: "insufficient-balance", requester: r.ev.requester!, price: r.ev.price!.amount, at: iso(r.ms) }));
  settlements.sort((a, b) => (a.settledAt < b.settledAt ? -1 : a.settledAt > b.settledAt ? 1 : a.uri < b.uri ? -1 : 1));
  return {
    balances,
    movements,
    parked,
    rejected: byUri.filter((r) => r.status === "rejected").map((r) => r.ev.uri!),
    settlements,
    patronage,
    debits: new Map(byUri.map((r) => [r.ev.uri!, split(r.ev).debit])),
  };
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const arbPolicy: fc.Arbitrary<Pol> = fc
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
    const p: Pol = { feeBps: r.feeBps, feeMinMinor: r.feeMinMinor, tokenGrant: r.tokenGrant, selfLoopFeeWaived: r.selfLoopFeeWaived };
    if (r.refresh) p.refresh = r.refresh;
    if (r.patronage) p.patronage = r.patronage;
    if (r.selfLoopMinMinor !== undefined) p.selfLoopMinMinor = r.selfLoopMinMinor;
    return p;
  });

const arbDid = fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...DIDS) }, { weight: 1, arbitrary: fc.constant(TREASURY) });
// 30-minute steps over ~6.5 days (a few before the policy), so events share instants, refreshes
// hit their boundary exactly, and several 1–2 day patronage periods pass.
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

type Raw = typeof arbRaw extends fc.Arbitrary<infer R> ? R : never;

function toEvents(raws: Raw[]): Ev[] {
  return raws.map((r, i): Ev => {
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

const RUNS = Number(process.env.LEDGER_PROPERTY_RUNS ?? 300);

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/** The invariants every replay result must satisfy, whatever the reference says. */
function checkInvariants(got: ReplayResult, debits: Map<string, number>): void {
  // Conservation: only grants and refreshes mint; everything else moves.
  assert.ok(got.movements.every((m) => (m.from === null) === (m.kind === "grant" || m.kind === "refresh")));
  const minted = got.movements.filter((m) => m.from === null).reduce((t, m) => t + m.amount, 0);
  assert.equal(
    Object.values(got.balances).reduce((t, b) => t + b, 0),
    minted,
    "Σ balances = Σ minted",
  );
  // No balance is ever negative: the movements in their order of application.
  const running = new Map<string, number>();
  for (const m of got.movements) {
    assert.ok(Number.isSafeInteger(m.amount) && m.amount > 0);
    if (m.from !== null) {
      running.set(m.from, (running.get(m.from) ?? 0) - m.amount);
      assert.ok(running.get(m.from)! >= 0, `${m.from} negative after ${m.key}`);
    }
    running.set(m.to, (running.get(m.to) ?? 0) + m.amount);
  }
  for (const [did, b] of Object.entries(got.balances)) assert.equal(b, running.get(did) ?? 0, `${did}: the balance is its movements`);
  // Each receipt settles at most once; each movement key once; one grant per DID.
  const keys = got.movements.map((m) => m.key);
  assert.equal(new Set(keys).size, keys.length);
  const settled = got.settlements.map((s) => s.uri);
  assert.equal(new Set(settled).size, settled.length);
  const grants = got.movements.filter((m) => m.kind === "grant").map((m) => m.to);
  assert.equal(new Set(grants).size, grants.length);
  for (const s of got.settlements) assert.equal(s.charged, s.payout + s.fee);
  for (const period of got.patronage) assert.equal(period.shares.reduce((t, s) => t + s.credited, 0), period.pool);
  // Nothing is left parked that its requester could pay (README step 5).
  for (const p of got.parked) assert.ok(got.balances[p.requester]! < debits.get(p.uri)!, `${p.uri} is parked although ${p.requester} can pay it`);
  // The published log: each record key carries the time its record states.
  for (const r of got.published) {
    const v = r.value as { settledAt?: string; createdAt?: string; period?: { end: string } };
    assert.equal(decisionOf(r.uri.split("/").pop()!)?.ms, Date.parse(v.settledAt ?? v.period?.end ?? v.createdAt!));
  }
}

test("replay agrees with the reference model, conserves tokens, never overdraws, settles each receipt once", async () => {
  await fc.assert(
    fc.asyncProperty(arbPolicy, arbStream, async (policy, events) => {
      const got = await replay(events, policyRecord(policy));
      const want = refReplay(events, policy);
      assert.deepEqual(got.balances, want.balances);
      assert.deepEqual(got.movements, want.movements);
      assert.deepEqual(got.settlements, want.settlements);
      assert.deepEqual(got.parked, want.parked);
      assert.deepEqual(
        got.rejected.map((r) => r.uri),
        want.rejected,
      );
      assert.deepEqual(got.patronage, want.patronage);
      checkInvariants(got, want.debits);
    }),
    { numRuns: RUNS },
  );
});

test("any permutation of the events, with extra duplicates, gives identical output", async () => {
  await fc.assert(
    fc.asyncProperty(arbPolicy, arbStream, fc.nat(), fc.array(fc.nat(), { maxLength: 5 }), async (policy, events, seed, dups) => {
      const more = [...events];
      for (const d of dups) if (events.length > 0) more.push(structuredClone(events[d % events.length]!));
      assert.deepEqual(await replay(shuffle(more, seed), policyRecord(policy)), await replay(events, policyRecord(policy)));
    }),
    { numRuns: RUNS },
  );
});

test("a receipt uri replayed with another payload is an idempotency conflict", async () => {
  await fc.assert(
    fc.asyncProperty(arbPolicy, arbStream, fc.nat(), fc.integer({ min: 1, max: 50 }), async (policy, events, pick, bump) => {
      const receipts = events.filter((e) => e.type === "receipt");
      fc.pre(receipts.length > 0);
      const r = receipts[pick % receipts.length]!;
      const forged: Ev = { ...r, price: { ...r.price!, amount: r.price!.amount + bump } };
      await assert.rejects(replay([...events, forged], policyRecord(policy)), (err: unknown) => err instanceof LedgerError && err.code === "idempotency-conflict");
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );
});

// ---------------------------------------------------------------------------------------------
// Real records: one batch, any order
// ---------------------------------------------------------------------------------------------

const MEMBERS = ["did:plc:m0", "did:plc:m1", "did:plc:m2", "did:plc:m3"];
const HOSTS = new Map<string, Host>(MEMBERS.map((d) => [d, host(d)]));
// A web of receipts among four members, several of which can only settle once another pays
// their requester; prices around the 1,000-token grant.
const WEB: Work[] = [
  [0, 1, 900, 1],
  [1, 2, 1500, 2],
  [2, 3, 1800, 3],
  [3, 0, 600, 4],
  [0, 2, 700, 5],
  [2, 1, 300, 5],
  [1, 1, 200, 6],
  [3, 1, 2500, 7],
].map(([from, to, price, minute], i) =>
  work({ id: `web${i}`, requester: MEMBERS[from!]!, host: HOSTS.get(MEMBERS[to!]!)!, price: price!, completedAt: T0 + HOUR + minute! * MINUTE }),
);
const WEB_RECORDS = WEB.flatMap((x) => x.records);

test("real records delivered in one batch in any order, or split into any batches before the watermark, decide identically", async () => {
  const run = async (batches: (typeof WEB_RECORDS)[]) => {
    const w = new World();
    for (const [i, b] of batches.entries()) await w.deliver(b, T0 + HOUR + 8 * MINUTE + i);
    await w.advance(T0 + 2 * HOUR);
    return w;
  };
  const reference = await run([WEB_RECORDS]);
  assert.ok(Object.values(reference.statuses()).includes("settled"));
  await fc.assert(
    fc.asyncProperty(fc.nat(), fc.array(fc.nat({ max: WEB_RECORDS.length }), { maxLength: 4 }), async (seed, cuts) => {
      const order = shuffle(WEB_RECORDS, seed);
      const at = [...new Set([0, ...cuts, order.length])].sort((a, b) => a - b);
      const batches = at.slice(1).map((end, i) => order.slice(at[i], end));
      const w = await run(batches);
      assert.deepEqual(w.statuses(), reference.statuses());
      assert.deepEqual(Object.fromEntries(w.store.accounts), Object.fromEntries(reference.store.accounts));
      assert.deepEqual(logBytes(w.store), logBytes(reference.store));
    }),
    { numRuns: Math.max(20, Math.ceil(RUNS / 10)) },
  );
});

test("the cascade settles the first payable parked receipt each time, even when a settlement's touch refreshes the requester", async () => {
  // A's share of period 0 (2 tokens) makes its smallest parked receipt payable at the period's end;
  // settling it touches A, whose refresh (200) is due then. README step 5: the first payable one in
  // (eff, completedAt, uri) order settles, and this repeats — so the 150 comes before the 100.
  const E = T0 + DAY;
  const A = DIDS[0]!;
  const B = DIDS[1]!;
  const policy: Pol = { feeBps: 500, feeMinMinor: 0, tokenGrant: 100, refresh: { amountPerDid: 200, cadenceMinutes: 60 }, patronage: { fractionBps: 8000, cadenceDays: 1 }, selfLoopFeeWaived: true };
  const r = (n: number, price: number): Ev => ({ type: "receipt", uri: `at://${B}/dev.cocore.compute.receipt/${n}`, requester: A, provider: B, tokens: { in: 0, out: price }, price: { amount: price, currency: "TOK" }, at: iso(E - 2 * 3_600_000) });
  const events: Ev[] = [r(0, 100), r(1, 150), r(2, 2), r(3, 100), { type: "tick", at: iso(E) }];
  const got = await replay(events, policyRecord(policy));
  const want = refReplay(events, policy);
  assert.deepEqual(want.parked.map((p) => p.uri), [`at://${B}/dev.cocore.compute.receipt/3`]);
  assert.deepEqual(got.parked, want.parked);
  assert.deepEqual(got.balances, want.balances);
  assert.deepEqual(got.settlements, want.settlements);
});
