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

test("a cool-down or keepalive flag that is not a positive number is refused by name, before logging in", () => {
  for (const [flag, value] of [["--cooldown-base-ms", "0"], ["--cooldown-after", "x"], ["--stream-keepalive-ms", "0.5"], ["--keepalive-ms", "1.5"]] as const) {
    const r = spawnSync(process.execPath, [bin, ...base, "--insecure", flag, value], { encoding: "utf8", timeout: 60_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`${flag} must be a positive integer`));
  }
  const r = spawnSync(process.execPath, [bin, ...base, "--insecure", "--cooldown-base-ms", "9000", "--cooldown-max-ms", "1000"], { encoding: "utf8", timeout: 60_000 });
  assert.match(r.stderr, /--cooldown-max-ms must be at least --cooldown-base-ms/);
});
