// Worked examples of the ledger rules with the cocore.dev policy numbers (PROTOCOL.md §3, §5–6),
// through `replay`'s short forms (touch, receipt, tick) over the one machine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { admitsAboveFloor, compareBytes, ledgerFee, LedgerError, policyFromRecord, replay, replaySimulation, splitPool } from "../src/ledger/index.ts";

const EXCHANGE = "did:web:cocore.dev";
const ALICE = "did:plc:alice";
const BOB = "did:plc:bob";
const CAROL = "did:plc:carol";

const cocoreDev: Record<string, unknown> = {
  $type: "dev.cocore.compute.exchangePolicy",
  exchange: EXCHANGE,
  fee: { bps: 500, minMinor: 0, currency: "TOK" },
  supportedCurrencies: ["TOK"],
  selfLoop: { feeWaived: true },
  tokenRate: { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" },
  tokenGrant: 1_000_000,
  tokenFloor: 100_000,
  weeklyRefresh: { amountPerDid: 70_000, cadenceMinutes: 10_080 },
  patronageDistribution: { fractionBps: 8000, cadenceDays: 30 },
  active: true,
  createdAt: "2026-05-01T00:00:00.000Z",
};
const policy = policyFromRecord(cocoreDev);
const WEEK = 10_080 * 60_000;

type Short = Record<string, unknown>;

function receipt(n: number, requester: string, provider: string, amount: number, at: string, extra: Short = {}): Short {
  return {
    type: "receipt",
    uri: `at://${provider}/dev.cocore.compute.receipt/${n}`,
    requester,
    provider,
    tokens: { in: 0, out: amount },
    price: { amount, currency: "TOK" },
    at,
    ...extra,
  };
}

const isCode = (code: string) => (e: unknown) => e instanceof LedgerError && e.code === code;

test("policyFromRecord reads the cocore.dev record", () => {
  assert.deepEqual(policy, {
    exchange: EXCHANGE,
    feeBps: 500,
    feeMinMinor: 0,
    currency: "TOK",
    tokenGrant: 1_000_000,
    tokenFloor: 100_000,
    selfLoopFeeWaived: true,
    treasury: EXCHANGE,
    createdAt: Date.parse("2026-05-01T00:00:00Z"),
    refresh: { amountPerDid: 70_000, cadenceMinutes: 10_080 },
    patronage: { fractionBps: 8000, cadenceDays: 30 },
  });
  assert.equal(policyFromRecord({ ...cocoreDev, treasuryDid: "did:plc:treasury" }).treasury, "did:plc:treasury");
  const bare = policyFromRecord({ ...cocoreDev, tokenGrant: undefined, tokenFloor: undefined, weeklyRefresh: undefined, patronageDistribution: undefined });
  assert.equal(bare.tokenGrant, 0);
  assert.equal(bare.refresh, undefined);
  assert.equal(bare.patronage, undefined);
  for (const broken of [
    { ...cocoreDev, fee: { bps: 10_001, minMinor: 0, currency: "TOK" } },
    { ...cocoreDev, fee: { bps: 1.5, minMinor: 0, currency: "TOK" } },
    { ...cocoreDev, createdAt: "2026-05-01 00:00" },
    { ...cocoreDev, weeklyRefresh: { amountPerDid: 1, cadenceMinutes: 59 } },
    { ...cocoreDev, exchange: "cocore.dev" },
    { ...cocoreDev, selfLoop: {} },
  ]) {
    assert.throws(() => policyFromRecord(broken), isCode("invalid-policy"));
  }
});

test("ledgerFee: 5% floored, the minMinor floor, never above the price, exact past 2^53", () => {
  assert.equal(ledgerFee(104, 500, 0), 5, "floor(104·500/10000) = floor(5.2)");
  assert.equal(ledgerFee(19, 500, 0), 0);
  assert.equal(ledgerFee(19, 500, 3), 3, "minMinor lifts a fee that rounds below it");
  assert.equal(ledgerFee(2, 500, 3), 2, "but never above the price");
  assert.equal(ledgerFee(Number.MAX_SAFE_INTEGER, 10_000, 0), Number.MAX_SAFE_INTEGER);
  assert.equal(ledgerFee(Number.MAX_SAFE_INTEGER, 500, 0), Number((BigInt(Number.MAX_SAFE_INTEGER) * 500n) / 10_000n));
  assert.throws(() => ledgerFee(1.5, 500, 0), LedgerError);
  assert.throws(() => ledgerFee(10, 10_001, 0), LedgerError);
});

test("first touch grants 1,000,000 once; a receipt at 104 pays 99 and a fee of 5", async () => {
  const r = await replay(
    [
      { type: "touch", did: ALICE, at: "2026-05-02T00:00:00Z" },
      receipt(1, ALICE, BOB, 104, "2026-05-02T01:00:00Z"),
      { type: "touch", did: ALICE, at: "2026-05-02T02:00:00Z" },
    ],
    cocoreDev,
  );
  assert.deepEqual(r.balances, { [ALICE]: 999_896, [BOB]: 1_000_099, [EXCHANGE]: 5 });
  assert.equal(r.treasury, 5);
  assert.deepEqual(
    r.movements.map((m) => [m.key, m.kind, m.from, m.to, m.amount, m.at]),
    [
      [`grant:${ALICE}`, "grant", null, ALICE, 1_000_000, "2026-05-02T00:00:00.000Z"],
      [`grant:${BOB}`, "grant", null, BOB, 1_000_000, "2026-05-02T01:00:00.000Z"],
      [`rcpt:at://${BOB}/dev.cocore.compute.receipt/1:payout`, "payout", ALICE, BOB, 99, "2026-05-02T01:00:00.000Z"],
      [`rcpt:at://${BOB}/dev.cocore.compute.receipt/1:fee`, "fee", ALICE, EXCHANGE, 5, "2026-05-02T01:00:00.000Z"],
    ],
  );
  assert.deepEqual(r.settlements, [
    {
      uri: `at://${BOB}/dev.cocore.compute.receipt/1`,
      requester: ALICE,
      provider: BOB,
      kind: "transfer",
      charged: 104,
      payout: 99,
      fee: 5,
      settledAt: "2026-05-02T01:00:00.000Z",
    },
  ]);
  // Both grants are published (the short forms carry no authorization, so no settlement record).
  assert.deepEqual(
    r.published.map((p) => [p.value.$type, p.value.recipient, p.value.createdAt]),
    [
      ["dev.cocore.account.tokenGrant", ALICE, "2026-05-02T00:00:00.000Z"],
      ["dev.cocore.account.tokenGrant", BOB, "2026-05-02T01:00:00.000Z"],
    ],
  );
});

test("the fee floor minMinor applies to small receipts", async () => {
  const r = await replay([receipt(1, ALICE, BOB, 19, "2026-05-02T00:00:00Z"), receipt(2, ALICE, BOB, 2, "2026-05-02T00:00:00Z")], {
    ...cocoreDev,
    fee: { bps: 500, minMinor: 3, currency: "TOK" },
  });
  assert.deepEqual(
    r.settlements.map((s) => [s.charged, s.payout, s.fee]),
    [
      [19, 16, 3],
      [2, 0, 2],
    ],
  );
  assert.equal(r.treasury, 5);
  assert.equal(r.movements.filter((m) => m.kind === "payout").length, 1, "a zero payout is no movement");
});

test("a fee-waived self-loop and pro bono move nothing; the self-loop states what it consumed, pro bono zeros", async () => {
  const r = await replay([receipt(1, ALICE, ALICE, 5000, "2026-05-02T00:00:00Z"), receipt(2, ALICE, BOB, 0, "2026-05-02T00:00:00Z", { proBono: true })], cocoreDev);
  assert.deepEqual(r.balances, { [ALICE]: 1_000_000, [BOB]: 1_000_000, [EXCHANGE]: 0 });
  assert.deepEqual(r.movements.map((m) => m.kind), ["grant", "grant"]);
  assert.deepEqual(
    r.settlements.map((s) => [s.kind, s.charged, s.payout, s.fee]),
    [
      ["self-loop", 5000, 5000, 0],
      ["pro-bono", 0, 0, 0],
    ],
  );

  const charged = await replay([receipt(1, ALICE, ALICE, 5000, "2026-05-02T00:00:00Z")], { ...cocoreDev, selfLoop: { feeWaived: false, minMinor: 300 } });
  assert.deepEqual(charged.balances, { [ALICE]: 999_700, [EXCHANGE]: 300 }, "fee = max(250, 300); the payout to oneself is no movement");
  assert.deepEqual(charged.settlements.map((s) => [s.kind, s.charged, s.payout, s.fee]), [["self-loop", 5000, 4700, 300]]);
});

test("refresh is due exactly one cadence after the grant, not 1 ms before; no catch-up", async () => {
  const grantAt = Date.parse("2026-05-02T00:00:00Z");
  const at = (ms: number) => new Date(ms).toISOString();
  const touch = (ms: number) => ({ type: "touch", did: ALICE, at: at(ms) });
  const early = await replay([touch(grantAt), touch(grantAt + WEEK - 1)], cocoreDev);
  assert.equal(early.balances[ALICE], 1_000_000);
  const onTime = await replay([touch(grantAt), touch(grantAt + WEEK), touch(grantAt + 2 * WEEK - 1)], cocoreDev);
  assert.equal(onTime.balances[ALICE], 1_070_000);
  assert.equal(onTime.movements[1]!.key, `refresh:${ALICE}:${at(grantAt + WEEK)}`);
  assert.equal(onTime.published[1]!.value.$type, "dev.cocore.account.tokenRefresh", "every refresh is published");
  const dormant = await replay([touch(grantAt), touch(grantAt + 5 * WEEK)], cocoreDev);
  assert.equal(dormant.balances[ALICE], 1_070_000, "five missed weeks still pay one refresh");
});

test("a receipt the requester cannot pay is parked, then settles when a refresh arrives", async () => {
  const p = { ...cocoreDev, tokenGrant: 100, weeklyRefresh: { amountPerDid: 50, cadenceMinutes: 60 } };
  const events = [receipt(1, ALICE, BOB, 120, "2026-05-02T00:00:00Z"), { type: "touch", did: ALICE, at: "2026-05-02T00:30:00Z" }, { type: "touch", did: ALICE, at: "2026-05-02T01:00:00Z" }];
  const before = await replay(events.slice(0, 2), p);
  assert.deepEqual(before.parked, [{ uri: `at://${BOB}/dev.cocore.compute.receipt/1`, reason: "insufficient-balance", requester: ALICE, price: 120, at: "2026-05-02T00:00:00.000Z" }]);
  assert.equal(before.balances[ALICE], 100);
  const after = await replay(events, p);
  assert.deepEqual(after.parked, []);
  // Settling is a touch of both parties at the settlement time: Bob's refresh is due then too.
  assert.deepEqual(after.balances, { [ALICE]: 30, [BOB]: 100 + 50 + 114, [EXCHANGE]: 6 });
  assert.equal(after.settlements[0]!.settledAt, "2026-05-02T01:00:00.000Z");
  assert.deepEqual(
    after.movements.map((m) => [m.kind, m.to, m.amount, m.at]),
    [
      ["grant", ALICE, 100, "2026-05-02T00:00:00.000Z"],
      ["grant", BOB, 100, "2026-05-02T00:00:00.000Z"],
      ["refresh", ALICE, 50, "2026-05-02T01:00:00.000Z"],
      ["refresh", BOB, 50, "2026-05-02T01:00:00.000Z"],
      ["payout", BOB, 114, "2026-05-02T01:00:00.000Z"],
      ["fee", EXCHANGE, 6, "2026-05-02T01:00:00.000Z"],
    ],
  );
});

test("a receipt in another currency is rejected: no touch, no movement", async () => {
  const r = await replay([{ ...receipt(1, ALICE, BOB, 10, "2026-05-02T00:00:00Z"), price: { amount: 10, currency: "USD" } }], cocoreDev);
  assert.deepEqual(r.movements, []);
  assert.deepEqual(
    r.rejected.map((x) => [x.uri, x.reason]),
    [[`at://${BOB}/dev.cocore.compute.receipt/1`, "currency-mismatch"]],
  );
  assert.deepEqual(r.balances, { [EXCHANGE]: 0 });
});

test("duplicates are no-ops; a receipt uri replayed with another payload is an idempotency conflict", async () => {
  const r1 = receipt(1, ALICE, BOB, 104, "2026-05-02T00:00:00Z");
  assert.deepEqual(await replay([r1, r1, structuredClone(r1)], cocoreDev), await replay([r1], cocoreDev));
  await assert.rejects(replay([r1, { ...r1, price: { amount: 105, currency: "TOK" } }], cocoreDev), isCode("idempotency-conflict"));
  await assert.rejects(replay([r1, { ...r1, provider: CAROL }], cocoreDev), isCode("idempotency-conflict"));
  // Seen again after it was decided, too.
  await assert.rejects(replay([r1, { ...r1, price: { amount: 105, currency: "TOK" }, at: "2026-05-03T00:00:00Z" }], cocoreDev), isCode("idempotency-conflict"));
  // A published grant matching the derived one is absorbed.
  const grant = { type: "grant", did: ALICE, amount: 1_000_000, at: "2026-05-02T00:00:00Z" };
  assert.deepEqual((await replay([r1, grant], cocoreDev)).balances, (await replay([r1], cocoreDev)).balances);
});

test("patronage: 80% of the treasury by largest remainder, the same however late the tick", async () => {
  const events = [
    receipt(1, ALICE, BOB, 104, "2026-05-02T00:00:00Z"), // fee 5, payout 99
    receipt(2, CAROL, BOB, 2000, "2026-05-20T00:00:00Z"), // fee 100, payout 1900
    receipt(3, ALICE, CAROL, 1000, "2026-05-31T00:00:00Z"), // at the period's end: next period
  ];
  const onTime = await replay([...events, { type: "tick", at: "2026-05-31T00:00:00Z" }], cocoreDev);
  // Scores: alice 104, bob 99 + 1900, carol 2000; total 4103. Pool floor(105·0.8) = 84.
  // Floors 2, 40, 40 (remainders 530, 3796, 3880): the 2 left go to carol, then bob.
  assert.deepEqual(onTime.patronage, [
    {
      start: "2026-05-01T00:00:00.000Z",
      end: "2026-05-31T00:00:00.000Z",
      pool: 84,
      totalScore: 4103,
      treasuryBefore: 105,
      shares: [
        { did: ALICE, score: 104, credited: 2 },
        { did: BOB, score: 1999, credited: 41 },
        { did: CAROL, score: 2000, credited: 41 },
      ],
    },
  ]);
  assert.equal(onTime.treasury, 105 - 84 + 50);
  assert.deepEqual(
    onTime.movements.filter((m) => m.kind === "patronage").map((m) => [m.key, m.from, m.to, m.amount, m.at]),
    [
      [`patronage:2026-05-01T00:00:00.000Z:${ALICE}`, EXCHANGE, ALICE, 2, "2026-05-31T00:00:00.000Z"],
      [`patronage:2026-05-01T00:00:00.000Z:${BOB}`, EXCHANGE, BOB, 41, "2026-05-31T00:00:00.000Z"],
      [`patronage:2026-05-01T00:00:00.000Z:${CAROL}`, EXCHANGE, CAROL, 41, "2026-05-31T00:00:00.000Z"],
    ],
  );
  const records = onTime.published.filter((p) => p.value.$type === "dev.cocore.account.tokenPatronage");
  assert.deepEqual(
    records.map((p) => [p.value.recipient, p.value.patronageScore, p.value.totalPatronage, p.value.tokensCredited, p.value.treasuryBefore]),
    [
      [ALICE, 104, 4103, 2, 105],
      [BOB, 1999, 4103, 41, 105],
      [CAROL, 2000, 4103, 41, 105],
    ],
  );
  const late = await replay([...events, { type: "tick", at: "2026-06-20T00:00:00Z" }], cocoreDev);
  assert.deepEqual(late.patronage, onTime.patronage);
  assert.deepEqual(late.balances, onTime.balances);
  // Ledger time must reach the period's end: without the receipt at the end, a tick 1 ms short.
  const early = await replay([...events.slice(0, 2), { type: "tick", at: "2026-05-30T23:59:59.999Z" }], cocoreDev);
  assert.deepEqual(early.patronage, [], "a period is distributed only once it has ended");
  const atEnd = await replay([...events.slice(0, 2), { type: "tick", at: "2026-05-31T00:00:00Z" }], cocoreDev);
  assert.equal(atEnd.patronage.length, 1);
});

test("largest remainder ties go to the DID first in byte order", () => {
  // 10 over three equal scores: 3 each, one left, all remainders equal → smallest DID.
  const equal = new Map([
    ["did:plc:c", 7],
    ["did:plc:a", 7],
    ["did:plc:b", 7],
  ]);
  assert.deepEqual(
    splitPool(10, equal).map((s) => [s.did, s.credited]),
    [
      ["did:plc:a", 4],
      ["did:plc:b", 3],
      ["did:plc:c", 3],
    ],
  );
  // Byte order puts "B" (0x42) before "a" (0x61); a locale comparison would not.
  const cased = new Map([
    ["did:plc:a", 1],
    ["did:plc:B", 1],
  ]);
  assert.deepEqual(
    splitPool(3, cased).map((s) => [s.did, s.credited]),
    [
      ["did:plc:B", 2],
      ["did:plc:a", 1],
    ],
  );
  assert.ok(compareBytes("\uffff", "\u{10000}") < 0, "code point (UTF-8 byte) order, not UTF-16 units");
  assert.deepEqual(splitPool(5, new Map([["did:plc:a", 0]])), [], "no patrons, nothing split");
  const big = splitPool(
    Number.MAX_SAFE_INTEGER,
    new Map([
      ["did:plc:a", 3],
      ["did:plc:b", Number.MAX_SAFE_INTEGER - 3],
    ]),
  );
  assert.equal(
    big.reduce((t, s) => t + BigInt(s.credited), 0n),
    BigInt(Number.MAX_SAFE_INTEGER),
    "exact beyond 2^53 intermediates",
  );
});

test("admission floor: balance − held − ceiling ≥ floor", () => {
  assert.equal(admitsAboveFloor({ balance: 1_000_000, held: 0, ceiling: 900_000, floor: 100_000 }), true, "exactly at the floor passes");
  assert.equal(admitsAboveFloor({ balance: 1_000_000, held: 0, ceiling: 900_001, floor: 100_000 }), false);
  assert.equal(admitsAboveFloor({ balance: 1_000_000, held: 450_000, ceiling: 450_000, floor: 100_000 }), true);
  assert.equal(admitsAboveFloor({ balance: 1_000_000, held: 450_001, ceiling: 450_000, floor: 100_000 }), false, "earlier holds count");
  assert.equal(admitsAboveFloor({ balance: 0, held: Number.MAX_SAFE_INTEGER, ceiling: Number.MAX_SAFE_INTEGER, floor: 0 }), false, "no overflow wrap");
});

test("malformed events are refused with a reason", async () => {
  const bad = (e: unknown, re: RegExp) => assert.rejects(replay([e], cocoreDev), (err: unknown) => err instanceof LedgerError && err.code === "invalid-event" && re.test(err.message));
  await bad({ type: "touch", did: ALICE, at: "2026-05-02" }, /at must be/);
  await bad({ type: "touch", did: "alice", at: "2026-05-02T00:00:00Z" }, /did must be a DID/);
  await bad({ ...receipt(1, ALICE, BOB, 10, "2026-05-02T00:00:00Z"), price: { amount: 1.5, currency: "TOK" } }, /price.amount/);
  await bad({ ...receipt(1, ALICE, BOB, 10, "2026-05-02T00:00:00Z"), tokens: { in: -1, out: 0 } }, /tokens.in/);
  await bad({ type: "mint", at: "2026-05-02T00:00:00Z" }, /type must be/);
  await bad(null, /event must be an object/);
  // The simulation vocabulary checks its own events the same way.
  const sim = (e: unknown, re: RegExp) =>
    assert.rejects(replaySimulation([e], { value: cocoreDev }), (err: unknown) => err instanceof LedgerError && err.code === "invalid-event" && re.test(err.message));
  await sim({ type: "record", uri: "https://example.com/x", value: {} }, /uri must be an at:\/\/ record uri/);
  await sim({ type: "admit", job: `at://${ALICE}/dev.cocore.compute.job/1`, at: "yesterday" }, /at must be/);
  await sim({ type: "read", did: "alice", at: "2026-05-02T00:00:00Z" }, /did must be a DID/);
});
