// The gateway's two files: keys.json (hashes, names, expiry, last use; never a session) and
// sessions.json (the PDS sessions, removed with a DID's last live key), the migration from the
// older layout that kept sessions inside keys.json, and the lock that serializes their writers.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { hashKey, KeyStore, LAST_USE_RESOLUTION_MS, sessionsPathFor } from "../src/index.ts";

const root = mkdtempSync(join(tmpdir(), "cocore-keyfiles-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const paths = () => {
  const dir = join(root, `g${n++}`);
  return { dir, keys: join(dir, "keys.json"), sessions: join(dir, "sessions.json") };
};
const json = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
const session = (did: string, secret: string) => ({ pds: "http://pds.invalid", session: { did, handle: "x.test", accessJwt: `access-${secret}`, refreshJwt: `refresh-${secret}`, active: true } });

test("sessions live in their own 0600 file and go with the DID's last key; keys.json never holds one", () => {
  const p = paths();
  const store = new KeyStore(p.keys);
  assert.equal(sessionsPathFor(p.keys), p.sessions);
  const a1 = store.create("did:plc:alice", "laptop", { session: session("did:plc:alice", "A1") });
  const a2 = store.create("did:plc:alice", "ci", { session: session("did:plc:alice", "A2") });
  store.create("did:plc:bob", "bob", { session: session("did:plc:bob", "B") });

  const keysText = readFileSync(p.keys, "utf8");
  assert.ok(!/refresh-|access-|"sessions"/.test(keysText), keysText);
  assert.equal(statSync(p.keys).mode & 0o777, 0o600);
  assert.equal(statSync(p.sessions).mode & 0o777, 0o600);
  assert.equal(statSync(p.dir).mode & 0o777, 0o700);
  assert.deepEqual(Object.keys((json(p.sessions).sessions as object)).sort(), ["did:plc:alice", "did:plc:bob"]);
  assert.deepEqual((store.session("did:plc:alice") as ReturnType<typeof session>).session.refreshJwt, "refresh-A2");

  // Another process (a gateway) sees the same, and does not bring a revoked session back.
  const gateway = new KeyStore(p.keys);
  assert.equal(store.revoke(a1.entry.id), true);
  assert.ok(gateway.session("did:plc:alice"), "alice still has a key: her session stays");
  assert.equal(store.revoke(a2.entry.id), true);
  assert.equal(gateway.session("did:plc:alice"), undefined);
  assert.ok(!readFileSync(p.sessions, "utf8").includes("did:plc:alice"));
  assert.equal(gateway.updateSession("did:plc:alice", session("did:plc:alice", "refreshed")), false);
  assert.equal(gateway.setSession("did:plc:alice", session("did:plc:alice", "again")), false, "no key, no session");
  for (const f of [p.keys, p.sessions]) assert.ok(!readFileSync(f, "utf8").includes("did:plc:alice"), f);
  assert.ok(gateway.session("did:plc:bob"));
  assert.equal(gateway.updateSession("did:plc:bob", session("did:plc:bob", "B2")), true);
  assert.equal((store.session("did:plc:bob") as ReturnType<typeof session>).session.refreshJwt, "refresh-B2");
});

test("an older key file with sessions inside is migrated on first load, dropping the sessions of revoked keys", () => {
  const p = paths();
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const key = "ck-legacy-key";
  writeFileSync(
    p.keys,
    JSON.stringify({
      keys: [
        { id: "aaa", hash: hashKey(key), did: "did:plc:alice", label: "old laptop", createdAt: "2026-01-01T00:00:00.000Z" },
        { id: "bbb", hash: hashKey("ck-other"), did: "did:plc:carol", createdAt: "2026-01-02T00:00:00.000Z" },
      ],
      sessions: { "did:plc:alice": session("did:plc:alice", "A"), "did:plc:revoked": session("did:plc:revoked", "R") },
    }),
    { mode: 0o600 },
  );
  const store = new KeyStore(p.keys);
  const onDisk = json(p.keys);
  assert.equal("sessions" in onDisk, false, "keys.json was rewritten without the sessions");
  assert.ok(!readFileSync(p.keys, "utf8").includes("refresh-"));
  assert.deepEqual(Object.keys(json(p.sessions).sessions as object), ["did:plc:alice"]);
  assert.equal(statSync(p.sessions).mode & 0o777, 0o600);
  assert.equal(store.lookup(key)?.did, "did:plc:alice", "the old key still works");
  assert.deepEqual(store.list().map((k) => [k.id, k.name]), [["aaa", "old laptop"], ["bbb", "key-bbb"]]);
  assert.equal((store.session("did:plc:alice") as ReturnType<typeof session>).session.refreshJwt, "refresh-A");
  assert.equal(store.session("did:plc:revoked"), undefined);

  // An older cocore writing the old layout again is migrated by the next reader; the session
  // already in sessions.json wins over the stale copy.
  store.updateSession("did:plc:alice", session("did:plc:alice", "newer"));
  writeFileSync(p.keys, JSON.stringify({ ...json(p.keys), sessions: { "did:plc:alice": session("did:plc:alice", "stale") } }));
  assert.equal((new KeyStore(p.keys).session("did:plc:alice") as ReturnType<typeof session>).session.refreshJwt, "refresh-newer");
  assert.equal("sessions" in json(p.keys), false);
});

test("an expired key is refused (and listed), its DID's session dropped at the next change", () => {
  const p = paths();
  let now = Date.parse("2026-06-01T00:00:00.000Z");
  const store = new KeyStore(p.keys, { now: () => now });
  const { key, entry } = store.create("did:plc:alice", "short", { expiresAt: new Date(now + 3_600_000), session: session("did:plc:alice", "A") });
  assert.equal(entry.expiresAt, "2026-06-01T01:00:00.000Z");
  assert.equal(store.lookup(key)?.id, entry.id);
  now += 3_600_000;
  assert.equal(store.lookup(key), undefined, "refused at its expiry");
  assert.equal(new KeyStore(p.keys, { now: () => now }).lookup(key), undefined);
  assert.deepEqual(store.list().map((k) => k.id), [entry.id], "still listed, for revoking");
  assert.ok(store.session("did:plc:alice"));
  store.create("did:plc:bob", "bob");
  assert.equal(store.session("did:plc:alice"), undefined, "no live key can use alice's session any more");
  assert.throws(() => store.create("did:plc:bob", "bad", { expiresAt: "soon" }), /invalid key expiry/);
});

test("last use is written at most once a minute per key, and seen by other processes", () => {
  const p = paths();
  let now = Date.parse("2026-06-01T00:00:00.000Z");
  const store = new KeyStore(p.keys, { now: () => now });
  const { key, entry } = store.create("did:plc:alice", "busy");
  const other = store.create("did:plc:alice", "quiet");
  assert.equal(entry.lastUsedAt, undefined);
  const version = () => `${statSync(p.keys).ino}:${statSync(p.keys).mtimeMs}`;

  const gateway = new KeyStore(p.keys, { now: () => now });
  gateway.lookup(key);
  const first = new Date(now).toISOString();
  assert.equal(store.list().find((k) => k.id === entry.id)?.lastUsedAt, first);
  const written = version();
  for (let i = 0; i < 50; i++) {
    now += 1000;
    gateway.lookup(key);
  }
  assert.equal(version(), written, "59 s of requests did not rewrite keys.json");
  assert.equal(store.list().find((k) => k.id === entry.id)?.lastUsedAt, first);
  now = Date.parse(first) + LAST_USE_RESOLUTION_MS;
  gateway.lookup(key);
  assert.equal(store.list().find((k) => k.id === entry.id)?.lastUsedAt, new Date(now).toISOString());
  assert.notEqual(version(), written);
  // A second gateway process does not write again within the minute the first one recorded.
  const written2 = version();
  now += 1000;
  new KeyStore(p.keys, { now: () => now }).lookup(key);
  assert.equal(version(), written2);
  assert.equal(store.list().find((k) => k.id === other.entry.id)?.lastUsedAt, undefined);
});

test("changes wait for the lock file; one left behind by a dead process is removed", () => {
  const p = paths();
  const store = new KeyStore(p.keys);
  store.create("did:plc:alice", "one");
  const lock = `${p.keys}.lock`;
  writeFileSync(lock, "99999");
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  const { key } = store.create("did:plc:alice", "two");
  assert.equal(new KeyStore(p.keys).lookup(key)?.name, "two");
  assert.equal(existsSync(lock), false);
});
