// Policy history on a real exchange (local PLC + PDS): a fee change or a new settlement key
// publishes a new policy and governs only what completes after it; earlier settlements keep their
// fee, policy and signature through restarts and a rebuild from an empty database; a ledger in use
// whose key file went missing refuses to start until told --new-key. The auditor agrees throughout.
import assert from "node:assert/strict";
import { renameSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { listRecords } from "@cocore/atproto";
import { audit } from "@cocore/auditor";
import { fromJsonRecord, NSID, verifyRecordSignature } from "@cocore/protocol";
import { MissingKeyError, startExchange, type Exchange, type ExchangeConfig } from "../src/index.ts";
import { databaseFor, exchangeConfig, member, pgSkip, publishAttestation, publishJob, publishReceipt, startLocalNetwork, tempDir, type Backend, type LocalNetwork, type Member } from "./support.ts";

let net: LocalNetwork;
before(async () => {
  net = await startLocalNetwork();
});
after(async () => {
  await net?.close();
});

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`policy history on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    test("a fee change and a key rotation govern only what completes after them; a rebuild keeps every settlement as made", async () => {
      const dir = tempDir();
      let db = await databaseFor(backend, dir.path);
      const account = await net.createAccount(`exh${Date.now() % 100000}${backend.slice(0, 1)}`);
      const config = (extra: Partial<ExchangeConfig> = {}) => exchangeConfig(net, account, db.url, dir.path, { graceMs: 300, ...extra });
      let ex: Exchange | undefined;
      try {
        const alice: Member = await member(net, "alice");
        const bob: Member = await member(net, "bob");
        await publishAttestation(bob);
        const settle = async (e: Exchange, tokensIn: number, tokensOut: number) => {
          const j = await publishJob(alice, e.did, { createdAt: Date.now() - 60_000 });
          const r = await publishReceipt(bob, alice.did, j, { tokensIn, tokensOut, completedAt: Date.now() });
          const s = await e.waitForSettlement(r.uri);
          assert.equal(s.status, "settled", JSON.stringify(s));
          return { uri: r.uri, fee: s.fee! };
        };

        ex = await startExchange(config());
        const first = await settle(ex, 400, 600);
        assert.equal(first.fee, 50, "5% under the first policy");
        const firstPolicy = ex.policy.uri;
        await ex.waitForPublished();
        await ex.close();

        // A fee change: a new policy; the old settlement keeps its fee.
        ex = await startExchange(config({ policy: { feeBps: 300 } }));
        assert.notEqual(ex.policy.uri, firstPolicy);
        const second = await settle(ex, 400, 600);
        assert.equal(second.fee, 30, "3% under the second policy");
        assert.equal((await ex.receiptStatus(first.uri))?.fee, 50);
        await ex.waitForPublished();
        const keyBefore = ex.publicKey;
        await ex.close();

        // A key rotation: signs from now on with a new key, published as a new policy.
        ex = await startExchange(config({ policy: { feeBps: 300 }, newKey: true }));
        assert.notEqual(ex.publicKey, keyBefore);
        const third = await settle(ex, 40, 60);
        assert.equal(third.fee, 3);
        await ex.waitForPublished();
        const policies = await listRecords(net.pdsUrl, ex.did, NSID.exchangePolicy);
        assert.equal(policies.length, 3);
        assert.equal(policies.filter((p) => p.value.active !== false).length, 1, "older policies are flipped inactive");
        const settlements = await listRecords(net.pdsUrl, ex.did, NSID.settlement);
        const byReceipt = new Map(settlements.map((s) => [(s.value.receipt as { uri: string }).uri, fromJsonRecord(s.value) as Record<string, unknown>]));
        assert.equal(verifyRecordSignature(byReceipt.get(first.uri)!, "sig", keyBefore), true, "old settlements keep their signature");
        assert.equal(verifyRecordSignature(byReceipt.get(third.uri)!, "sig", ex.publicKey), true);
        assert.equal((byReceipt.get(first.uri)!.policy as { uri: string }).uri, firstPolicy, "each settlement names the policy it was made under");

        const clean = await audit({ exchangeDid: ex.did, idResolver: net.idResolver, pdsUrls: [net.pdsUrl], exchangeUrl: ex.url, graceMs: 0 });
        assert.deepEqual(clean.discrepancies, []);
        const balances = { alice: await ex.balance(alice.did), bob: await ex.balance(bob.did), treasury: await ex.balance(ex.did) };
        await ex.close();
        ex = undefined;

        // The key file goes missing: a ledger in use refuses to start rather than sign with a new key.
        renameSync(join(dir.path, "exchange-key.json"), join(dir.path, "exchange-key.lost.json"));
        await assert.rejects(startExchange(config({ policy: { feeBps: 300 } })), (err: Error) => err instanceof MissingKeyError && /--new-key/.test(err.message));
        renameSync(join(dir.path, "exchange-key.lost.json"), join(dir.path, "exchange-key.json"));

        // A rebuild from an empty database replays the published log: the same balances, the
        // old fees, no settlement written again.
        const oldDb = db;
        db = await databaseFor(backend, dir.path);
        ex = await startExchange(config({ policy: { feeBps: 300 } }));
        const deadline = Date.now() + 20_000;
        while ((await ex.receiptStatus(third.uri))?.status !== "settled" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual({ alice: await ex.balance(alice.did), bob: await ex.balance(bob.did), treasury: await ex.balance(ex.did) }, balances);
        assert.equal((await ex.receiptStatus(first.uri))?.fee, 50);
        await ex.waitForPublished();
        assert.equal((await listRecords(net.pdsUrl, ex.did, NSID.settlement)).length, 3, "no settlement written twice");
        assert.equal((await ex.consistencyCheck()).ok, true);
        await oldDb.drop();
      } finally {
        await ex?.close();
        await db.drop();
        dir.remove();
      }
    });
  });
}
