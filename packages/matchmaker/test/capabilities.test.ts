import assert from "node:assert/strict";
import { test } from "node:test";
import { DispatchError, REFUSAL_CODES } from "../src/codes.ts";
import { jobNeeds } from "../src/dispatch.ts";
import { DEFAULT_COOLDOWN_POLICY } from "../src/cooldown.ts";
import { Registry, type MachineInfo } from "../src/registry.ts";
import { modelList } from "../src/server.ts";

const machine = (id: string, caps?: MachineInfo["capabilitiesByModel"]): MachineInfo => ({
  machineId: id,
  provider: `did:plc:${id}`,
  models: ["m"],
  trustLevel: "self-attested",
  encryptionPubKey: `enc-${id}`,
  attestationPubKey: `att-${id}`,
  acceptedExchanges: [],
  provisioning: false,
  faulted: false,
  capacity: 1,
  ...(caps && { capabilitiesByModel: caps }),
});

const route = { model: "m", acceptedTrustLevel: "self-attested", exchange: "did:plc:x" };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DispatchError ? err.code : "not a DispatchError";
  }
  return undefined;
}

test("a tools or schema job is routed only to a machine that serves it for the model, else refused by name", () => {
  const r = new Registry({ staleAfterMs: 60_000, cooldown: DEFAULT_COOLDOWN_POLICY });
  r.upsert(machine("text"), "c1", 0);
  r.upsert(machine("json", { m: { tools: false, structuredOutput: true, contextLength: 256 } }), "c2", 0);
  assert.deepEqual(r.candidates(route, 1).map((m) => m.machineId).sort(), ["json", "text"]);
  assert.deepEqual(r.candidates({ ...route, needs: { structuredOutput: true } }, 1).map((m) => m.machineId), ["json"]);
  assert.equal(codeOf(() => r.candidates({ ...route, needs: { tools: true } }, 1)), "tool_calls_not_supported");
  r.upsert(machine("tools", { other: { tools: true, structuredOutput: true, contextLength: 0 } }), "c3", 0);
  assert.equal(codeOf(() => r.candidates({ ...route, needs: { tools: true } }, 1)), "tool_calls_not_supported", "tools for another model do not count");
  r.touch("tools", 1, { capabilitiesByModel: { m: { tools: true, structuredOutput: false, contextLength: 4096 } } });
  assert.deepEqual(r.candidates({ ...route, needs: { tools: true } }, 1).map((m) => m.machineId), ["tools"]);
  assert.equal(codeOf(() => r.candidates({ ...route, needs: { tools: true, structuredOutput: true } }, 1)), "structured_output_not_supported");
  assert.equal(REFUSAL_CODES.tool_calls_not_supported, 400);
  assert.equal(REFUSAL_CODES.structured_output_not_supported, 400);
  assert.deepEqual(modelList(r.live(1)), [{ id: "m", providers: 3, capabilities: { tools: true, structuredOutput: true, contextLength: 4096 } }]);
});

test("a job's needs come from its record: tools unless toolChoice is none, and an outputSchema", () => {
  const tools = [{ type: "function", function: { name: "f" } }];
  assert.deepEqual(jobNeeds({}), {});
  assert.deepEqual(jobNeeds({ tools }), { tools: true });
  assert.deepEqual(jobNeeds({ tools, toolChoice: "none" }), {});
  assert.deepEqual(jobNeeds({ tools, toolChoice: "none", toolChoiceFunction: "f" }), { tools: true });
  assert.deepEqual(jobNeeds({ outputSchema: { name: "a", schema: { type: "object" } } }), { structuredOutput: true });
});
