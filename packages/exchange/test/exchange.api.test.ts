// The exchange over the real local network: its XRPC API over HTTP with service auth, refresh and
// patronage with a short-cadence policy, and a receipt that arrives on the firehose before its job.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { getServiceAuthToken, lexToJson, listRecords, putRecord } from "@cocore/atproto";
import { inputCommitment, NSID, recordCid } from "@cocore/protocol";
import { deterministicTid, startExchange, type Exchange, type ExchangeConfig } from "../src/index.ts";
import {
  databaseFor,
  exchangeConfig,
  iso,
  member,
  pgSkip,
  publishAttestation,
  publishJob,
  publishReceipt,
  startLocalNetwork,
  T0,
  tempDir,
  type Backend,
  type JobRefs,
  type LocalNetwork,
  type Member,
} from "./support.ts";

let net: LocalNetwork;
before(async () => {
  net = await startLocalNetwork();
});
after(async () => {
  await net?.close();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** An exchange on its own fresh account and database; `clock` is its injected clock. */
async function exchangeFor(backend: Backend, extra: Partial<ExchangeConfig> = {}) {
  const dir = tempDir();
  const db = await databaseFor(backend, dir.path);
  const account = await net.createAccount(`ex${randomBytes(4).toString("hex")}`);
  const clock = { now: T0 };
  const ex = await startExchange(
    exchangeConfig(net, account, db.url, dir.path, {
      now: () => clock.now,
      log: process.env.DEBUG_EX ? (l: string) => console.error("EX", l) : () => {},
      ...extra,
    }),
  );
  return {
    ex,
    clock,
    async close() {
      await ex.close();
      await db.drop();
      dir.remove();
    },
  };
}

/**
 * Waits until the exchange has seen receipt `uri`, then moves its clock 2 s past `at` (and past
 * where it was), so that the watermark (the clock less the 1 s grace) passes the receipt.
 */
async function settleOn(h: { ex: Exchange; clock: { now: number } }, uri: string, at = T0 + 60_000) {
  const deadline = Date.now() + 15_000;
  const sleep = () => new Promise((r) => setTimeout(r, 50));
  let s = await h.ex.receiptStatus(uri);
  while ((!s || s.status === "pending") && Date.now() < deadline) s = (await sleep(), await h.ex.receiptStatus(uri));
  // A receipt that became a candidate after the watermark passed it waits at the watermark for the
  // clock to move on (as a live clock always does): move it until the receipt is decided.
  for (let bump = 0; s?.status === "queued" && Date.now() < deadline; bump++) {
    h.clock.now = Math.max(h.clock.now, at) + 2000;
    for (let i = 0; i < 20 && s?.status === "queued"; i++) s = (await sleep(), await h.ex.receiptStatus(uri));
  }
  return h.ex.waitForSettlement(uri);
}

async function xrpc(ex: Exchange, method: string, init: { params?: Record<string, string>; token?: string; body?: unknown } = {}) {
  const qs = init.params ? `?${new URLSearchParams(init.params).toString()}` : "";
  const res = await fetch(`${ex.url}/xrpc/${method}${qs}`, {
    method: init.body === undefined ? "GET" : "POST",
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("XRPC API over HTTP (sqlite)", () => {
  let h: Awaited<ReturnType<typeof exchangeFor>>;
  let mm: Member;
  let carol: Member;
  let bob: Member;
  before(async () => {
    mm = await member(net, "mm");
    carol = await member(net, "carol");
    bob = await member(net, "bob");
    h = await exchangeFor("sqlite", { matchmakers: [mm.did] });
    await publishAttestation(bob);
  });
  after(async () => {
    await h?.close();
  });

  test("getBalance: the public view does not touch; the member's own read (service auth) grants", async () => {
    const pub = await xrpc(h.ex, NSID.getBalance, { params: { did: carol.did } });
    assert.equal(pub.status, 200, JSON.stringify(pub.body));
    assert.deepEqual([pub.body.balance, pub.body.granted], [0, false]);
    const token = await getServiceAuthToken(carol.agent, h.ex.did, NSID.getBalance);
    const own = await xrpc(h.ex, NSID.getBalance, { params: { did: carol.did }, token });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.deepEqual([own.body.balance, own.body.available, own.body.granted], [1_000_000, 1_000_000, true]);
    assert.equal(own.body.lastRefreshAt, iso(T0), "the touch happened at the exchange clock");
    await h.ex.waitForPublished();
    const grants = await listRecords(net.pdsUrl, h.ex.did, NSID.tokenGrant);
    assert.deepEqual(
      grants.map((g) => [g.value.recipient, g.value.amount]),
      [[carol.did, 1_000_000]],
    );
  });

  test("service auth refuses a token for another audience, another method, or used twice", async () => {
    const wrongAud = await getServiceAuthToken(carol.agent, mm.did, NSID.getBalance);
    assert.equal((await xrpc(h.ex, NSID.getBalance, { params: { did: carol.did }, token: wrongAud })).status, 401);
    const wrongLxm = await getServiceAuthToken(carol.agent, h.ex.did, NSID.listHistory);
    assert.equal((await xrpc(h.ex, NSID.getBalance, { params: { did: carol.did }, token: wrongLxm })).status, 401);
    const once = await getServiceAuthToken(carol.agent, h.ex.did, NSID.getBalance);
    assert.equal((await xrpc(h.ex, NSID.getBalance, { params: { did: carol.did }, token: once })).status, 200);
    const replay = await xrpc(h.ex, NSID.getBalance, { params: { did: carol.did }, token: once });
    assert.equal(replay.status, 401);
    assert.match(String(replay.body.message), /already used/);
  });

  test("admitJob answers only the configured matchmaker", async () => {
    const j = await publishJob(carol, h.ex.did, { ceiling: 5000 });
    const body = { job: { uri: j.job.uri, cid: j.job.cid }, requester: carol.did, priceCeiling: { amount: 5000, currency: "TOK" }, expiresAt: j.expiresAt };
    const asMember = await xrpc(h.ex, NSID.admitJob, { body, token: await getServiceAuthToken(carol.agent, h.ex.did, NSID.admitJob) });
    assert.equal(asMember.status, 403, JSON.stringify(asMember.body));
    assert.equal((await xrpc(h.ex, NSID.admitJob, { body })).status, 401, "no token at all");
    assert.equal((await h.ex.account(carol.did)).held, 0, "a refused caller places no hold");
    const asMm = await xrpc(h.ex, NSID.admitJob, { body, token: await getServiceAuthToken(mm.agent, h.ex.did, NSID.admitJob) });
    assert.equal(asMm.status, 200, JSON.stringify(asMm.body));
    assert.equal(asMm.body.admitted, true);
    assert.equal((await h.ex.account(carol.did)).held, 5000);
  });

  test("getPolicy, verifyReceipt and listSettlements", async () => {
    const policy = await xrpc(h.ex, NSID.getPolicy);
    assert.equal(policy.status, 200);
    assert.deepEqual([policy.body.uri, policy.body.cid], [h.ex.policy.uri, h.ex.policy.cid]);
    assert.equal((policy.body.policy as { exchange: string }).exchange, h.ex.did);

    const good = await publishReceipt(bob, carol.did, await publishJob(carol, h.ex.did), { tokensIn: 40, tokensOut: 60 });
    const forged = await publishReceipt(bob, carol.did, await publishJob(carol, h.ex.did), { tamper: (v) => ((v.tokens as { out: number }).out += 1) });
    assert.equal((await settleOn(h, good.uri)).status, "settled");
    assert.equal((await settleOn(h, forged.uri)).status, "rejected");
    const ok = await xrpc(h.ex, NSID.verifyReceipt, { params: { uri: good.uri } });
    assert.deepEqual([ok.status, ok.body.ok, ok.body.status], [200, true, "settled"]);
    const bad = await xrpc(h.ex, NSID.verifyReceipt, { params: { uri: forged.uri } });
    assert.deepEqual([bad.body.ok, bad.body.status], [false, "rejected"]);
    assert.ok((bad.body.findings as { code: string }[]).some((f) => f.code === "bad-signature"), JSON.stringify(bad.body));
    assert.equal((await xrpc(h.ex, NSID.verifyReceipt, { params: { uri: `${good.uri}x` } })).status, 400);

    await h.ex.waitForPublished();
    const list = await xrpc(h.ex, NSID.listSettlements, { params: { did: bob.did } });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    const rows = list.body.settlements as { receipt: string; uri: string; amountCharged: number; providerPayout: number; exchangeFee: number }[];
    assert.deepEqual(
      rows.map((r) => [r.receipt, r.amountCharged, r.providerPayout, r.exchangeFee]),
      [[good.uri, 100, 95, 5]],
    );
    const onPds = await listRecords(net.pdsUrl, h.ex.did, NSID.settlement);
    assert.deepEqual(onPds.map((r) => r.uri), [rows[0]!.uri]);
  });

  /** Carol publishes a job with this ceiling and the matchmaker has it admitted (a hold placed). */
  async function admitCarolJob(ceiling: number) {
    const j = await publishJob(carol, h.ex.did, { ceiling });
    const job = { uri: j.job.uri, cid: j.job.cid };
    const admitted = await xrpc(h.ex, NSID.admitJob, {
      body: { job, requester: carol.did, priceCeiling: { amount: ceiling, currency: "TOK" }, expiresAt: j.expiresAt },
      token: await getServiceAuthToken(mm.agent, h.ex.did, NSID.admitJob),
    });
    assert.equal(admitted.body.admitted, true, JSON.stringify(admitted.body));
    return { j, job, admitted };
  }

  test("releaseHold: only the matchmaker, a pending hold given back once, a replayed token refused", async () => {
    await h.ex.touch(carol.did);
    const start = await h.ex.account(carol.did);
    const { j, job, admitted } = await admitCarolJob(7000);
    assert.equal((await h.ex.account(carol.did)).held, start.held + 7000);
    const body = { job, holdKey: admitted.body.holdKey, reason: "provider_lost" };

    const asMember = await xrpc(h.ex, NSID.releaseHold, { body, token: await getServiceAuthToken(carol.agent, h.ex.did, NSID.releaseHold) });
    assert.equal(asMember.status, 403, JSON.stringify(asMember.body));
    assert.equal((await xrpc(h.ex, NSID.releaseHold, { body })).status, 401, "no token at all");
    const wrongLxm = await getServiceAuthToken(mm.agent, h.ex.did, NSID.admitJob);
    assert.equal((await xrpc(h.ex, NSID.releaseHold, { body, token: wrongLxm })).status, 401, "a token for another method");
    const otherJob = await xrpc(h.ex, NSID.releaseHold, { body: { ...body, holdKey: "hold:at://did:plc:x/dev.cocore.compute.job/y" }, token: await getServiceAuthToken(mm.agent, h.ex.did, NSID.releaseHold) });
    assert.equal(otherJob.status, 400, "a holdKey naming another job");
    const longReason = await xrpc(h.ex, NSID.releaseHold, { body: { ...body, reason: "x".repeat(65) }, token: await getServiceAuthToken(mm.agent, h.ex.did, NSID.releaseHold) });
    assert.equal(longReason.status, 400, "reason is capped at 64 characters");
    assert.equal((await h.ex.account(carol.did)).held, start.held + 7000, "refused calls release nothing");

    const token = await getServiceAuthToken(mm.agent, h.ex.did, NSID.releaseHold);
    const released = await xrpc(h.ex, NSID.releaseHold, { body, token });
    assert.equal(released.status, 200, JSON.stringify(released.body));
    assert.deepEqual(released.body, { released: true, held: start.held, available: start.balance - start.held });
    const acct = await h.ex.account(carol.did);
    assert.deepEqual([acct.balance, acct.held, acct.available], [start.balance, start.held, start.available], "held back, available restored, nothing charged");
    assert.equal((await xrpc(h.ex, NSID.releaseHold, { body, token })).status, 401, "a replayed token is refused");

    const again = await xrpc(h.ex, NSID.releaseHold, { body, token: await getServiceAuthToken(mm.agent, h.ex.did, NSID.releaseHold) });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body, { released: false, held: start.held, available: start.balance - start.held }, "releasing twice is a no-op");
    const never = await xrpc(h.ex, NSID.releaseHold, {
      body: { job: { uri: (await publishJob(carol, h.ex.did)).job.uri, cid: j.job.cid }, reason: "not_admitted" },
      token: await getServiceAuthToken(mm.agent, h.ex.did, NSID.releaseHold),
    });
    assert.deepEqual([never.status, never.body.released], [200, false], "a job never admitted has no hold to release");
    assert.equal((await h.ex.consistencyCheck()).ok, true);
  });

  test("releaseHold after settlement: the posted hold stays posted and nothing moves", async () => {
    await h.ex.touch(carol.did);
    const start = await h.ex.account(carol.did);
    const { j, job, admitted } = await admitCarolJob(6000);
    // A provider of its own, so the other tests' settlement lists stay as they are.
    const dave = await member(net, "dave");
    await publishAttestation(dave);
    const r = await publishReceipt(dave, carol.did, j, { tokensIn: 10, tokensOut: 20 });
    assert.equal((await settleOn(h, r.uri)).status, "settled");
    const settled = await h.ex.account(carol.did);
    assert.deepEqual([settled.balance, settled.held], [start.balance - 30, start.held], "the receipt posted against the hold");
    const late = await xrpc(h.ex, NSID.releaseHold, {
      body: { job, holdKey: admitted.body.holdKey, reason: "provider_lost" },
      token: await getServiceAuthToken(mm.agent, h.ex.did, NSID.releaseHold),
    });
    assert.equal(late.status, 200, JSON.stringify(late.body));
    assert.deepEqual(late.body, { released: false, held: settled.held, available: settled.balance - settled.held });
    const after = await h.ex.account(carol.did);
    assert.deepEqual([after.balance, after.held], [settled.balance, settled.held]);
    assert.equal((await h.ex.consistencyCheck()).ok, true);
  });
});

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`ledger time from records on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    test("refresh and patronage with a short cadence publish tokenRefresh and tokenPatronage records", async () => {
      const h = await exchangeFor(backend, {
        policy: { refresh: { amountPerDid: 5_000, cadenceMinutes: 60 }, patronage: { fractionBps: 8_000, cadenceDays: 1 } },
      });
      try {
        const alice = await member(net, "alice");
        const bob = await member(net, "bob");
        await publishAttestation(bob);
        // The exchange's clock follows the receipts: each arrives just after it completed, and
        // settles once the watermark (the clock less the 1 s grace) has passed its completedAt.
        const settle = async (j: JobRefs, tokensIn: number, tokensOut: number, completedAt: number) => {
          h.clock.now = completedAt;
          const r = await publishReceipt(bob, alice.did, j, { tokensIn, tokensOut, completedAt });
          const st = await settleOn(h, r.uri, completedAt);
          assert.equal(st.status, "settled", JSON.stringify(st));
        };
        // Grants at T0+10 min; three hours later (past the 60-minute cadence) both parties refresh.
        await settle(await publishJob(alice, h.ex.did), 400, 600, T0 + 10 * 60_000);
        await settle(await publishJob(alice, h.ex.did, { createdAt: T0 + 3 * HOUR - 60_000 }), 1200, 800, T0 + 3 * HOUR);
        assert.equal(await h.ex.balance(alice.did), 1_000_000 - 1000 + 5000 - 2000);
        assert.equal(await h.ex.balance(bob.did), 1_000_000 + 950 + 5000 + 1900);
        assert.equal(await h.ex.balance(h.ex.did), 150);

        // getPatronage projects the period in progress with the ledger's own split: the pool if it
        // ended now, and each member's share of it (what the distribution below then credits).
        const during = await xrpc(h.ex, NSID.getPatronage, { params: { did: alice.did } });
        assert.equal(during.status, 200, JSON.stringify(during.body));
        assert.deepEqual(during.body, {
          treasury: h.ex.did,
          treasuryBalance: 150,
          current: { start: iso(T0), end: iso(T0 + DAY), fractionBps: 8_000, totalScore: 5850, members: 2, projectedPool: 120, score: 3000, projectedRebate: 62 },
          periods: [],
        });

        // Nothing is due before the day-long period ends; then 80% of the 150 in fees is shared
        // by patronage (alice charged 3000, bob earned 2850): 61.54 → 62 and 58.46 → 58.
        assert.equal((await h.ex.tick(T0 + DAY - 1)).periodsDistributed, 0);
        assert.equal((await h.ex.tick(T0 + DAY)).periodsDistributed, 0, "not before the watermark's grace after its end");
        assert.equal((await h.ex.tick(T0 + DAY + 1000)).periodsDistributed, 1);
        assert.equal((await h.ex.tick(T0 + DAY + HOUR)).periodsDistributed, 0, "a period is distributed once");
        assert.equal(await h.ex.balance(alice.did), 1_002_000 + 62);
        assert.equal(await h.ex.balance(bob.did), 1_007_850 + 58);
        assert.equal(await h.ex.balance(h.ex.did), 30);
        h.clock.now = T0 + DAY + HOUR;
        const past = await xrpc(h.ex, NSID.getPatronage, { params: { did: bob.did } });
        assert.deepEqual(past.body.periods, [{ end: iso(T0 + DAY), distributed: 120, recipients: 2, credited: 58 }]);
        assert.equal((past.body.current as { start: string }).start, iso(T0 + DAY));
        const check = await h.ex.consistencyCheck();
        assert.equal(check.ok, true, check.problems.join("; "));

        await h.ex.waitForPublished();
        const refreshes = await listRecords(net.pdsUrl, h.ex.did, NSID.tokenRefresh);
        assert.deepEqual(
          refreshes.map((r) => [r.value.recipient, r.value.amount, r.value.createdAt]).sort(),
          [alice.did, bob.did].sort().map((d) => [d, 5000, iso(T0 + 3 * HOUR)]),
        );
        const shares = await listRecords(net.pdsUrl, h.ex.did, NSID.tokenPatronage);
        const byDid = new Map(shares.map((s) => [s.value.recipient as string, s.value]));
        assert.equal(shares.length, 2);
        assert.equal(byDid.get(alice.did)!.tokensCredited, 62);
        assert.equal(byDid.get(bob.did)!.tokensCredited, 58);
        // Every movement of the member's history names the public record it is published as.
        const hist = await xrpc(h.ex, NSID.listHistory, { params: { did: alice.did } });
        const settlements = new Set((await listRecords(net.pdsUrl, h.ex.did, NSID.settlement)).map((r) => r.uri));
        const published = new Set([...refreshes, ...shares].map((r) => r.uri).concat((await listRecords(net.pdsUrl, h.ex.did, NSID.tokenGrant)).map((r) => r.uri), [...settlements]));
        const movements = hist.body.movements as { kind: string; record?: string }[];
        assert.deepEqual([...new Set(movements.map((m) => m.kind))].sort(), ["charge", "grant", "patronage", "refresh"]);
        for (const m of movements) assert.ok(m.record && published.has(m.record), JSON.stringify(m));
        assert.equal(movements.find((m) => m.kind === "patronage")!.record, shares.find((x) => x.value.recipient === alice.did)!.uri);
        for (const s of shares) {
          assert.deepEqual(s.value.period, { start: iso(T0), end: iso(T0 + DAY) });
          assert.equal(s.value.treasuryBefore, 150);
          assert.equal(s.value.totalPatronage, 5850);
        }
      } finally {
        await h.close();
      }
    });

    test("a receipt that arrives before its job waits, then settles once the job and authorization arrive", async () => {
      const h = await exchangeFor(backend);
      try {
        const alice = await member(net, "alice");
        const bob = await member(net, "bob");
        await publishAttestation(bob);
        // The job and authorization get their rkeys and CIDs now, but are written after the receipt.
        const authValue = {
          $type: NSID.paymentAuthorization,
          exchange: h.ex.did,
          ceiling: { amount: 10_000, currency: "TOK" },
          scope: "singleJob",
          nonce: randomBytes(16).toString("hex"),
          expiresAt: iso(T0 + DAY),
          createdAt: iso(T0),
        };
        const authRkey = deterministicTid(`auth:${randomBytes(8).toString("hex")}`, T0);
        const auth = { uri: `at://${alice.did}/${NSID.paymentAuthorization}/${authRkey}`, cid: recordCid(authValue)! };
        const commitment = inputCommitment(randomBytes(48));
        const jobValue = {
          $type: NSID.job,
          model: "test-model",
          inputCommitment: commitment,
          maxTokensOut: 1000,
          priceCeiling: { amount: 10_000, currency: "TOK" },
          acceptedTrustLevel: "self-attested",
          acceptedExchanges: [h.ex.did],
          paymentAuthorization: auth,
          nonce: randomBytes(16).toString("hex"),
          expiresAt: iso(T0 + HOUR),
          createdAt: iso(T0),
        };
        const jobRkey = deterministicTid(`job:${randomBytes(8).toString("hex")}`, T0);
        const job = { uri: `at://${alice.did}/${NSID.job}/${jobRkey}`, cid: recordCid(jobValue)! };
        const refs: JobRefs = { job, auth, commitment, ceiling: 10_000, expiresAt: jobValue.expiresAt };

        const r = await publishReceipt(bob, alice.did, refs, { tokensIn: 100, tokensOut: 200 });
        const deadline = Date.now() + 15_000;
        let s = await h.ex.receiptStatus(r.uri);
        while (s?.status !== "pending" && Date.now() < deadline) {
          await new Promise((res) => setTimeout(res, 50));
          s = await h.ex.receiptStatus(r.uri);
        }
        assert.equal(s?.status, "pending");
        assert.equal(s?.reason, "waiting for job");
        assert.equal(await h.ex.balance(alice.did), 0, "nothing moves while the job is missing");

        const writtenJob = await putRecord(alice.agent, NSID.job, jobRkey, lexToJson(jobValue) as Record<string, unknown>);
        assert.equal(writtenJob.cid, job.cid, "the job's CID was predicted");
        const waitingAuth = await h.ex.waitForSettlement(r.uri, 1000).catch(() => undefined);
        assert.equal(waitingAuth, undefined, "still waiting for the authorization");
        assert.equal((await h.ex.receiptStatus(r.uri))?.reason, "waiting for paymentAuthorization");
        await putRecord(alice.agent, NSID.paymentAuthorization, authRkey, lexToJson(authValue) as Record<string, unknown>);

        const done = await settleOn(h, r.uri);
        assert.equal(done.status, "settled", JSON.stringify(done));
        assert.deepEqual([done.charged, done.payout, done.fee], [300, 285, 15]);
        assert.equal(await h.ex.balance(alice.did), 1_000_000 - 300);
        assert.equal(await h.ex.balance(bob.did), 1_000_000 + 285);
        assert.equal((await h.ex.consistencyCheck()).ok, true);
      } finally {
        await h.close();
      }
    });
  });
}
