import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  AtprotoError,
  createRecord,
  createServiceJwt,
  deleteRecord,
  exportRepo,
  getRecord,
  getServiceAuthToken,
  JtiReplayGuard,
  listRecords,
  login,
  startLocalNetwork,
  subscribeFirehose,
  verifyServiceJwt,
  applyWrites,
  type Account,
  type FirehoseEvent,
  type LocalNetwork,
} from "@cocore/atproto";

const JOB = "dev.cocore.compute.job";
const LXM = "dev.cocore.exchange.getBalance";

function jobValue(n: number) {
  return {
    $type: JOB,
    model: "test-model",
    inputCommitment: "ab".repeat(32),
    maxTokensOut: 100 + n,
    priceCeiling: { amount: 1000, currency: "TOK" },
    nonce: "cd".repeat(16),
    createdAt: new Date(0).toISOString(),
  };
}

/** Collects firehose commits and lets a test wait for one matching a predicate. */
class Collector {
  events: FirehoseEvent[] = [];
  private waiters: Array<{ pred: (e: FirehoseEvent) => boolean; resolve: (e: FirehoseEvent) => void }> = [];
  push = (e: FirehoseEvent) => {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => (w.pred(e) ? (w.resolve(e), false) : true));
  };
  waitFor(pred: (e: FirehoseEvent) => boolean): Promise<FirehoseEvent> {
    const hit = this.events.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("firehose event did not arrive within 10 s")), 10_000);
      this.waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }
}

describe("local network", () => {
  let net: LocalNetwork;
  let alice: Account;
  let bob: Account;
  const seen = new Collector();
  let sub: ReturnType<typeof subscribeFirehose>;
  const firehoseErrors: Error[] = [];

  before(async () => {
    net = await startLocalNetwork();
    [alice, bob] = await Promise.all([net.createAccount("alice"), net.createAccount("bob.test")]);
    sub = subscribeFirehose({
      service: net.pdsUrl,
      cursor: 0,
      filterCollections: ["dev.cocore.*"],
      idResolver: net.idResolver,
      onEvent: seen.push,
      onError: (e) => firehoseErrors.push(e),
    });
  });

  after(async () => {
    await sub?.close();
    await net?.close();
  });

  it("creates accounts with resolvable did:plc identities on the local PLC", async () => {
    assert.equal(alice.handle, "alice.test");
    assert.equal(bob.handle, "bob.test");
    assert.match(alice.did, /^did:plc:/);
    assert.notEqual(alice.did, bob.did);
    const data = await net.idResolver.did.resolveAtprotoData(alice.did);
    assert.equal(data.handle, "alice.test");
    assert.equal(data.pds, net.pdsUrl);
  });

  it("logs in, and tells an unknown account, a wrong password and a dead PDS apart", async () => {
    const agent = await login(net.pdsUrl, "alice.test", alice.password);
    assert.equal(agent.did, alice.did);
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        assert.ok(err instanceof AtprotoError, String(err));
        return err.code;
      }
      return "no error";
    };
    assert.equal(await code(login(net.pdsUrl, "alice.test", "wrong")), "invalid_password");
    assert.equal(await code(login(net.pdsUrl, "nobody.test", "x")), "account_not_found");
    assert.equal(await code(login("http://127.0.0.1:1", "alice.test", "x")), "service_unreachable");
  });

  it("writes a record and reads it back via getRecord, exportRepo and the firehose; a delete reaches the firehose", async () => {
    const ref = await createRecord(alice.agent, JOB, jobValue(1));
    const rkey = ref.uri.split("/").pop()!;
    assert.equal(ref.uri, `at://${alice.did}/${JOB}/${rkey}`);

    const got = await getRecord(net.pdsUrl, alice.did, JOB, rkey);
    assert.ok(got);
    assert.equal(got.cid, ref.cid);
    assert.deepEqual(got.value, jobValue(1));
    assert.equal(await getRecord(net.pdsUrl, alice.did, JOB, "3zzzzzzzzzzzz"), null);

    await createRecord(alice.agent, "app.example.other", { $type: "app.example.other", x: 1 });
    const exported = await exportRepo(net.pdsUrl, alice.did, { idResolver: net.idResolver, collectionPrefix: "dev.cocore." });
    assert.equal(exported.did, alice.did);
    assert.deepEqual(
      exported.records.map((r) => [r.uri, r.cid]),
      [[ref.uri, ref.cid]],
    );
    assert.deepEqual(exported.records[0]!.value, jobValue(1));

    const created = await seen.waitFor((e) => e.ops.some((o) => o.uri === ref.uri && o.action === "create"));
    const op = created.ops.find((o) => o.uri === ref.uri)!;
    assert.equal(created.did, alice.did);
    assert.equal(op.cid, ref.cid);
    assert.equal(op.collection, JOB);
    assert.deepEqual(op.record, jobValue(1));
    assert.ok(
      seen.events.every((e) => e.ops.every((o) => o.collection.startsWith("dev.cocore."))),
      "the collection filter lets only dev.cocore.* through",
    );

    await deleteRecord(alice.agent, JOB, rkey);
    const deleted = await seen.waitFor((e) => e.ops.some((o) => o.uri === ref.uri && o.action === "delete"));
    assert.ok(deleted.seq > created.seq);
    assert.equal(await getRecord(net.pdsUrl, alice.did, JOB, rkey), null);
    assert.deepEqual(firehoseErrors, []);
  });

  it("batches writes into one commit, delivered as one firehose event", async () => {
    const writes = Array.from({ length: 5 }, (_, i) => ({ action: "create" as const, collection: JOB, value: jobValue(i) }));
    const results = await applyWrites(bob.agent, writes);
    assert.equal(results.length, 5);
    const uris = results.map((r) => r.uri);
    const evt = await seen.waitFor((e) => e.did === bob.did && e.ops.length === 5);
    assert.deepEqual(evt.ops.map((o) => o.uri), uris);
    const listed = await listRecords(net.pdsUrl, bob.did, JOB);
    assert.deepEqual(listed.map((r) => r.uri).sort(), [...uris].sort());
    assert.ok(sub.cursor !== undefined && sub.cursor >= evt.seq);
  });

  it("service JWTs: a PDS-issued token verifies once; wrong audience, wrong method and replays are refused", async () => {
    const aud = bob.did;
    const token = await getServiceAuthToken(alice.agent, aud, LXM);
    const guard = new JtiReplayGuard();
    const idResolver = net.idResolver;
    assert.equal(await verifyServiceJwt(token, { audienceDid: aud, lxm: LXM, idResolver, replayGuard: guard }), alice.did);
    await assert.rejects(verifyServiceJwt(token, { audienceDid: aud, lxm: LXM, idResolver, replayGuard: guard }), {
      code: "jwt_replayed",
    });
    await assert.rejects(verifyServiceJwt(token, { audienceDid: alice.did, lxm: LXM, idResolver }), { code: "jwt_invalid" });
    await assert.rejects(verifyServiceJwt(token, { audienceDid: aud, lxm: "dev.cocore.other", idResolver }), {
      code: "jwt_invalid",
    });
  });

  it("service JWTs: createServiceJwt with the account key verifies; another key does not", async () => {
    const keypair = await net.signingKeypair(alice.did);
    const jwt = await createServiceJwt({ issuerDid: alice.did, audienceDid: bob.did, lxm: LXM, keypair, expiresInSeconds: 30 });
    const opts = { audienceDid: bob.did, lxm: LXM, idResolver: net.idResolver };
    assert.equal(await verifyServiceJwt(jwt, opts), alice.did);
    const bobKey = await net.signingKeypair(bob.did);
    const forged = await createServiceJwt({ issuerDid: alice.did, audienceDid: bob.did, lxm: LXM, keypair: bobKey });
    await assert.rejects(verifyServiceJwt(forged, opts), { code: "jwt_invalid" });
  });
});

describe("JtiReplayGuard", () => {
  it("refuses a jti until its expiry, then forgets it", () => {
    let now = 1000;
    const guard = new JtiReplayGuard(() => now);
    assert.equal(guard.check("a", 1060), true);
    assert.equal(guard.check("a", 1060), false);
    assert.equal(guard.check("b", 1060), true);
    now = 1061;
    assert.equal(guard.check("a", 1120), true);
    now = 2000;
    guard.check("c", 2060);
    assert.equal(guard.size, 1);
  });
});

describe("startLocalNetwork", () => {
  it("runs two networks side by side and close() deletes the temp data", async () => {
    const [a, b] = await Promise.all([startLocalNetwork(), startLocalNetwork()]);
    try {
      assert.notEqual(a.pdsUrl, b.pdsUrl);
      assert.notEqual(a.dataDir, b.dataDir);
      assert.ok(existsSync(a.dataDir));
      const res = await fetch(`${b.pdsUrl}/xrpc/_health`);
      assert.equal(res.status, 200);
      // "exchange" is on the PDS's reserved-name list; createAccount still gets it.
      const acct = await b.createAccount("exchange.test");
      assert.equal(acct.handle, "exchange.test");
      assert.equal((await b.idResolver.did.resolveAtprotoData(acct.did, true)).handle, "exchange.test");
      assert.equal((await login(b.pdsUrl, "exchange.test", acct.password)).did, acct.did);
      assert.equal(acct.agent.did, acct.did);
    } finally {
      await a.close();
      await b.close();
    }
    assert.equal(existsSync(a.dataDir), false);
    assert.equal(existsSync(b.dataDir), false);
    await a.close(); // idempotent
  });
});
