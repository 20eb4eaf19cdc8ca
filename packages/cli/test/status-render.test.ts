// `cocore status` lists what the matchmaker is cooling down, and says nothing of failures that cool nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { renderStatus } from "../src/commands/status.ts";

test("cooling machines and providers are listed with their failures and end; others are not", () => {
  const out = renderStatus({
    at: "2026-12-06T22:00:00.000Z",
    models: [],
    cooldowns: [
      { provider: "did:plc:crasher", machineKey: "key1", machineId: "m1", failures: 4, coolingUntil: "2026-12-06T22:00:10.000Z" },
      { provider: "did:plc:crasher", failures: 6, coolingUntil: "2026-12-06T22:00:05.000Z" },
      { provider: "did:plc:flaky", machineKey: "key2", failures: 1 },
    ],
  }, "http://mm");
  assert.match(out, /machine m1 of did:plc:crasher: 4 failures, until 2026-12-06T22:00:10.000Z/);
  assert.match(out, /provider did:plc:crasher \(all its machines\): 6 failures/);
  assert.doesNotMatch(out, /flaky/);
  assert.doesNotMatch(renderStatus({ at: "x", models: [], cooldowns: [] }, "http://mm"), /cooling/);
});
