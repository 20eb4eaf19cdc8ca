// The exchange on a real local network (PLC + PDS), real signatures, on SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { listRecords } from "@cocore/atproto";
import { fromJsonRecord, signatureBytes, signingPayload, verify } from "@cocore/protocol";
import { startExchange, type Exchange } from "../src/index.ts";
import {
  databaseFor,
  member,
  pgSkip,
  publishAttestation,
  publishJob,
  publishReceipt,
  startLocalNetwork,
  tempDir,
  type Backend,
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

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`exchange on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    const dir = tempDir();
    let db: { url: string; drop(): Promise<void> };
    let ex: Exchange;
    let exAccount: { handle: string; password: string; did: string };
    let alice: Member;
    let bob: Member;
    const start = () =>
      startExchange({
        db: db.url,
        pdsUrl: net.pdsUrl,
        plcUrl: net.plcUrl,
        handle: exAccount.handle,
        password: exAccount.password,
        stateDir: dir.path,
        schedulerIntervalMs: 0,
        publishIntervalMs: 50,
        log: () => {},
      });

    before(async () => {
      db = await databaseFor(backend, dir.path);
      exAccount = await net.createAccount(`ex${backend.slice(0, 2)}${Date.now() % 100000}`);
      ex = await start();
      alice = await member(net, "alice");
      bob = await member(net, "bob");
      await publishAttestation(bob);
    });
    after(async () => {
      await ex?.close();
      await db?.drop();
      dir.remove();
    });

    test("a verified receipt settles 95/5 with grants, and the records are published", async () => {
      const j = await publishJob(alice, ex.did);
      const r = await publishReceipt(bob, alice.did, j, { tokensIn: 400, tokensOut: 600 });
      const s = await ex.waitForSettlement(r.uri);
      assert.equal(s.status, "settled", JSON.stringify(s));
      assert.deepEqual([s.charged, s.payout, s.fee], [1000, 950, 50]);
      assert.equal(await ex.balance(alice.did), 1_000_000 - 1000);
      assert.equal(await ex.balance(bob.did), 1_000_000 + 950);
      assert.equal(await ex.balance(ex.did), 50);
      await ex.waitForPublished();
      const grants = await listRecords(net.pdsUrl, ex.did, "dev.cocore.account.tokenGrant");
      assert.deepEqual(grants.map((g) => g.value.recipient).sort(), [alice.did, bob.did].sort());
      const settlements = await listRecords(net.pdsUrl, ex.did, "dev.cocore.compute.settlement");
      const mine = settlements.find((x) => (x.value.receipt as { uri: string }).uri === r.uri);
      assert.ok(mine, "settlement record published");
      assert.equal((mine.value.providerPayout as { amount: number }).amount, 950);
      const lex = fromJsonRecord(mine.value) as Record<string, unknown>;
      assert.ok(verify(ex.publicKey, signingPayload(lex, "sig"), signatureBytes(lex.sig)!), "settlement sig verifies");
      assert.equal((await ex.consistencyCheck()).ok, true);
    });

    test("a receipt with a bad signature is rejected, stored with bad-signature, and moves nothing", async () => {
      const before = await ex.balance(alice.did);
      const j = await publishJob(alice, ex.did);
      const r = await publishReceipt(bob, alice.did, j, {
        tamper: (v) => {
          (v.tokens as { in: number }).in += 1;
          (v.price as { amount: number }).amount += 1;
        },
      });
      const s = await ex.waitForSettlement(r.uri);
      assert.equal(s.status, "rejected");
      assert.ok(s.findings.some((f) => f.code === "bad-signature"), JSON.stringify(s.findings));
      assert.equal(await ex.balance(alice.did), before);
    });

    test("self-loop and pro bono receipts settle without moving tokens; a self-loop states what it consumed", async () => {
      await publishAttestation(alice);
      const beforeA = await ex.balance(alice.did);
      const beforeB = await ex.balance(bob.did);
      const self = await publishReceipt(alice, alice.did, await publishJob(alice, ex.did));
      const pb = await publishReceipt(bob, alice.did, await publishJob(alice, ex.did), { proBono: true });
      const s1 = await ex.waitForSettlement(self.uri);
      assert.equal(s1.status, "settled", JSON.stringify(s1));
      // As cocore.dev writes it: charged = payout = price, no fee; the member nets to zero.
      assert.deepEqual([s1.charged, s1.payout, s1.fee], [1000, 1000, 0]);
      const s2 = await ex.waitForSettlement(pb.uri);
      assert.equal(s2.status, "settled", JSON.stringify(s2));
      assert.deepEqual([s2.charged, s2.payout, s2.fee], [0, 0, 0]);
      assert.equal(await ex.balance(alice.did), beforeA);
      assert.equal(await ex.balance(bob.did), beforeB);
    });

    test("a new member's first receipt grants and settles exactly (out-of-order delivery: store.test.ts)", async () => {
      const carol = await member(net, "carol");
      const j = await publishJob(carol, ex.did, { ceiling: 5000 });
      const r = await publishReceipt(bob, carol.did, j, { tokensIn: 100, tokensOut: 100 });
      const s = await ex.waitForSettlement(r.uri);
      assert.equal(s.status, "settled");
      assert.equal(await ex.balance(carol.did), 1_000_000 - 200);
      const snapshot = await ex.consistencyCheck();
      assert.equal(snapshot.ok, true, snapshot.problems.join("; "));
    });

    test("admission refuses below the floor and concurrent admissions cannot pass it together", async () => {
      const dave = await member(net, "dave");
      const big = await publishJob(dave, ex.did, { ceiling: 950_000, createdAt: Date.now() });
      const refused = await ex.admitJob({ job: big.job, requester: dave.did, priceCeiling: { amount: 950_000, currency: "TOK" }, expiresAt: big.expiresAt });
      assert.equal(refused.admitted, false);
      assert.equal(refused.code, "below_floor");
      // 1,000,000 − 100,000 floor leaves room for exactly four holds of 200,000.
      // These jobs expire in 6 s, so that the scheduler's release of an expired hold is seen live.
      const soon = Date.now() + 6000;
      const jobs = await Promise.all(Array.from({ length: 8 }, () => publishJob(dave, ex.did, { ceiling: 200_000, createdAt: Date.now() - 60_000, expiresAt: soon })));
      const results = await Promise.all(jobs.map((j) => ex.admitJob({ job: j.job, requester: dave.did, priceCeiling: { amount: 200_000, currency: "TOK" }, expiresAt: j.expiresAt })));
      assert.equal(results.filter((x) => x.admitted).length, 4);
      const acct = await ex.account(dave.did);
      assert.equal(acct.held, 800_000);
      assert.ok(acct.balance - acct.held >= 100_000);
      // A receipt posts against its hold and releases the rest of it.
      const admittedJob = jobs[results.findIndex((x) => x.admitted)]!;
      const r = await publishReceipt(bob, dave.did, admittedJob, { tokensIn: 1000, tokensOut: 1000, completedAt: Date.now() });
      assert.equal((await ex.waitForSettlement(r.uri)).status, "settled");
      const after = await ex.account(dave.did);
      assert.equal(after.held, 600_000);
      assert.equal(after.balance, 1_000_000 - 2000);
      // Expired holds are released by the scheduler.
      await new Promise((r) => setTimeout(r, Math.max(0, soon + 50 - Date.now())));
      await ex.tick();
      assert.equal((await ex.account(dave.did)).held, 0);
      assert.equal((await ex.consistencyCheck()).ok, true);
    });

    test("a restart resumes from the stored cursor without settling anything twice", async () => {
      const before = await ex.consistencyCheck();
      await ex.close();
      const j = await publishJob(alice, ex.did);
      const r = await publishReceipt(bob, alice.did, j, { tokensIn: 10, tokensOut: 20 });
      ex = await start();
      const s = await ex.waitForSettlement(r.uri);
      assert.equal(s.status, "settled");
      const check = await ex.consistencyCheck();
      assert.equal(check.ok, true, check.problems.join("; "));
      assert.equal(check.totalMinted, before.totalMinted);
      assert.equal(check.totalBalance, before.totalBalance);
    });

    test("rebuild: an empty database reading the firehose from the start reaches the same state", async () => {
      await ex.waitForPublished();
      const dids = [alice.did, bob.did, ex.did];
      const want = await Promise.all(dids.map((d) => ex.balance(d)));
      const wantCheck = await ex.consistencyCheck();
      const wantCursor = Object.values(await ex.cursors())[0]!;
      const grantsBefore = (await listRecords(net.pdsUrl, ex.did, "dev.cocore.account.tokenGrant")).length;
      await ex.close();
      const oldDb = db;
      db = await databaseFor(backend, dir.path);
      ex = await start();
      const deadline = Date.now() + 20_000;
      while ((Object.values(await ex.cursors())[0] ?? 0) < wantCursor && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(await Promise.all(dids.map((d) => ex.balance(d))), want);
      const check = await ex.consistencyCheck();
      assert.equal(check.ok, true, check.problems.join("; "));
      assert.equal(check.totalMinted, wantCheck.totalMinted);
      assert.equal(check.totalBalance, wantCheck.totalBalance);
      await ex.waitForPublished();
      assert.equal((await listRecords(net.pdsUrl, ex.did, "dev.cocore.account.tokenGrant")).length, grantsBefore, "no duplicate grant records");
      await oldDb.drop();
    });
  });
}
