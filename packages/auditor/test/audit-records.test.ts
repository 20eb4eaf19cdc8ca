// The audit over a record set, without a network: an honest exchange's outcome (the real engine,
// `exchange simulate`) audits clean; a settled receipt edited or deleted afterwards is a warning,
// never a discrepancy; a published record out of its place in the log is reported.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromJsonRecord, NSID, parseSimEvent, recordCid, type SimEvent } from "@cocore/protocol";
import { auditRecords, type AuditRecord } from "../src/index.ts";
import { deliveredRecords, simulate } from "../../cli/src/simulate.ts";
import { deliveryOrder, simWorld } from "../../../test-support/sim-world.ts";

async function honest(seed: number) {
  const world = simWorld(seed, { epochs: 5, receiptsPerEpoch: 5 });
  const events = deliveryOrder(world, null).map(parseSimEvent);
  const run = await simulate(events, world.policy, { keys: world.keys });
  const own = run.published.map((p) => {
    const value = fromJsonRecord(p.value) as Record<string, unknown>;
    return { uri: p.uri, cid: recordCid(value)!, value };
  });
  const statuses = new Map(run.receipts.map((r) => [r.uri, r]));
  const auditOf = (records: AuditRecord[]) =>
    auditRecords({ exchangeDid: world.exchange, records: [...records, ...own], now: Date.parse(String(events.filter((e) => "at" in e).at(-1)!.at)), graceMs: 0, statusOf: async (u) => statuses.get(u), reportedBalances: run.balances });
  return { world, events, run, own, auditOf };
}

const settledOf = (run: Awaited<ReturnType<typeof honest>>["run"]) =>
  run.published.filter((p) => p.uri.includes(`/${NSID.settlement}/`)).map((p) => (p.value.receipt as { uri: string }).uri);

test("an honest exchange audits clean over the records it was given and published", async () => {
  const h = await honest(3);
  assert.ok(settledOf(h.run).length > 10);
  const r = await h.auditOf(deliveredRecords(h.events as SimEvent[]).filter((x) => !h.own.some((o) => o.uri === x.uri)));
  assert.deepEqual(r.discrepancies, []);
});

test("a settled receipt edited or deleted after it settled is a warning, not a discrepancy", async () => {
  const h = await honest(4);
  const members = deliveredRecords(h.events as SimEvent[]).filter((x) => !h.own.some((o) => o.uri === x.uri));
  const [a, b] = settledOf(h.run);
  const edited = members.map((m) => {
    if (m.uri !== a) return m;
    // The provider re-signs another version; the settlement pins the old one.
    const value = { ...m.value, outputCommitment: "0".repeat(64) };
    return { uri: m.uri, cid: recordCid(value)!, value };
  });
  const r = await h.auditOf(edited.filter((m) => m.uri !== b));
  assert.deepEqual(r.discrepancies, []);
  const warned = new Set(r.warnings.filter((w) => w.code === "record-changed-after-settlement").map((w) => w.subject));
  // The world edits and deletes some receipts after they settle of its own accord, too.
  assert.ok(warned.has(a!) && warned.has(b!), JSON.stringify([...warned]));
  const before = await h.auditOf(members);
  assert.equal(before.warnings.filter((w) => w.subject === a || w.subject === b).length, 0, "no warning while they stand as settled");
});

test("a published record whose key does not place it at its own time is out of the log's order", async () => {
  const h = await honest(5);
  const members = deliveredRecords(h.events as SimEvent[]).filter((x) => !h.own.some((o) => o.uri === x.uri));
  const grant = h.own.find((o) => o.uri.includes(`/${NSID.tokenGrant}/`))!;
  const moved = { ...grant, uri: grant.uri.replace(/[^/]+$/, "3zzzzzzzzzzz2") };
  const r = await auditRecords({ exchangeDid: h.world.exchange, records: [...members, ...h.own.filter((o) => o !== grant), moved], now: Date.now(), graceMs: 0 });
  assert.ok(r.discrepancies.some((d) => d.code === "log-order-invalid" && d.subject === moved.uri), JSON.stringify(r.discrepancies.map((d) => d.code)));
});
