// Service-auth replay protection in the exchange database (seen-jtis.ts): the attack is a token
// used once, the exchange restarted on the same database, and the same token sent again. With the
// old in-memory guard the restarted process had forgotten the token and answered 200.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { getServiceAuthToken } from "@cocore/atproto";
import { NSID } from "@cocore/protocol";
import { openLedgerDb, startExchange } from "../src/index.ts";
import { SqlReplayGuard } from "../src/seen-jtis.ts";
import { databaseFor, exchangeConfig, member, pgSkip, startLocalNetwork, tempDir, type Backend, type LocalNetwork } from "./support.ts";

let net: LocalNetwork;
before(async () => {
  net = await startLocalNetwork();
});
after(async () => {
  await net?.close();
});

async function getBalance(url: string, did: string, token: string) {
  const res = await fetch(`${url}/xrpc/${NSID.getBalance}?${new URLSearchParams({ did })}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

for (const backend of ["sqlite", "postgres"] as Backend[]) {
  describe(`seen jtis on ${backend}`, { skip: backend === "postgres" ? pgSkip : false }, () => {
    test("a service-auth token used once is refused by the exchange restarted on the same database", async () => {
      const dir = tempDir();
      const db = await databaseFor(backend, dir.path);
      const account = await net.createAccount(`exj${randomBytes(3).toString("hex")}`);
      const config = exchangeConfig(net, account, db.url, dir.path);
      let ex = await startExchange(config);
      try {
        const carol = await member(net, "carol");
        // Long enough to outlive the restart whatever the machine's speed: the point is a token
        // still within its validity.
        const token = await getServiceAuthToken(carol.agent, ex.did, NSID.getBalance, { expiresInSeconds: 600 });
        const first = await getBalance(ex.url, carol.did, token);
        assert.equal(first.status, 200, JSON.stringify(first.body));

        await ex.close();
        ex = await startExchange(config);
        const replay = await getBalance(ex.url, carol.did, token);
        assert.equal(replay.status, 401, `the replayed token was accepted: ${JSON.stringify(replay.body)}`);
        assert.match(String(replay.body.message), /already used/);

        // The restarted exchange still takes fresh tokens.
        const fresh = await getBalance(ex.url, carol.did, await getServiceAuthToken(carol.agent, ex.did, NSID.getBalance));
        assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
      } finally {
        await ex.close();
        await db.drop();
        dir.remove();
      }
    });

    test("the guard: once per jti until it expires, atomic across two handles on one database, swept after expiry", async () => {
      const dir = tempDir();
      const db = await databaseFor(backend, dir.path);
      const one = await openLedgerDb(db.url);
      const two = await openLedgerDb(db.url);
      try {
        let now = 1_000_000;
        const a = new SqlReplayGuard(one, () => now);
        const b = new SqlReplayGuard(two, () => now);
        assert.equal(await a.check("did:plc:x j1", now + 60), true);
        assert.equal(await a.check("did:plc:x j1", now + 60), false);
        assert.equal(await b.check("did:plc:x j1", now + 60), false, "another process on the database sees it");
        assert.equal(await b.check("did:plc:y j1", now + 60), true, "the issuer is part of the key");

        // Many concurrent checks of one new jti from two handles (two processes): exactly one wins.
        const results = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).check("did:plc:x race", now + 60)));
        assert.equal(results.filter(Boolean).length, 1, `winners: ${results.filter(Boolean).length}`);

        // At expiry the token is still refused; after it, the row no longer protects anything
        // (the token itself is refused by its exp), and the sweep removes it.
        now += 60;
        assert.equal(await a.check("did:plc:x j1", now + 60), false);
        now += 1;
        assert.equal(await a.check("did:plc:x j1", now + 60), true, "an expired row is taken over");
        const count = async () => Number((await one.db.selectFrom("seen_jtis").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow()).n);
        assert.equal(await count(), 3);
        now += 61;
        assert.equal(await a.sweep(), 3);
        assert.equal(await count(), 0);
      } finally {
        await one.close();
        await two.close();
        await db.drop();
        dir.remove();
      }
    });
  });
}
