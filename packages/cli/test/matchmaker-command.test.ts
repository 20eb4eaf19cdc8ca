// `cocore matchmaker serve` refuses to start without a DID resolver unless told --insecure: without
// one it can check neither agent registrations nor job records.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../bin/cocore.mjs", import.meta.url));
const base = ["matchmaker", "serve", "--pds", "http://127.0.0.1:9", "--handle", "mm.test", "--password", "x", "--exchange-did", "did:plc:exchange0000000000000000", "--exchange-url", "http://127.0.0.1:9"];

test("without --plc or --insecure the matchmaker refuses to start, saying why", () => {
  const r = spawnSync(process.execPath, [bin, ...base], { encoding: "utf8", timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--plc URL is required/);
  assert.match(r.stderr, /--insecure/);
});

test("with --insecure it goes on (and here fails at login instead)", () => {
  const r = spawnSync(process.execPath, [bin, ...base, "--insecure"], { encoding: "utf8", timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.stderr, /--plc URL is required/);
});
