// `cocore ledger replay` end to end: the real launcher entry point on a small fixture.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const EXCHANGE = "did:web:cocore.dev";
const [ALICE, BOB, CAROL, DAVE] = ["did:plc:alice", "did:plc:bob", "did:plc:carol", "did:plc:dave"];

const policy = {
  uri: `at://${EXCHANGE}/dev.cocore.compute.exchangePolicy/3lz2policy`,
  cid: "bafyreiexamplepolicy",
  value: {
    $type: "dev.cocore.compute.exchangePolicy",
    exchange: EXCHANGE,
    fee: { bps: 500, minMinor: 0, currency: "TOK" },
    supportedCurrencies: ["TOK"],
    selfLoop: { feeWaived: true },
    tokenGrant: 1_000_000,
    tokenFloor: 100_000,
    weeklyRefresh: { amountPerDid: 70_000, cadenceMinutes: 10_080 },
    patronageDistribution: { fractionBps: 8000, cadenceDays: 30 },
    active: true,
    createdAt: "2026-05-01T00:00:00.000Z",
  },
};

const receipt = (n: number, requester: string, provider: string, amount: number, at: string, proBono?: boolean) => ({
  type: "receipt",
  uri: `at://${provider}/dev.cocore.compute.receipt/${n}`,
  requester,
  provider,
  tokens: { in: 0, out: amount },
  price: { amount, currency: "TOK" },
  ...(proBono ? { proBono } : {}),
  at,
});

const events = [
  { type: "tick", at: "2026-05-31T00:00:00Z" },
  receipt(2, CAROL, BOB, 2000, "2026-05-20T00:00:00Z"),
  { type: "touch", did: ALICE, at: "2026-05-02T00:00:00Z" },
  receipt(1, ALICE, BOB, 104, "2026-05-02T01:00:00Z"),
  receipt(1, ALICE, BOB, 104, "2026-05-02T01:00:00Z"),
  receipt(3, BOB, BOB, 500, "2026-05-21T00:00:00Z"),
  receipt(4, DAVE, BOB, 0, "2026-05-22T00:00:00Z", true),
  { type: "touch", did: ALICE, at: "2026-05-09T00:00:00Z" },
];

function run(files: { events: string; policy?: string }, extra: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "cocore-ledger-"));
  try {
    const eventsPath = join(dir, "events.jsonl");
    const policyPath = join(dir, "policy.json");
    writeFileSync(eventsPath, files.events);
    writeFileSync(policyPath, files.policy ?? JSON.stringify(policy));
    const r = spawnSync(process.execPath, ["packages/cli/bin/cocore.mjs", "ledger", "replay", eventsPath, "--policy", policyPath, ...extra], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, PATH: `${join(root, ".toolchain/bin")}:${dirname(process.execPath)}:${process.env.PATH ?? ""}` },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const jsonl = (items: unknown[]) => items.map((e) => JSON.stringify(e)).join("\n") + "\n";

test("ledger replay prints balances, treasury and keyed movements", () => {
  const r = run({ events: jsonl(events) }, ["--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    balances: Record<string, number>;
    treasury: number;
    movements: { key: string; kind: string; from: string | null; to: string; amount: number }[];
  };
  // alice: grant − 104 + refresh exactly a week after her grant + patronage 2
  // bob:   grant + 99 + 1900 + refresh (18 days after his grant) + patronage 41; self-loop free
  // carol: grant − 2000 + patronage 41; dave: grant only (pro bono)
  // treasury: fees 5 + 100, less the pool floor(105·0.8) = 84
  assert.deepEqual(out.balances, {
    [ALICE]: 1_069_898,
    [BOB]: 1_072_040,
    [CAROL]: 998_041,
    [DAVE]: 1_000_000,
    [EXCHANGE]: 21,
  });
  assert.equal(out.treasury, 21);
  const total = Object.values(out.balances).reduce((a, b) => a + b, 0);
  const minted = out.movements.filter((m) => m.from === null).reduce((a, m) => a + m.amount, 0);
  assert.equal(total, minted);
  assert.deepEqual(
    out.movements.map((m) => m.key),
    [
      `grant:${ALICE}`,
      `grant:${BOB}`,
      `rcpt:at://${BOB}/dev.cocore.compute.receipt/1:payout`,
      `rcpt:at://${BOB}/dev.cocore.compute.receipt/1:fee`,
      `refresh:${ALICE}:2026-05-09T00:00:00.000Z`,
      `grant:${CAROL}`,
      `refresh:${BOB}:2026-05-20T00:00:00.000Z`,
      `rcpt:at://${BOB}/dev.cocore.compute.receipt/2:payout`,
      `rcpt:at://${BOB}/dev.cocore.compute.receipt/2:fee`,
      `grant:${DAVE}`,
      `patronage:2026-05-01T00:00:00.000Z:${ALICE}`,
      `patronage:2026-05-01T00:00:00.000Z:${BOB}`,
      `patronage:2026-05-01T00:00:00.000Z:${CAROL}`,
    ],
  );
  for (const m of out.movements) for (const k of ["key", "kind", "from", "to", "amount"]) assert.ok(k in m);
});

test("a bad line exits 2 naming the line, without a stack trace", () => {
  const lines = [JSON.stringify(events[0]), "", JSON.stringify({ type: "touch", did: ALICE, at: "yesterday" })].join("\n");
  const r = run({ events: lines });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /line 3: at must be an RFC 3339 datetime/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(r.stdout, "");

  const notJson = run({ events: `${JSON.stringify(events[0])}\n{"type":` });
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr, /line 2: not valid JSON/);

  const conflict = run({ events: jsonl([events[3], { ...(events[3] as object), provider: CAROL }]) });
  assert.equal(conflict.code, 2);
  assert.match(conflict.stderr, /idempotency-conflict/);

  const badPolicy = run({ events: jsonl(events), policy: JSON.stringify({ exchange: EXCHANGE }) });
  assert.equal(badPolicy.code, 2);
  assert.match(badPolicy.stderr, /policy .*policy\.fee must be an object/);
});
