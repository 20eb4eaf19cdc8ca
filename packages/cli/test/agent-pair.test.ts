// `cocore agent pair` then `cocore agent serve` with no password, on a real cooperative (PLC, PDS,
// exchange, matchmaker, console with the owner signed in through OAuth): the pairing command
// prints a code, the owner approves it, the machine stores its credential; `agent serve` (a real
// subprocess, no --pds/--handle/--password) publishes its provider record through the console's
// proxy and serves a job; once the owner revokes the machine, serving is refused.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { getRecord, listRecords } from "@cocore/atproto";
import { loadDeviceCredential, loadOrCreateState, PROVIDER_COLLECTION, RECEIPT_COLLECTION } from "@cocore/agent";
import { runAgentPair } from "../src/agent-pair.ts";
import { CliError } from "../src/command.ts";
import { startCooperative, waitUntil, type Cooperative } from "../src/cooperative.ts";
import { signInWithoutBrowser } from "../../../test-support/oauth.ts";

const bin = fileURLToPath(new URL("../bin/cocore.mjs", import.meta.url));
let coop: Cooperative;
let consoleUrl: string;
let cookie: string;
let dir: string;

const owner = (path: string, body?: unknown) =>
  fetch(`${consoleUrl}${path}`, { method: body === undefined ? "GET" : "POST", headers: { cookie, origin: consoleUrl, "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

/** Runs `agent pair` in-process; answers the code it printed, the output so far, and the run. */
function startPair(args: string[], signal?: AbortSignal) {
  let text = "";
  let seen: (code: string) => void;
  const code = new Promise<string>((r) => (seen = r));
  const run = runAgentPair(["--console", consoleUrl, ...args], {
    tty: false,
    signal,
    err: (t) => {
      text += t;
      const m = /open {2}(\S+\/devices\/new\?code=([A-Z0-9-]+))/.exec(text);
      if (m) seen(m[2]!);
    },
  });
  run.catch(() => {});
  return { code, run, output: () => text };
}

const agentArgs = () => ["agent", "serve", "--state-dir", dir, "--engine", "stub", "--matchmaker", coop.matchmaker.url, "--exchange", coop.exchange.did, "--plc", coop.network.plcUrl, "--poll-ms", "500", "--json"];

/** `cocore agent serve` as a subprocess: its --json summary once up, or its exit and stderr. */
function serve(): { child: ChildProcess; up: Promise<Record<string, unknown>>; exit: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [bin, ...agentArgs()], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((r) => child.on("exit", (code) => r({ code, stderr })));
  const up = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      try {
        resolve(JSON.parse(out) as Record<string, unknown>);
      } catch {
        // not the whole document yet
      }
    });
    void exit.then((e) => reject(new Error(`agent serve exited ${e.code} before it was up:\n${e.stderr}`)));
  });
  up.catch(() => {});
  return { child, up, exit };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "agent-pair-test-"));
  coop = await startCooperative({ console: true, engine: "stub" });
  consoleUrl = coop.console!.url;
  cookie = await signInWithoutBrowser(consoleUrl, coop.accounts.provider);
});
after(async () => {
  await coop?.close();
  await rm(dir, { recursive: true, force: true });
});

test("agent pair refuses bad flags with a clear error, and stops on its timeout or when interrupted", async () => {
  await assert.rejects(runAgentPair([], { tty: false, err: () => {} }), (e: unknown) => e instanceof CliError && /--console URL is required/.test(e.message));
  await assert.rejects(runAgentPair(["--console", "ftp://x"], { tty: false, err: () => {} }), (e: unknown) => e instanceof CliError && /http\(s\) URL/.test(e.message));
  await assert.rejects(runAgentPair(["--console", consoleUrl, "--timeout", "0"], { tty: false, err: () => {} }), (e: unknown) => e instanceof CliError && /--timeout/.test(e.message));
  const other = await mkdtemp(join(tmpdir(), "agent-pair-other-"));
  try {
    const timed = startPair(["--state-dir", other, "--timeout", "1"]);
    await assert.rejects(timed.run, (e: unknown) => e instanceof CliError && /^pairing_timeout:/.test(e.message) && e.exitCode === 1);
    const stop = new AbortController();
    const stopped = startPair(["--state-dir", other], stop.signal);
    await stopped.code;
    stop.abort();
    await assert.rejects(stopped.run, (e: unknown) => e instanceof CliError && /^interrupted:/.test(e.message) && e.exitCode === 130);
    assert.equal(loadDeviceCredential(other), undefined, "nothing stored without an approval");
  } finally {
    await rm(other, { recursive: true, force: true });
  }
});

test("a machine paired with a code serves with no password, and stops being able to once revoked", async () => {
  const pairing = startPair(["--state-dir", dir, "--label", "paired box"]);
  const code = await pairing.code;
  const key = loadOrCreateState(dir).signingKey.publicKey;
  // A base64 key has regex metacharacters (+, /): compare the text, not a pattern.
  assert.ok(pairing.output().includes(`key   ${key.slice(0, 10)}`), `the key is printed for the owner to compare:\n${pairing.output()}`);
  const view = (await (await owner(`/api/pairings/${code}`)).json()) as { label: string; publicKey: string };
  assert.deepEqual([view.label, view.publicKey], ["paired box", key]);
  assert.equal((await owner(`/api/pairings/${code}/approve`, {})).status, 200);
  assert.equal(await pairing.run, 0);
  assert.match(pairing.output(), /paired as "paired box" for @provider\.test; credential saved to .*device\.json \(mode 0600\)/);
  assert.equal(statSync(join(dir, "device.json")).mode & 0o777, 0o600);
  const cred = loadDeviceCredential(dir)!;
  assert.equal(cred.owner, coop.accounts.provider.did);

  // Only the paired machine serves the model from here on.
  await coop.agent.stop();
  const agent = serve();
  let summary: Record<string, unknown>;
  try {
    summary = await agent.up;
    assert.equal(summary.did, coop.accounts.provider.did);
    assert.equal(summary.deviceId, cred.deviceId);
    const rkey = String(summary.machineId);
    const rec = (await getRecord(coop.network.pdsUrl, cred.owner, PROVIDER_COLLECTION, rkey))!;
    assert.deepEqual([rec.value.attestationPubKey, rec.value.machineLabel], [key, "paired box"]);

    await waitUntil(() => coop.matchmaker.registry.live(Date.now()).some((m) => m.machineId === rkey && m.models.includes(coop.model)), 30_000, "the paired agent to register with the matchmaker");
    const r = await coop.clientFor(coop.accounts.requesters[0]!).run("hello", { model: coop.model, maxTokens: 8 });
    assert.deepEqual([r.provider, r.machineId, r.receipt.written, r.outputMatches], [cred.owner, rkey, true, true]);
    const receipts = await listRecords(coop.network.pdsUrl, cred.owner, RECEIPT_COLLECTION);
    assert.ok(receipts.some((x) => x.uri === r.receipt.uri), "the receipt went through the proxy into the owner's repo");
  } finally {
    agent.child.kill("SIGTERM");
  }
  assert.equal((await agent.exit).code, 0);
  const stopped = (await getRecord(coop.network.pdsUrl, cred.owner, PROVIDER_COLLECTION, String(summary.machineId)))!;
  assert.equal(stopped.value.serving, false, "serving:false published through the proxy on SIGTERM");

  assert.equal((await owner(`/api/devices/${cred.deviceId}/revoke`, {})).status, 200);
  const again = serve();
  const exit = await again.exit;
  assert.equal(exit.code, 1);
  assert.match(exit.stderr, /device_revoked/);
  assert.doesNotMatch(exit.stderr, /\n\s+at /, "a one-line error, not a stack trace");
});

test("revoked while serving, a paired agent stops by itself and exits 1 saying why", async () => {
  const pairing = startPair(["--state-dir", dir, "--label", "revoked box"]);
  assert.equal((await owner(`/api/pairings/${await pairing.code}/approve`, {})).status, 200);
  assert.equal(await pairing.run, 0);
  const cred = loadDeviceCredential(dir)!;
  const agent = serve();
  try {
    await agent.up;
    assert.equal((await owner(`/api/devices/${cred.deviceId}/revoke`, {})).status, 200);
    // The agent learns it at its next read of its record (--poll-ms 500).
    const exit = await agent.exit;
    assert.equal(exit.code, 1);
    assert.match(exit.stderr, /device_revoked: the owner revoked this machine's pairing; pair it again/);
    assert.doesNotMatch(exit.stderr, /\n\s+at /);
  } finally {
    agent.child.kill("SIGKILL");
  }
});
