// The slots and lines over the real registry: per-model capacity is never exceeded, a freed slot
// goes to the line before any newcomer, the bound refuses before admission, and waiting jobs leave
// the line on timeout, on abort and when no machine can open their prompt any more.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DispatchError } from "../src/codes.ts";
import { JobQueues, type QueuedJob, type QueueLimits } from "../src/queues.ts";
import { DEFAULT_COOLDOWN_POLICY } from "../src/cooldown.ts";
import { Registry, type MachineInfo } from "../src/registry.ts";

const EXCHANGE = "did:plc:exchange";

// The queue's timers are unref'd (a matchmaker's server keeps the process up); here nothing else does.
let keepAlive: NodeJS.Timeout;
before(() => (keepAlive = setInterval(() => {}, 1000)));
after(() => clearInterval(keepAlive));

function machine(id: string, capacityByModel: Record<string, number>): MachineInfo {
  return {
    machineId: id, provider: "did:plc:provider", models: Object.keys(capacityByModel), trustLevel: "self-attested", encryptionPubKey: `key-${id}`,
    attestationPubKey: `att-${id}`, acceptedExchanges: [], provisioning: false, faulted: false, capacity: 1, capacityByModel,
  };
}

function job(n: number, model: string, to: string, requester = "did:plc:r"): QueuedJob {
  return {
    uri: `at://${requester}/dev.cocore.compute.job/${n}`, requester, model, expiresAtMs: Date.now() + 60_000,
    route: { model, acceptedTrustLevel: "self-attested", exchange: EXCHANGE, encryptionPubKey: `key-${to}` },
  };
}

function setup(limits: Partial<QueueLimits> = {}, orphanGraceMs = 60_000) {
  const registry = new Registry({ staleAfterMs: 60_000, cooldown: DEFAULT_COOLDOWN_POLICY });
  const queues = new JobQueues({ registry, limits: { maxQueuedPerModel: 4, maxWaitMs: 60_000, ...limits }, orphanGraceMs, now: Date.now });
  return { registry, queues };
}

test("each model's slots are its own, and no more of its jobs run than it advertised", async () => {
  const { registry, queues } = setup();
  const m = registry.upsert(machine("m1", { a: 2, b: 1 }), "c1", Date.now());
  assert.equal(queues.tryStart(job(1, "a", "m1")), m);
  assert.equal(queues.tryStart(job(2, "a", "m1")), m);
  assert.equal(queues.tryStart(job(3, "a", "m1")), undefined, "a's two slots are busy");
  assert.equal(queues.tryStart(job(4, "b", "m1")), m, "b has its own slot");
  assert.equal(queues.tryStart(job(5, "b", "m1")), undefined);
  const waiting = queues.reserve(job(3, "a", "m1")).wait(new AbortController().signal, () => {});
  let granted = false;
  void waiting.then(() => (granted = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(granted, false);
  queues.finished(m, "b", 10);
  await new Promise((r) => setImmediate(r));
  assert.equal(granted, false, "a slot of another model does not serve it");
  queues.finished(m, "a", 10);
  assert.equal(await waiting, m);
  assert.equal(queues.tryStart(job(6, "a", "m1")), undefined, "the freed slot went to the job in line, not to a newcomer");
  const [a] = queues.status().filter((s) => s.model === "a");
  assert.deepEqual([a!.slots, a!.busySlots, a!.queued], [2, 2, 0]);
  queues.close();
});

test("a full line refuses before admission with queue_full and a Retry-After from the service rate", async () => {
  const { registry, queues } = setup({ maxQueuedPerModel: 2 });
  const m = registry.upsert(machine("m1", { a: 1 }), "c1", Date.now());
  queues.tryStart(job(1, "a", "m1"));
  queues.finished(m, "a", 500); // one job served in 0.5 s: 2 jobs/s
  queues.tryStart(job(2, "a", "m1"));
  const t1 = queues.reserve(job(3, "a", "m1"));
  queues.reserve(job(4, "a", "m1"));
  assert.throws(
    () => queues.reserve(job(5, "a", "m1")),
    (e: DispatchError) => e.code === "queue_full" && e.status === 429 && e.details.retryAfterMs === 1000 && e.details.maxQueued === 2,
  );
  t1.cancel();
  t1.cancel();
  assert.doesNotThrow(() => queues.reserve(job(6, "a", "m1")), "a refused admission gives its place back, once");
  queues.close();
});

test("a waiting job leaves the line on abort and at its deadline", async () => {
  const { registry, queues } = setup({ maxWaitMs: 50 });
  registry.upsert(machine("m1", { a: 1 }), "c1", Date.now());
  queues.tryStart(job(1, "a", "m1"));
  const abort = new AbortController();
  const notices: number[] = [];
  const aborted = queues.reserve(job(2, "a", "m1")).wait(abort.signal, (n) => notices.push(n.position));
  const timedOut = queues.reserve(job(3, "a", "m1")).wait(new AbortController().signal, (n) => notices.push(n.position));
  assert.deepEqual(notices, [1, 2], "each is told its place when it joins");
  abort.abort();
  await assert.rejects(aborted, (e: DispatchError) => e.code === "requester_gone");
  await assert.rejects(timedOut, (e: DispatchError) => e.code === "queue_timeout" && e.status === 503 && e.details.queuePosition === 1);
  assert.equal(queues.status()[0]!.queued, 0);
  queues.close();
});

test("a job whose machine is gone for good fails instead of waiting out the queue", async () => {
  const { registry, queues } = setup({}, 0);
  registry.upsert(machine("m1", { a: 1 }), "c1", Date.now());
  registry.upsert(machine("m2", { a: 1 }), "c2", Date.now());
  queues.tryStart(job(1, "a", "m1"));
  const waiting = queues.reserve(job(2, "a", "m1")).wait(new AbortController().signal, () => {});
  registry.remove("m1");
  // m2 serves the model but cannot open a prompt sealed to m1.
  await assert.rejects(waiting, (e: DispatchError) => e.code === "provider_unavailable");
  queues.close();
});
