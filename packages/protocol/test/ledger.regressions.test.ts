// One describe per ledger case of the "What is wrong today", each at the machine level
// with real signed records (ledger-support.ts). Numbers follow the issue; 7 is not a ledger case.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NSID } from "../src/lexicon/index.ts";
import { decisionOf, replaySimulation, type PublishedRow } from "../src/ledger/index.ts";
import { signRecord } from "../src/signature.ts";
import {
  assertMonotoneLog,
  authorization,
  DAY,
  EXCHANGE,
  HOUR,
  host,
  iso,
  logBytes,
  MINUTE,
  policyRecord,
  policyValue,
  rec,
  SECOND,
  simRecord,
  T0,
  work,
  World,
  type Host,
  type Rec,
  type Value,
  type Work,
} from "./ledger-support.ts";

const A = "did:plc:alice";
const B = "did:plc:bob";
const C = "did:plc:carol";
const D = "did:plc:dave";
const E = "did:plc:erin";
const P = "did:plc:provider";

const hosts = new Map<string, Host>();
/** The one host of each provider DID (attestations are shared across tests; they never change). */
const h = (did: string): Host => {
  let x = hosts.get(did);
  if (!x) hosts.set(did, (x = host(did)));
  return x;
};

const money = (amount: number) => ({ amount, currency: "TOK" });
const amounts = (s: Value) => [(s.amountCharged as { amount: number }).amount, (s.providerPayout as { amount: number }).amount, (s.exchangeFee as { amount: number }).amount];
const policyOf = (s: Value) => s.policy as { uri: string; cid: string };
const patronageRows = (w: World) => w.published(NSID.tokenPatronage);
const periodOf = (p: PublishedRow) => p.value.period as { start: string; end: string };

// ---------------------------------------------------------------------------------------------

describe("1. Unpaid work: admission checks the payment authorization, not only the job", () => {
  const at = T0 + HOUR;

  /** Refused with `code`, and the store is exactly as it was: no grant, no hold, no reservation. */
  async function refused(w: World, job: Rec, code: string): Promise<void> {
    await w.advance(at);
    const before = w.snapshot();
    const r = await w.admit(job, at);
    assert.equal(r.admitted, false, `${job.uri} should be refused`);
    assert.equal(r.code, code);
    assert.deepEqual(w.snapshot(), before, "a refused admission changes nothing");
  }

  test("two jobs sharing one singleJob authorization: the second admission is refused while the first holds the nonce", async () => {
    const w = new World();
    const auth = authorization(A, "shared", { createdAt: at - MINUTE, ceiling: 500 });
    const w1 = work({ id: "s1", requester: A, host: h(P), price: 100, completedAt: at + 2 * MINUTE, auth });
    const w2 = work({ id: "s2", requester: A, host: h(P), price: 100, completedAt: at + 3 * MINUTE, auth });
    await w.deliver([auth, w1.job, w2.job], at);
    const first = await w.admit(w1.job, at);
    assert.equal(first.admitted, true);
    assert.equal(w.held(A), 100);
    await refused(w, w2.job, "authorization_nonce_reserved");
    assert.equal(w.held(A), 100);
    // Asking again for the admitted job is answered, not held twice.
    assert.equal((await w.admit(w1.job, at)).admitted, true);
    assert.equal(w.held(A), 100);
    // The first job expires unrun: its hold and its reservation are given back.
    const later = work({ id: "s3", requester: A, host: h(P), price: 100, completedAt: at + HOUR + MINUTE, auth });
    await w.deliver([later.job], at);
    const expiresAt = Date.parse(w1.job.value.expiresAt as string);
    const gone = await w.apply({ type: "expire", at: expiresAt - 1 });
    assert.equal(gone.releasedHolds, 0);
    assert.equal((await w.apply({ type: "expire", at: expiresAt })).releasedHolds, 1);
    assert.equal(w.store.holds.get(w1.job.uri)?.state, "expired");
    assert.equal(w.held(A), 0);
    assert.equal((await w.admit(later.job, expiresAt)).admitted, true);
  });

  test("once the first job's receipt settles, the shared nonce is used: another admission is refused and the other job's receipt rejected nonce-reused", async () => {
    const w = new World();
    const auth = authorization(A, "shared", { createdAt: at - MINUTE, ceiling: 500 });
    const w1 = work({ id: "u1", requester: A, host: h(P), price: 100, completedAt: at + 2 * MINUTE, auth });
    const w2 = work({ id: "u2", requester: A, host: h(P), price: 100, completedAt: at + 3 * MINUTE, auth });
    await w.deliver([auth, w1.job, w2.job], at);
    assert.equal((await w.admit(w1.job, at)).admitted, true);
    await w.deliver([h(P).attestation, w1.receipt], at + 2 * MINUTE);
    await w.advance(at + 2 * MINUTE + 1);
    assert.equal(w.status(w1.receipt), "settled");
    assert.equal(w.held(A), 0, "the settled receipt posted its job's hold");
    await refused(w, w2.job, "authorization_nonce_used");
    // The provider ran the second job anyway (another matchmaker): its receipt is never paid.
    await w.deliver([w2.receipt], at + 3 * MINUTE);
    await w.advance(at + 4 * MINUTE);
    assert.equal(w.status(w2.receipt), "rejected");
    assert.deepEqual(w.codes(w2.receipt), ["nonce-reused"]);
    assert.equal(w.balance(A), 1000 - 100);
    assertMonotoneLog(w.store);
  });

  test("two receipts for one job: the first to settle claims it, a parked one re-checks its claims when funded", async () => {
    const w = new World();
    const first = work({ id: "twice", requester: A, host: h(P), price: 1500, completedAt: at + MINUTE });
    // The same job served again by another host (a second matchmaker): a receipt in C's repo.
    const second = { ...first, receipt: rec(`at://${C}/${NSID.receipt}/r-twice`, signRecord({ ...first.receipt.value, attestation: { uri: h(C).attestation.uri, cid: h(C).attestation.cid } }, "enclaveSignature", h(C).key)) };
    const funds = work({ id: "twice-funds", requester: B, host: h(A), price: 800, completedAt: at + 3 * MINUTE });
    await w.deliver([...first.records, h(C).attestation, second.receipt], at);
    await w.advance(at + 2 * MINUTE);
    assert.deepEqual([w.status(first.receipt), w.status(second.receipt)], ["parked", "parked"], "a parked receipt claims nothing");
    await w.deliver(funds.records, at + 3 * MINUTE);
    await w.advance(at + 4 * MINUTE);
    // Both payable now; in (eff, completedAt, uri) order C's receipt comes first and claims the job.
    assert.equal(w.status(second.receipt), "settled");
    assert.equal(w.status(first.receipt), "rejected");
    assert.deepEqual(w.codes(first.receipt), ["nonce-reused"]);
    assert.equal(w.balance(A), 1000 + 760 - 1500);
    assert.equal(w.balance(C), 1000 + 1425);
  });

  test("an authorization that expires before the job is refused (authorization_expires_first); one expiring with it is admitted", async () => {
    const w = new World();
    const jobAt = at - 30 * SECOND;
    const early = work({ id: "e1", requester: A, host: h(P), price: 100, completedAt: at + MINUTE, jobCreatedAt: jobAt, authOptions: { expiresAt: jobAt + HOUR - 1 } });
    const same = work({ id: "e2", requester: B, host: h(P), price: 100, completedAt: at + MINUTE, jobCreatedAt: jobAt, authOptions: { expiresAt: jobAt + HOUR } });
    await w.deliver([early.auth, early.job, same.auth, same.job], at);
    await refused(w, early.job, "authorization_expires_first");
    assert.equal(w.store.accounts.has(A), false, "no grant for a refused admission");
    assert.equal((await w.admit(same.job, at)).admitted, true);
  });

  test("an authorization naming another exchange is refused (authorization_other_exchange)", async () => {
    const w = new World();
    const other = work({ id: "o1", requester: A, host: h(P), price: 100, completedAt: at + MINUTE, authOptions: { exchange: "did:web:other-exchange.test" } });
    await w.deliver([other.auth, other.job], at);
    await refused(w, other.job, "authorization_other_exchange");
    assert.equal(w.store.accounts.has(A), false);
    assert.deepEqual(w.published(), []);
  });

  test("an authorization whose ceiling is below the job's is refused (authorization_ceiling_too_low); an equal ceiling is admitted", async () => {
    const w = new World();
    const low = work({ id: "c1", requester: A, host: h(P), price: 100, ceiling: 100, completedAt: at + MINUTE, authOptions: { ceiling: 99 } });
    const equal = work({ id: "c2", requester: B, host: h(P), price: 100, ceiling: 100, completedAt: at + MINUTE, authOptions: { ceiling: 100 } });
    await w.deliver([low.auth, low.job, equal.auth, equal.job], at);
    await refused(w, low.job, "authorization_ceiling_too_low");
    assert.equal(w.store.accounts.has(A), false);
    assert.equal(w.store.holds.size, 0);
    assert.equal((await w.admit(equal.job, at)).admitted, true);
  });

  test("the floor: balance − held − ceiling ≥ tokenFloor, the admission's own grant counted; below it nothing changes", async () => {
    const w = new World(policyValue({ tokenFloor: 100 }));
    const over = work({ id: "fl1", requester: A, host: h(P), price: 100, ceiling: 901, completedAt: at + MINUTE });
    const exact = work({ id: "fl2", requester: A, host: h(P), price: 100, ceiling: 900, completedAt: at + MINUTE });
    await w.deliver([over.auth, over.job, exact.auth, exact.job], at);
    await refused(w, over.job, "below_floor");
    assert.equal(w.store.accounts.has(A), false, "the grant the admission would have made is not made");
    const r = await w.admit(exact.job, at);
    assert.deepEqual([r.admitted, r.balance, r.available], [true, 1000, 100]);
    assert.deepEqual(w.published().map((p) => [p.collection, p.value.recipient, p.value.createdAt]), [[NSID.tokenGrant, A, iso(at)]], "an admission is a touch at the watermark");
  });

  test("a session authorization's admissions stop at its sessionBudget: settled charges + open ceilings + this ceiling", async () => {
    const w = new World();
    const auth = authorization(A, "session", { createdAt: at - MINUTE, expiresAt: at + DAY, ceiling: 200, scope: "session", sessionBudget: 250 });
    const job = (id: string, ceiling: number, price = ceiling) => work({ id, requester: A, host: h(P), price, ceiling, completedAt: at + 2 * MINUTE, auth });
    const [j1, j2, j3, j4, j5, j6] = [job("b1", 100), job("b2", 100, 80), job("b3", 100), job("b4", 50), job("b5", 21), job("b6", 20)];
    await w.deliver([auth, ...[j1, j2, j3, j4, j5, j6].map((x) => x!.job)], at);
    assert.equal((await w.admit(j1!.job, at)).admitted, true);
    assert.equal((await w.admit(j2!.job, at)).admitted, true, "a session's nonce is shared by its jobs");
    await refused(w, j3!.job, "session_budget_exceeded"); // 200 open + 100 > 250
    assert.equal((await w.admit(j4!.job, at)).admitted, true, "exactly at the budget"); // 250
    await w.release(j1!.job, at);
    assert.equal((await w.admit(j3!.job, at)).admitted, true); // 100 + 50 + 100 = 250
    // j2 settles at 80: its hold (100) is posted, its charge counts.
    await w.deliver([h(P).attestation, j2!.receipt], at + 2 * MINUTE);
    await w.advance(at + 3 * MINUTE);
    assert.equal(w.status(j2!.receipt), "settled");
    await refused(w, j5!.job, "session_budget_exceeded"); // 80 + 150 + 21 = 251
    assert.equal((await w.admit(j6!.job, at + 3 * MINUTE)).admitted, true); // 80 + 150 + 20 = 250
  });
});

// ---------------------------------------------------------------------------------------------

describe("2. Arrival order: records delivered before the watermark passes are decided in ledger-time order", () => {
  // A owes P 1,500 but holds only its grant of 1,000; B's later receipt pays A 760 (800 − 5%).
  const X = T0 + HOUR;
  const owed = work({ id: "owed", requester: A, host: h(P), price: 1500, completedAt: X + MINUTE });
  const pays = work({ id: "pays", requester: B, host: h(A), price: 800, completedAt: X + 3 * MINUTE });

  async function run(batches: Rec[][], restart = false): Promise<World> {
    const w = new World(policyValue(), { restart });
    for (const [i, batch] of batches.entries()) await w.deliver(batch, X + i * SECOND);
    await w.advance(X + HOUR);
    return w;
  }

  test("B's receipt first or second, in one batch or two: identical balances, statuses and published records", async () => {
    const runs = [
      await run([[...pays.records, ...owed.records]]),
      await run([[...owed.records, ...pays.records]]),
      await run([pays.records, owed.records]),
      await run([owed.records, pays.records]),
      // Receipts before the records they need; a fresh Ledger for every input.
      await run([[owed.receipt, pays.receipt], [pays.auth, pays.job, h(A).attestation], [owed.auth, owed.job, h(P).attestation]], true),
      await run([[pays.receipt], [owed.receipt, owed.auth, owed.job, h(P).attestation], [pays.auth, pays.job, h(A).attestation]]),
    ];
    const [first] = runs;
    assert.equal(first!.status(owed.receipt), "settled");
    assert.equal(first!.settledAt(owed.receipt), iso(X + 3 * MINUTE), "A's receipt settles at B's completedAt");
    assert.equal(first!.settledAt(pays.receipt), iso(X + 3 * MINUTE));
    assert.deepEqual(
      [A, B, P, EXCHANGE].map((d) => first!.balance(d)),
      [1000 + 760 - 1500, 1000 - 800, 1000 + 1425, 40 + 75],
    );
    for (const [i, w] of runs.entries()) {
      assert.deepEqual(w.statuses(), first!.statuses(), `run ${i}: statuses`);
      assert.deepEqual(Object.fromEntries(w.store.accounts), Object.fromEntries(first!.store.accounts), `run ${i}: accounts`);
      assert.deepEqual(logBytes(w.store), logBytes(first!.store), `run ${i}: published records, byte for byte, with their record keys`);
      assert.deepEqual(w.store.publishOrder, first!.store.publishOrder, `run ${i}: publication order`);
      assertMonotoneLog(w.store);
    }
  });

  test("the same through the simulation vocabulary: records between two clock events form one batch, in any order", async () => {
    const policy = policyValue();
    const stream = (records: Rec[]) => [{ type: "tick", at: iso(X) }, ...records.map(simRecord), { type: "tick", at: iso(X + HOUR) }];
    const one = await replaySimulation(stream([...pays.records, ...owed.records]), { value: policy });
    const two = await replaySimulation(stream([...owed.records].reverse().concat([...pays.records].reverse())), { value: policy });
    assert.deepEqual(one.receipts, two.receipts);
    assert.deepEqual(one.balances, two.balances);
    assert.deepEqual(one.published, two.published);
    assert.deepEqual(
      one.receipts.map((r) => r.status),
      ["settled", "settled"],
    );
    assert.deepEqual(one.settlements.map((s) => s.settledAt), [iso(X + 3 * MINUTE), iso(X + 3 * MINUTE)]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("3. Holds never change which receipt settles", () => {
  const X = T0 + HOUR;
  const held = work({ id: "held", requester: A, host: h(P), price: 600, ceiling: 900, completedAt: X + 4 * MINUTE });
  const other = work({ id: "other", requester: A, host: h(P), price: 500, completedAt: X + 2 * MINUTE });
  const funds = work({ id: "funds", requester: B, host: h(A), price: 200, completedAt: X + 20 * MINUTE });

  async function scenario(admit: boolean): Promise<{ w: World; releasedChanges: number }> {
    const w = new World();
    await w.read(A, X); // the grant, at the same ledger time in both runs
    await w.deliver([held.auth, held.job], X);
    if (admit) {
      const r = await w.admit(held.job, X);
      assert.equal(r.admitted, true);
      assert.equal(r.available, 100);
    }
    // Another job of A's (never admitted here): coverage is the balance, the hold takes no part.
    await w.deliver(other.records, X + MINUTE);
    await w.advance(X + 3 * MINUTE);
    assert.equal(w.status(other.receipt), "settled", "1,000 covers 500 although 900 of it is held");
    await w.deliver([held.receipt], X + 4 * MINUTE);
    await w.advance(X + 5 * MINUTE);
    assert.equal(w.status(held.receipt), "parked", "500 does not cover 600");
    let releasedChanges = 0;
    if (admit) {
      assert.equal(w.held(A), 900, "a parked receipt does not post its hold");
      const statuses = w.statuses();
      const fx = await w.release(held.job, X + 6 * MINUTE);
      assert.equal(fx.release?.released, true);
      releasedChanges = fx.receipts.length + fx.movements.length + fx.published.length;
      assert.deepEqual(w.statuses(), statuses, "releasing a hold changes no receipt status");
      assert.equal(w.held(A), 0);
    }
    await w.deliver(funds.records, X + 20 * MINUTE);
    await w.advance(X + 21 * MINUTE);
    assert.equal(w.status(held.receipt), "settled");
    return { w, releasedChanges };
  }

  test("an admitted job's hold neither stops another receipt of its requester nor is consulted at coverage; its release changes nothing", async () => {
    const withHold = await scenario(true);
    const without = await scenario(false);
    assert.equal(withHold.releasedChanges, 0, "the release produced no receipt change, movement or record");
    assert.deepEqual(withHold.w.statuses(), without.w.statuses());
    assert.deepEqual(logBytes(withHold.w.store), logBytes(without.w.store), "holds leave no trace in the public log");
    assert.deepEqual(
      [A, B, P].map((d) => withHold.w.balance(d)),
      [A, B, P].map((d) => without.w.balance(d)),
    );
  });

  test("a settling receipt posts its job's hold; the hold cannot be released afterwards", async () => {
    const w = new World();
    const job = work({ id: "post", requester: A, host: h(P), price: 300, ceiling: 900, completedAt: X + 2 * MINUTE });
    await w.deliver([job.auth, job.job], X);
    assert.equal((await w.admit(job.job, X)).admitted, true);
    assert.equal(w.held(A), 900);
    await w.deliver([h(P).attestation, job.receipt], X + MINUTE);
    await w.advance(X + 3 * MINUTE);
    assert.equal(w.status(job.receipt), "settled");
    assert.equal(w.held(A), 0);
    assert.equal(w.store.holds.get(job.job.uri)?.state, "posted");
    const fx = await w.release(job.job, X + 4 * MINUTE);
    assert.equal(fx.release?.released, false);
    assert.equal(w.balance(A), 700);
  });
});

// ---------------------------------------------------------------------------------------------

describe("4. Parked receipts cascade without a round limit", () => {
  /**
   * R_i: D_i pays D_{i+1}. R_0 (1,000) is payable from D_0's grant; every later one (1,001) only
   * with the payout of the one before. Completion times run backwards along the chain, so every
   * R_i (i ≥ 1) is decided — and parked — before the receipt that funds it.
   */
  function chain(n: number): { dids: string[]; works: Work[] } {
    const dids = Array.from({ length: n + 1 }, (_, i) => `did:plc:chain${n}n${String(i).padStart(2, "0")}`);
    const works = Array.from({ length: n }, (_, i) =>
      work({ id: `chain${n}-${i}`, requester: dids[i]!, host: h(dids[i + 1]!), price: i === 0 ? 1000 : 1001, completedAt: T0 + HOUR + (n - i) * MINUTE }),
    );
    return { dids, works };
  }

  for (const n of [9, 20]) {
    test(`a chain of ${n} receipts, each fundable only by the one before, settles in one advance`, async () => {
      const { dids, works } = chain(n);
      const last = T0 + HOUR + n * MINUTE;
      // Without its head, nothing in the chain can settle.
      const headless = new World();
      await headless.deliver(works.slice(1).flatMap((x) => x.records), last);
      await headless.advance(last + MINUTE);
      assert.deepEqual(works.slice(1).map((x) => headless.status(x.receipt)), works.slice(1).map(() => "parked"));

      const w = new World();
      await w.deliver(works.flatMap((x) => x.records), last);
      const fx = await w.advance(last + MINUTE);
      assert.deepEqual(works.map((x) => w.status(x.receipt)), works.map(() => "settled"), "none stays parked");
      assert.equal(fx.receipts.filter((r) => r.status === "parked").length, n - 1, "all but the head were parked first");
      assert.equal(fx.receipts.filter((r) => r.status === "settled").length, n);
      for (const x of works) assert.equal(w.settledAt(x.receipt), iso(last), "every one at the head's completedAt");
      // Conservation along the chain: each member kept its grant plus payout minus price.
      const minted = w.store.movements.filter((m) => m.from === null).reduce((t, m) => t + m.amount, 0);
      assert.equal(minted, 1000 * (n + 1));
      assert.equal([...w.store.accounts.values()].reduce((t, a) => t + a.balance, 0), minted);
      assert.equal(w.balance(dids[0]!), 0);
      assertMonotoneLog(w.store);
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe("5. Policy history: a new policy governs from its createdAt; the past keeps its own", () => {
  const P2_AT = T0 + 36 * HOUR;

  /** Receipts around the change at T0+36h (daily periods under the first policy). */
  function streams() {
    return {
      before: work({ id: "p-before", requester: A, host: h(P), price: 1000, completedAt: T0 + 33 * HOUR }),
      parked: work({ id: "p-parked", requester: C, host: h(P), price: 1500, completedAt: T0 + 34 * HOUR }),
      after: work({ id: "p-after", requester: B, host: h(P), price: 1000, completedAt: T0 + 40 * HOUR }),
      funds: work({ id: "p-funds", requester: D, host: h(C), price: 800, completedAt: T0 + 41 * HOUR }),
      late: work({ id: "p-next", requester: E, host: h(P), price: 200, completedAt: T0 + 50 * HOUR }),
    };
  }

  async function run(second: Rec, restart = false) {
    const s = streams();
    const w = new World(policyValue(), { restart });
    await w.advance(T0 + 30 * HOUR);
    await w.deliver([second], T0 + 30 * HOUR);
    await w.deliver([...s.before.records, ...s.parked.records], T0 + 34 * HOUR);
    await w.advance(T0 + 35 * HOUR);
    await w.deliver([...s.after.records, ...s.funds.records], T0 + 41 * HOUR);
    await w.advance(T0 + 42 * HOUR);
    return { w, s };
  }

  test("receipts completed before the change settle at the old fee and name the old policy; after it, the new", async () => {
    const second = policyRecord("second", { createdAt: P2_AT, feeBps: 1000 });
    for (const restart of [false, true]) {
      const { w, s } = await run(second, restart);
      const first = { uri: w.policyUri, cid: w.policyCid };
      assert.deepEqual(amounts(w.settlement(s.before.receipt)), [1000, 950, 50]);
      assert.deepEqual(policyOf(w.settlement(s.before.receipt)), first);
      assert.deepEqual(amounts(w.settlement(s.after.receipt)), [1000, 900, 100]);
      assert.deepEqual(policyOf(w.settlement(s.after.receipt)), { uri: second.uri, cid: second.cid });
      // Parked under the old policy, funded under the new: the policy at completedAt decides.
      assert.equal(w.settledAt(s.parked.receipt), iso(T0 + 41 * HOUR));
      assert.deepEqual(amounts(w.settlement(s.parked.receipt)), [1500, 1425, 75]);
      assert.deepEqual(policyOf(w.settlement(s.parked.receipt)), first);
      assert.deepEqual(amounts(w.settlement(s.funds.receipt)), [800, 720, 80]);
      assert.deepEqual(policyOf(w.settlement(s.funds.receipt)), { uri: second.uri, cid: second.cid });
      // Late: completed before the change, taking effect (at the watermark) after it.
      const late = work({ id: "p-late", requester: E, host: h(P), price: 1000, completedAt: T0 + 35 * HOUR });
      await w.deliver(late.records, T0 + 42 * HOUR);
      await w.advance(T0 + 43 * HOUR);
      assert.equal(w.settledAt(late.receipt), iso(T0 + 42 * HOUR));
      assert.deepEqual(amounts(w.settlement(late.receipt)), [1000, 950, 50]);
      assert.deepEqual(policyOf(w.settlement(late.receipt)), first);
      assertMonotoneLog(w.store);
    }
  });

  test("the same cadence: period boundaries are those of the first policy, each period governed by the policy at its start", async () => {
    const second = policyRecord("second", { createdAt: P2_AT, feeBps: 1000 });
    const { w, s } = await run(second);
    await w.deliver(s.late.records, T0 + 50 * HOUR);
    await w.advance(T0 + 73 * HOUR);
    assert.equal(w.status(s.late.receipt), "settled");
    const timeline = await w.ledger.policies();
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => [timeline.period(i).start - T0, timeline.period(i).end - T0, timeline.period(i).policy.uri]),
      [
        [0, DAY, w.policyUri],
        [DAY, 2 * DAY, w.policyUri],
        [2 * DAY, 3 * DAY, second.uri],
        [3 * DAY, 4 * DAY, second.uri],
      ],
    );
    const rows = patronageRows(w);
    assert.deepEqual([...new Set(rows.map((r) => JSON.stringify([periodOf(r), (r.value.policy as { uri: string }).uri])))], [
      JSON.stringify([{ start: iso(T0 + DAY), end: iso(T0 + 2 * DAY) }, w.policyUri]),
      JSON.stringify([{ start: iso(T0 + 2 * DAY), end: iso(T0 + 3 * DAY) }, second.uri]),
    ]);
    assertMonotoneLog(w.store);
  });

  test("a new cadence: the period open at the change keeps its length, the next one uses the new cadence", async () => {
    const second = policyRecord("second", { createdAt: P2_AT, feeBps: 1000, patronage: { fractionBps: 8000, cadenceDays: 2 } });
    const { w, s } = await run(second);
    await w.deliver(s.late.records, T0 + 50 * HOUR);
    await w.advance(T0 + 80 * HOUR);
    const timeline = await w.ledger.policies();
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => [timeline.period(i).start - T0, timeline.period(i).end - T0]),
      [
        [0, DAY],
        [DAY, 2 * DAY],
        [2 * DAY, 4 * DAY],
        [4 * DAY, 6 * DAY],
      ],
    );
    assert.deepEqual([...new Set(patronageRows(w).map((r) => JSON.stringify(periodOf(r))))], [JSON.stringify({ start: iso(T0 + DAY), end: iso(T0 + 2 * DAY) })], "the two-day period has not ended at T0+80h");
    await w.advance(T0 + 97 * HOUR);
    assert.deepEqual([...new Set(patronageRows(w).map((r) => JSON.stringify(periodOf(r))))], [
      JSON.stringify({ start: iso(T0 + DAY), end: iso(T0 + 2 * DAY) }),
      JSON.stringify({ start: iso(T0 + 2 * DAY), end: iso(T0 + 4 * DAY) }),
    ]);
    assertMonotoneLog(w.store);
  });

  test("a policy dated before the watermark, or outside the exchange's repo, is ignored; an active flip is the same policy", async () => {
    const w = new World();
    await w.advance(T0 + 30 * HOUR);
    const backdated = policyRecord("backdated", { createdAt: T0 + 29 * HOUR, feeBps: 2000 });
    const foreign = { ...policyRecord("foreign", { createdAt: T0 + 31 * HOUR, feeBps: 3000 }) };
    foreign.uri = `at://${D}/${NSID.exchangePolicy}/foreign`;
    const second = policyRecord("second", { createdAt: T0 + 32 * HOUR, feeBps: 1000 });
    await w.deliver([backdated, foreign, second], T0 + 30 * HOUR);
    assert.deepEqual((await w.ledger.policies()).all().map((p) => p.uri), [w.policyUri, second.uri]);
    assert.deepEqual((await w.store.policies()).map((p) => p.uri).sort(), [w.policyUri, second.uri].sort());
    // The exchange flips the second policy inactive: a new version of the same record.
    const flipped = rec(second.uri, { ...second.value, active: false });
    const r1 = work({ id: "bd1", requester: A, host: h(P), price: 1000, completedAt: T0 + 31 * HOUR });
    const r2 = work({ id: "bd2", requester: B, host: h(P), price: 1000, completedAt: T0 + 33 * HOUR });
    await w.deliver([flipped, ...r1.records, ...r2.records], T0 + 33 * HOUR);
    await w.advance(T0 + 34 * HOUR);
    assert.deepEqual(amounts(w.settlement(r1.receipt)), [1000, 950, 50], "the backdated and foreign policies govern nothing");
    assert.deepEqual(policyOf(w.settlement(r1.receipt)), { uri: w.policyUri, cid: w.policyCid });
    assert.deepEqual(amounts(w.settlement(r2.receipt)), [1000, 900, 100]);
    assert.deepEqual(policyOf(w.settlement(r2.receipt)), { uri: second.uri, cid: second.cid }, "settlements pin the version first seen");
  });
});

// ---------------------------------------------------------------------------------------------

describe("6. Late receipts and completedAt bounds", () => {
  test("a receipt completed in an already distributed period takes effect at the watermark, counts in the open period, and leaves the closed period's records unchanged", async () => {
    const w = new World();
    const onTime = work({ id: "l-on", requester: A, host: h(P), price: 400, completedAt: T0 + 2 * HOUR });
    await w.deliver(onTime.records, T0 + 2 * HOUR);
    await w.advance(T0 + 25 * HOUR);
    const closed = patronageRows(w);
    assert.deepEqual(closed.map((r) => [r.value.recipient, r.value.patronageScore, r.value.treasuryBefore]), [
      [A, 400, 20],
      [P, 380, 20],
    ]);
    const closedBytes = JSON.stringify(closed);
    const closedScores = w.scores(T0);

    const W = T0 + 25 * HOUR;
    const late = work({ id: "l-late", requester: B, host: h(P), price: 300, completedAt: T0 + 10 * HOUR });
    await w.deliver(late.records, W + 30 * MINUTE);
    assert.equal(w.store.receipts.get(late.receipt.uri)?.eff, W, "eff = max(completedAt, W)");
    await w.advance(W + HOUR);
    assert.equal(w.status(late.receipt), "settled");
    assert.equal(w.settledAt(late.receipt), iso(W), "settledAt is the watermark, not completedAt");
    const row = w.store.publishedRows.get(`settlement:${late.receipt.uri}`)!;
    assert.equal(decisionOf(row.rkey)?.ms, W);
    assert.equal(w.store.publishedRows.get(`grant:${B}`)?.value.createdAt, iso(W), "its touches are at the watermark too");
    assert.deepEqual(w.scores(T0), closedScores, "the closed period's scores are unchanged");
    assert.deepEqual(w.scores(T0 + DAY), { [B]: 300, [P]: 285 });

    await w.advance(T0 + 49 * HOUR);
    const all = patronageRows(w);
    assert.equal(JSON.stringify(all.slice(0, closed.length)), closedBytes, "the closed period's tokenPatronage records (and keys) are unchanged");
    assert.deepEqual(all.slice(closed.length).map((r) => [periodOf(r).start, r.value.recipient, r.value.patronageScore, r.value.treasuryBefore]), [
      [iso(T0 + DAY), B, 300, 20 - 16 + 15],
      [iso(T0 + DAY), P, 285, 20 - 16 + 15],
    ]);
    assertMonotoneLog(w.store);
  });

  test("completedAt more than 5 minutes past the receipt's firstSeen is rejected completed-in-future; exactly 5 minutes is accepted", async () => {
    const w = new World();
    const S = T0 + HOUR;
    const ok = work({ id: "f-ok", requester: A, host: h(P), price: 100, completedAt: S + 5 * MINUTE });
    const bad = work({ id: "f-bad", requester: B, host: h(P), price: 100, completedAt: S + 5 * MINUTE + 1 });
    await w.deliver([...ok.records, ...bad.records], S);
    assert.equal(w.status(ok.receipt), "queued");
    assert.equal(w.status(bad.receipt), "rejected");
    assert.deepEqual(w.codes(bad.receipt), ["completed-in-future"]);
    await w.advance(S + HOUR);
    assert.equal(w.status(ok.receipt), "settled");
    assert.equal(w.status(bad.receipt), "rejected");
    assert.equal(w.store.accounts.has(B), false, "a rejected receipt touches nobody");
  });

  test("firstSeen is the receipt's own first delivery, kept while it waits for its job", async () => {
    const w = new World();
    const S = T0 + HOUR;
    const ok = work({ id: "fs-ok", requester: A, host: h(P), price: 100, completedAt: S + 4 * MINUTE });
    const bad = work({ id: "fs-bad", requester: B, host: h(P), price: 100, completedAt: S + 6 * MINUTE });
    await w.deliver([h(P).attestation, ok.receipt, bad.receipt], S);
    assert.equal(w.status(ok.receipt), "pending");
    assert.equal(w.status(bad.receipt), "pending");
    await w.deliver([ok.auth, ok.job, bad.auth, bad.job], S + HOUR);
    assert.equal(w.status(ok.receipt), "queued");
    assert.deepEqual(w.codes(bad.receipt), ["completed-in-future"], "judged against S, not the job's arrival");
    // A new version of the rejected receipt, delivered later, is judged again — still against S.
    const again = rec(bad.receipt.uri, signRecord(bad.receipt.value, "enclaveSignature", h(P).key));
    assert.notEqual(again.cid, bad.receipt.cid);
    await w.deliver([again], S + 2 * HOUR);
    assert.equal(w.store.records.get(bad.receipt.uri)?.firstSeen, S);
    assert.equal(w.status(bad.receipt), "rejected");
    assert.deepEqual(w.codes(bad.receipt), ["completed-in-future"]);
  });

  const bounds: [string, Partial<Parameters<typeof work>[0]>, Partial<Parameters<typeof work>[0]>][] = [
    ["started-before-job", { startedAt: T0 + HOUR - 10 * SECOND, jobCreatedAt: T0 + HOUR - 10 * SECOND + 1 }, { startedAt: T0 + HOUR - 10 * SECOND, jobCreatedAt: T0 + HOUR - 10 * SECOND }],
    ["completed-before-start", { startedAt: T0 + HOUR + 1, jobCreatedAt: T0 + HOUR - MINUTE }, { startedAt: T0 + HOUR, jobCreatedAt: T0 + HOUR - MINUTE }],
    ["tokens-over-max", { tokens: { in: 0, out: 1001 }, maxTokensOut: 1000 }, { tokens: { in: 0, out: 1000 }, maxTokensOut: 1000 }],
  ];
  for (const [code, broken, boundary] of bounds) {
    test(`${code}: rejected with that code alone, moving nothing; the boundary case settles`, async () => {
      const w = new World();
      const base = { requester: A, host: h(P), price: 100, completedAt: T0 + HOUR };
      const bad = work({ ...base, id: `${code}-bad`, ...broken });
      const good = work({ ...base, id: `${code}-good`, requester: B, ...boundary });
      await w.deliver([...bad.records, ...good.records], T0 + HOUR);
      await w.advance(T0 + 2 * HOUR);
      assert.equal(w.status(bad.receipt), "rejected");
      assert.deepEqual(w.codes(bad.receipt), [code]);
      assert.equal(w.store.accounts.has(A), false);
      assert.equal(w.store.publishedRows.has(`settlement:${bad.receipt.uri}`), false);
      assert.equal(w.status(good.receipt), "settled");
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe("8. Patronage scores by the period containing completedAt, when it is open at settlement", () => {
  // A owes P 1,500 and can pay only once B's receipt pays it 760.
  test("a receipt parked and funded within one period scores in that period", async () => {
    const w = new World();
    const owed = work({ id: "s8-owed", requester: A, host: h(P), price: 1500, completedAt: T0 + 10 * HOUR });
    const pays = work({ id: "s8-pays", requester: B, host: h(A), price: 800, completedAt: T0 + 20 * HOUR });
    await w.deliver(owed.records, T0 + 10 * HOUR);
    await w.advance(T0 + 11 * HOUR);
    assert.equal(w.status(owed.receipt), "parked");
    await w.deliver(pays.records, T0 + 20 * HOUR);
    await w.advance(T0 + 25 * HOUR);
    assert.equal(w.settledAt(owed.receipt), iso(T0 + 20 * HOUR));
    assert.deepEqual(w.scores(T0), { [A]: 1500 + 760, [B]: 800, [P]: 1425 });
    assert.deepEqual(w.scores(T0 + DAY), {});
    const rows = patronageRows(w);
    assert.deepEqual(rows.map((r) => [periodOf(r).start, r.value.recipient, r.value.patronageScore, r.value.totalPatronage]), [
      [iso(T0), A, 2260, 4485],
      [iso(T0), B, 800, 4485],
      [iso(T0), P, 1425, 4485],
    ]);
  });

  test("a receipt parked across the period's end scores in the next period", async () => {
    const w = new World();
    const owed = work({ id: "s8x-owed", requester: A, host: h(P), price: 1500, completedAt: T0 + 20 * HOUR });
    const pays = work({ id: "s8x-pays", requester: B, host: h(A), price: 800, completedAt: T0 + 26 * HOUR });
    await w.deliver(owed.records, T0 + 20 * HOUR);
    await w.advance(T0 + 25 * HOUR);
    assert.equal(w.status(owed.receipt), "parked");
    assert.deepEqual(patronageRows(w), [], "nothing settled in period 0");
    await w.deliver(pays.records, T0 + 26 * HOUR);
    await w.advance(T0 + 49 * HOUR);
    assert.equal(w.settledAt(owed.receipt), iso(T0 + 26 * HOUR));
    assert.deepEqual(w.scores(T0), {});
    assert.deepEqual(w.scores(T0 + DAY), { [A]: 2260, [B]: 800, [P]: 1425 });
    assert.deepEqual([...new Set(patronageRows(w).map((r) => periodOf(r).start))], [iso(T0 + DAY)]);
  });

  test("half-open periods: completedAt one ms before the end scores in the period, at the end in the next", async () => {
    const w = new World();
    const inside = work({ id: "s8-in", requester: A, host: h(P), price: 100, completedAt: T0 + DAY - 1 });
    const atEnd = work({ id: "s8-end", requester: B, host: h(P), price: 100, completedAt: T0 + DAY });
    await w.deliver([...inside.records, ...atEnd.records], T0 + DAY - MINUTE);
    await w.advance(T0 + DAY + MINUTE);
    assert.deepEqual(w.scores(T0), { [A]: 100, [P]: 95 });
    assert.deepEqual(w.scores(T0 + DAY), { [B]: 100, [P]: 95 });
    assert.deepEqual(patronageRows(w).map((r) => r.value.treasuryBefore), [5, 5], "the period closed before the receipt at its end");
    assertMonotoneLog(w.store);
  });
});

// ---------------------------------------------------------------------------------------------

describe("9. sessionBudget is enforced at settlement", () => {
  test("receipts under one session authorization settle until their charges would pass the budget", async () => {
    const w = new World();
    const X = T0 + HOUR;
    const auth = authorization(A, "budget", { createdAt: X - HOUR, expiresAt: X + DAY, ceiling: 200, scope: "session", sessionBudget: 250 });
    const r = (id: string, price: number, minute: number) => work({ id, requester: A, host: h(P), price, completedAt: X + minute * MINUTE, auth });
    const rs = [r("sb1", 100, 1), r("sb2", 100, 2), r("sb3", 60, 3), r("sb4", 50, 4)];
    await w.deliver([auth, ...rs.flatMap((x) => x.records.filter((y) => y !== auth))], X + 5 * MINUTE);
    await w.advance(X + HOUR);
    assert.deepEqual(rs.map((x) => w.status(x.receipt)), ["settled", "settled", "rejected", "settled"]);
    assert.deepEqual(w.codes(rs[2]!.receipt), ["session-budget-exceeded"]);
    assert.equal(w.store.budgets.get(auth.uri), 250, "exactly the budget");
    assert.equal(w.balance(A), 1000 - 250);
  });
});

// ---------------------------------------------------------------------------------------------

describe("10. Self-loop and pro-bono settlement records", () => {
  const X = T0 + HOUR;

  test("a fee-waived self-loop states amountCharged = providerPayout = price, fee 0, and moves nothing", async () => {
    const w = new World();
    const loop = work({ id: "loop", requester: A, host: h(A), price: 300, completedAt: X });
    await w.deliver(loop.records, X);
    await w.advance(X + MINUTE);
    const s = w.settlement(loop.receipt);
    assert.deepEqual([s.amountCharged, s.providerPayout, s.exchangeFee], [money(300), money(300), money(0)]);
    assert.deepEqual(w.store.movements.map((m) => m.kind), ["grant"]);
    assert.equal(w.balance(A), 1000);
    assert.deepEqual(w.scores(T0), {}, "self-loops earn no patronage");
  });

  test("a self-loop without the waiver pays the fee (its minMinor floor) and states it", async () => {
    const w = new World(policyValue({ selfLoop: { feeWaived: false, minMinor: 30 } }));
    const loop = work({ id: "loop-fee", requester: A, host: h(A), price: 300, completedAt: X });
    await w.deliver(loop.records, X);
    await w.advance(X + MINUTE);
    assert.deepEqual(amounts(w.settlement(loop.receipt)), [300, 270, 30]);
    assert.deepEqual(w.store.movements.map((m) => [m.kind, m.amount]), [["grant", 1000], ["fee", 30]]);
    assert.deepEqual([w.balance(A), w.balance(EXCHANGE)], [970, 30]);
  });

  test("pro bono states zeros and moves nothing", async () => {
    const w = new World();
    const free = work({ id: "free", requester: A, host: h(P), tokens: { in: 0, out: 0 }, ceiling: 100, completedAt: X, proBono: true });
    await w.deliver(free.records, X);
    await w.advance(X + MINUTE);
    const s = w.settlement(free.receipt);
    assert.deepEqual([s.amountCharged, s.providerPayout, s.exchangeFee], [money(0), money(0), money(0)]);
    assert.deepEqual(w.store.movements.map((m) => m.kind), ["grant", "grant"]);
    assert.deepEqual(w.scores(T0), {});
  });
});

// ---------------------------------------------------------------------------------------------

describe("The decision log is monotone", () => {
  test("record keys sort in publication order and carry each record's time, many decisions in one millisecond included", async () => {
    const w = new World(policyValue({ refresh: { amountPerDid: 50, cadenceMinutes: 60 } }));
    const X = T0 + 20 * HOUR;
    const rs = [
      work({ id: "m1", requester: A, host: h(P), price: 1500, completedAt: X }),
      work({ id: "m2", requester: B, host: h(A), price: 800, completedAt: X + 2 * HOUR }),
      work({ id: "m3", requester: C, host: h(P), price: 10, completedAt: X + 2 * HOUR }),
      work({ id: "m4", requester: D, host: h(B), price: 10, completedAt: X + 2 * HOUR }),
      work({ id: "m5", requester: C, host: h(D), price: 10, completedAt: X + 5 * HOUR }),
    ];
    await w.deliver(rs.slice(0, 1).flatMap((x) => x.records), X);
    await w.read(C, X + HOUR);
    await w.deliver(rs.slice(1, 4).flatMap((x) => x.records), X + 2 * HOUR);
    await w.advance(X + 3 * HOUR);
    await w.read(C, X + 4 * HOUR); // a refresh
    await w.deliver(rs.slice(4).flatMap((x) => x.records), X + 5 * HOUR);
    await w.advance(X + 30 * HOUR);
    const collections = new Set(w.published().map((p) => p.collection));
    assert.deepEqual([...collections].sort(), [NSID.tokenGrant, NSID.tokenPatronage, NSID.tokenRefresh, NSID.settlement].sort());
    const sameMs = w.published().filter((p) => decisionOf(p.rkey)?.ms === X + 2 * HOUR);
    assert.ok(sameMs.length >= 6, `several decisions at one instant (${sameMs.length})`);
    assert.deepEqual(sameMs.map((p) => decisionOf(p.rkey)?.seq), sameMs.map((_, i) => i));
    assertMonotoneLog(w.store);
  });
});
