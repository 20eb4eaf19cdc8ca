// `cocore apikey` and the gateway's key files against real services. The attack: someone who can
// read the gateway's files after a key was revoked takes the PDS session stored for it and acts as
// the requester. So: the session must never be in keys.json, and must be gone from disk once the
// DID's last key is revoked. Also an expired key is refused by a real gateway, and last use shows.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { AtpAgent } from "@atproto/api";
import { login, startLocalNetwork, type LocalNetwork } from "@cocore/atproto";
import { CocoreClient } from "@cocore/client";
import { KeyStore, startGateway } from "@cocore/gateway";
import { parseExpiry } from "../src/commands/apikey.ts";
import { startCooperative, type Cooperative } from "../src/cooperative.ts";
import type { SavedSession } from "../src/requester.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** The real CLI in a child process (asynchronously: the PDS it talks to runs in this process). */
function cocore(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(root, ".toolchain/bin")}:${dirname(process.execPath)}:${process.env.PATH ?? ""}`, ...env };
  for (const k of ["COCORE_API_KEYS_FILE", "COCORE_SESSION_FILE", "COCORE_PASSWORD"]) if (!(k in env)) delete childEnv[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["packages/cli/bin/cocore.mjs", ...args], { cwd: root, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every file under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => readFileSync(f, "utf8").includes(needle));
}

describe("cocore apikey against a real PDS", () => {
  let net: LocalNetwork;
  const home = mkdtempSync(join(tmpdir(), "cocore-apikey-"));
  before(async () => {
    net = await startLocalNetwork();
  });
  after(async () => {
    await net?.close();
    rmSync(home, { recursive: true, force: true });
  });

  test("the session is kept apart from the keys and is gone from disk once the DID's last key is revoked", async () => {
    const acct = await net.createAccount("keyholder.test");
    const env = { XDG_CONFIG_HOME: home };
    const gatewayDir = join(home, "cocore", "gateway");
    const li = await cocore(["login", acct.handle, "--pds", net.pdsUrl, "--password", acct.password, "--json"], env);
    assert.equal(li.code, 0, li.stderr);
    const saved = JSON.parse(readFileSync(join(home, "cocore", "session.json"), "utf8")) as SavedSession;
    const { refreshJwt, accessJwt } = saved.session;

    const c1 = await cocore(["apikey", "create", "--name", "laptop", "--expires", "30d", "--json"], env);
    assert.equal(c1.code, 0, c1.stderr);
    const k1 = JSON.parse(c1.stdout) as { key: string; id: string; name: string; did: string; createdAt: string; expiresAt: string | null };
    assert.equal(k1.name, "laptop");
    assert.equal(k1.did, acct.did);
    assert.ok(k1.expiresAt && Date.parse(k1.expiresAt) - Date.parse(k1.createdAt) === 30 * 86_400_000, JSON.stringify(k1));
    const c2 = await cocore(["apikey", "create", "--json"], env);
    assert.equal(c2.code, 0, c2.stderr);
    const k2 = JSON.parse(c2.stdout) as { key: string; id: string; name: string; expiresAt: string | null };
    assert.equal(k2.name, acct.handle, "the default name is the handle");
    assert.equal(k2.expiresAt, null);

    const keysFile = join(gatewayDir, "keys.json");
    const sessionsFile = join(gatewayDir, "sessions.json");
    assert.deepEqual(filesContaining(gatewayDir, refreshJwt), [sessionsFile], "the refresh token is in the sessions file only");
    assert.deepEqual(filesContaining(gatewayDir, accessJwt), [sessionsFile]);
    assert.equal("sessions" in JSON.parse(readFileSync(keysFile, "utf8")), false);
    for (const f of [keysFile, sessionsFile]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
    // What the file holds is a working credential for the account (what an attacker would take).
    const thief = new AtpAgent({ service: net.pdsUrl });
    const stolen = (JSON.parse(readFileSync(sessionsFile, "utf8")) as { sessions: Record<string, SavedSession> }).sessions[acct.did]!;
    await thief.resumeSession(stolen.session);
    assert.equal(thief.did, acct.did);

    // A gateway accepting the first key records its use; `apikey list` shows it.
    assert.equal(new KeyStore(keysFile).lookup(k1.key)?.did, acct.did);
    const ls = await cocore(["apikey", "list", "--json"], env);
    assert.equal(ls.code, 0, ls.stderr);
    const listed = (JSON.parse(ls.stdout) as { keys: Array<Record<string, unknown>> }).keys;
    assert.deepEqual(listed.map((k) => [k.id, k.name, k.did, k.expiresAt, k.expired]), [
      [k1.id, "laptop", acct.did, k1.expiresAt, false],
      [k2.id, acct.handle, acct.did, null, false],
    ]);
    assert.equal(typeof listed[0]!.createdAt, "string");
    assert.equal(typeof listed[0]!.lastUsedAt, "string", "the gateway's use shows");
    assert.equal(listed[1]!.lastUsedAt, null);
    const human = await cocore(["apikey", "list"], env);
    assert.match(human.stdout, /LAST USED/);
    assert.match(human.stdout, new RegExp(`${k2.id}\\s+${acct.handle.replace(".", "\\.")}.*never\\s+never`));

    const r1 = await cocore(["apikey", "revoke", k1.id, "--json"], env);
    assert.equal(r1.code, 0, r1.stderr);
    assert.deepEqual(JSON.parse(r1.stdout), { revoked: k1.id, did: acct.did, sessionRemoved: false });
    assert.deepEqual(filesContaining(gatewayDir, refreshJwt), [sessionsFile], "another key still needs the session");

    const r2 = await cocore(["apikey", "revoke", k2.id, "--json"], env);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(JSON.parse(r2.stdout), { revoked: k2.id, did: acct.did, sessionRemoved: true });
    assert.deepEqual(filesContaining(gatewayDir, refreshJwt), [], "no file under gateway/ holds the refresh token");
    assert.deepEqual(filesContaining(gatewayDir, accessJwt), []);
    assert.deepEqual(filesContaining(gatewayDir, acct.did), [], "nothing about the DID is left, key or session");

    const t = Date.parse("2026-06-01T00:00:00.000Z");
    assert.equal(parseExpiry("12h", t).toISOString(), "2026-06-01T12:00:00.000Z");
    assert.equal(parseExpiry("2026-07-01", t).toISOString(), "2026-07-01T00:00:00.000Z");
    assert.throws(() => parseExpiry("2020-01-01T00:00:00Z", t), /not in the future/);
    assert.throws(() => parseExpiry("soon", t), /duration/);
  });
});

describe("the gateway and its key files in a real cooperative", () => {
  let coop: Cooperative;
  const dir = mkdtempSync(join(tmpdir(), "cocore-gwkeys-"));
  before(async () => {
    coop = await startCooperative({ engine: "stub", requesters: ["gwkey"] });
  });
  after(async () => {
    await coop?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a key works with the session from sessions.json until it expires; then the gateway refuses it", async () => {
    const acct = coop.accounts.requesters[0]!;
    const own = await login(coop.network.pdsUrl, acct.handle, acct.password);
    const saved: SavedSession = { pds: coop.network.pdsUrl, session: own.session! };
    let now = Date.now();
    const keysFile = join(dir, "keys.json");
    const keys = new KeyStore(keysFile, { now: () => now });
    const { key, entry } = keys.create(acct.did, "expiring", { expiresAt: new Date(now + 3_600_000), session: saved });
    // As `cocore up` does for keys made by `cocore apikey`: the client acts with the stored session.
    const clientFor = async (did: string) => {
      const s = keys.session(did) as SavedSession | undefined;
      if (!s) throw new Error(`no session for ${did}`);
      const agent = new AtpAgent({ service: s.pds });
      await agent.resumeSession(s.session);
      return new CocoreClient({ agent, matchmakerUrl: coop.matchmaker.url, exchangeUrl: coop.exchange.url, exchangeDid: coop.exchange.did, plcUrl: coop.network.plcUrl });
    };
    const gw = await startGateway({ keys, clientFor, models: async () => (await clientFor(acct.did)).models(), log: () => {} });
    try {
      const chat = () =>
        fetch(`${gw.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ model: coop.model, messages: [{ role: "user", content: "hello" }], max_tokens: 4 }),
        });
      const ok = await chat();
      const body = (await ok.json()) as { object?: string; cocore?: { receipt: string } };
      assert.equal(ok.status, 200, JSON.stringify(body));
      assert.equal(body.object, "chat.completion");
      assert.equal(new KeyStore(keysFile).list().find((k) => k.id === entry.id)?.lastUsedAt, new Date(now).toISOString());

      now += 3_600_000;
      const refused = await chat();
      const err = (await refused.json()) as { error: { code: string } };
      assert.equal(refused.status, 401, JSON.stringify(err));
      assert.equal(err.error.code, "invalid_api_key");
    } finally {
      await gw.close();
    }
  });
});
