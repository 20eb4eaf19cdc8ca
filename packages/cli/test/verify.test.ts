// Runs the real `cocore` CLI (bin/cocore.mjs under the current node) as a user would.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../bin/cocore.mjs", import.meta.url));
const fixtures = fileURLToPath(new URL("../../protocol/test/fixtures/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cocore-verify-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function cocore(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLineFailure(r: ReturnType<typeof cocore>) {
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

test("valid vector: exit 0, ok true", () => {
  const r = cocore("verify", join(fixtures, "receipt-bundle-valid.json"));
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { ok: true, findings: [] });
});

test("bad-signature vector: exit 1 with bad-signature", () => {
  const r = cocore("verify", join(fixtures, "receipt-bundle-bad-signature.json"), "--json");
  assert.equal(r.status, 1, r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; findings: { code: string; message: string }[] };
  assert.equal(out.ok, false);
  assert.ok(out.findings.some((f) => f.code === "bad-signature"));
});

test("--at after the attestation window: exit 1 with attestation-expired", () => {
  const r = cocore("verify", join(fixtures, "receipt-bundle-valid.json"), "--at", "2026-11-22T00:00:00Z");
  assert.equal(r.status, 1, r.stderr);
  assert.ok((JSON.parse(r.stdout) as { findings: { code: string }[] }).findings.some((f) => f.code === "attestation-expired"));
});

test("malformed JSON: exit 2, one line, no stack", () => {
  const file = join(dir, "malformed.json");
  writeFileSync(file, '{"receipt": {');
  const r = cocore("verify", file);
  assertOneLineFailure(r);
  assert.match(r.stderr, /not valid JSON/);
});

test("bundle without a job: exit 2, one line, no stack", () => {
  const doc = JSON.parse(readFileSync(join(fixtures, "receipt-bundle-valid.json"), "utf8")) as Record<string, unknown>;
  delete doc.job;
  const file = join(dir, "no-job.json");
  writeFileSync(file, JSON.stringify(doc));
  const r = cocore("verify", file);
  assertOneLineFailure(r);
  assert.match(r.stderr, /no job/);
});

test("unreadable file and bad --at: exit 2", () => {
  assertOneLineFailure(cocore("verify", join(dir, "does-not-exist.json")));
  assertOneLineFailure(cocore("verify", join(fixtures, "receipt-bundle-valid.json"), "--at", "yesterday-ish"));
});

test("keys generate writes a 0600 key file whose public parts keys show prints", () => {
  const file = join(dir, "keys.json");
  const gen = cocore("keys", "generate", "--out", file);
  assert.equal(gen.status, 0, gen.stderr);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const pub = JSON.parse(gen.stdout) as { publicKey: string; encryptionPubKey: string };
  assert.equal(Buffer.from(pub.publicKey, "base64").length, 64);
  assert.equal(Buffer.from(pub.encryptionPubKey, "base64").length, 32);
  const shown = cocore("keys", "show", file);
  assert.equal(shown.status, 0, shown.stderr);
  assert.deepEqual(JSON.parse(shown.stdout), pub);
  assertOneLineFailure(cocore("keys", "generate", "--out", file));
});
