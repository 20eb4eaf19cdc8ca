// `cocore exchange simulate` end to end through the launcher's entry point: the contract's output
// shape, the same numbers as `ledger replay` over the same stream, and one-line exit-2 errors.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { deliveryOrder, simWorld } from "../../../test-support/sim-world.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));

function cocore(args: string[], files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "cocore-sim-"));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const r = spawnSync(process.execPath, ["packages/cli/bin/cocore.mjs", ...args.map((a) => a.replace("{dir}", dir))], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, PATH: `${join(root, ".toolchain/bin")}:${dirname(process.execPath)}:${process.env.PATH ?? ""}` },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const world = simWorld(42, { epochs: 5, receiptsPerEpoch: 4 });
const events = deliveryOrder(world, null);
const jsonl = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
const policy = JSON.stringify(world.policy);
if (process.env.DUMP_SIM) (await import("node:fs")).writeFileSync(process.env.DUMP_SIM, jsonl);

test("exchange simulate prints the contract's document, agrees with ledger replay, and audits clean", () => {
  const sim = cocore(["exchange", "simulate", "{dir}/events.jsonl", "--policy", "{dir}/policy.json", "--json"], { "events.jsonl": jsonl, "policy.json": policy });
  assert.equal(sim.code, 0, sim.stderr);
  const out = JSON.parse(sim.stdout) as {
    balances: Record<string, number>;
    treasury: number;
    receipts: { uri: string; status: string; codes: string[] }[];
    admissions: { job: string; ok: boolean; code?: string }[];
    published: { uri: string; value: Record<string, unknown> }[];
    audit: { ok: boolean; discrepancies: unknown[]; warnings: unknown[] };
  };
  assert.deepEqual(Object.keys(out).sort(), ["admissions", "audit", "balances", "published", "receipts", "treasury"]);
  assert.equal(out.treasury, out.balances[world.exchange]);
  assert.ok(out.receipts.some((r) => r.status === "settled"));
  assert.ok(out.receipts.some((r) => r.status === "rejected" && r.codes.length > 0));
  for (const r of out.receipts) assert.deepEqual(Object.keys(r).sort(), ["codes", "status", "uri"]);
  assert.ok(out.admissions.length > 0);
  assert.ok(out.published.some((p) => p.uri.includes("/dev.cocore.compute.settlement/") && typeof (p.value.sig as { $bytes?: unknown })?.$bytes === "string"), "settlements are signed");
  assert.deepEqual(out.audit.discrepancies, []);
  assert.equal(out.audit.ok, true);

  const rep = cocore(["ledger", "replay", "{dir}/events.jsonl", "--policy", "{dir}/policy.json", "--json"], { "events.jsonl": jsonl, "policy.json": policy });
  assert.equal(rep.code, 0, rep.stderr);
  const replayed = JSON.parse(rep.stdout) as { balances: Record<string, number>; receipts: { uri: string; status: string }[] };
  const nonzero = (b: Record<string, number>) => Object.fromEntries(Object.entries(b).filter(([, v]) => v !== 0));
  assert.deepEqual(nonzero(replayed.balances), nonzero(out.balances));
  assert.deepEqual(
    replayed.receipts.map((r) => [r.uri, r.status]),
    out.receipts.map((r) => [r.uri, r.status]),
  );
});

test("exchange simulate: unreadable input exits 2 with one line naming the event line", () => {
  const lines = jsonl.split("\n");
  lines.splice(2, 0, '{"type":"tick","at":"yesterday"}');
  const bad = cocore(["exchange", "simulate", "{dir}/events.jsonl", "--policy", "{dir}/policy.json"], { "events.jsonl": lines.join("\n"), "policy.json": policy });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr.trim(), /^cocore: line 3: /);
  assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  const notJson = cocore(["exchange", "simulate", "{dir}/events.jsonl", "--policy", "{dir}/policy.json"], { "events.jsonl": "{\n", "policy.json": policy });
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr, /line 1: not valid JSON/);
  const noPolicy = cocore(["exchange", "simulate", "{dir}/events.jsonl", "--policy", "{dir}/nope.json"], { "events.jsonl": jsonl });
  assert.equal(noPolicy.code, 2);
  assert.match(noPolicy.stderr, /cannot read policy/);
});
