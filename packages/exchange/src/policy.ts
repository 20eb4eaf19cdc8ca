// The exchangePolicy record: built from the configured parameters, published once, reused while
// the parameters stay the same. A change publishes a new record and flips the old one to
// active: false (policies are immutable otherwise, PROTOCOL.md §3).
import { createRecord, listRecords, putRecord, type Agent } from "@cocore/atproto";
import { canonicalJson, NSID } from "@cocore/protocol";
import type { PolicyParams } from "./config.ts";
import { policyFromRecord } from "@cocore/protocol";
import type { PolicyInUse } from "./context.ts";

/** `settlementPublicKey`: the key that signs our settlements, published so auditors can check them. */
export function buildPolicyRecord(did: string, p: PolicyParams, createdAt: string, settlementPublicKey?: string): Record<string, unknown> {
  const record: Record<string, unknown> = {
    $type: NSID.exchangePolicy,
    exchange: did,
    fee: { bps: p.feeBps, minMinor: p.feeMinMinor, currency: p.currency },
    supportedCurrencies: [p.currency],
    selfLoop: { feeWaived: p.selfLoopFeeWaived },
    tokenRate: { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: p.currency },
    tokenGrant: p.tokenGrant,
    tokenFloor: p.tokenFloor,
    treasuryDid: p.treasuryDid ?? did,
    active: true,
    createdAt,
  };
  if (p.refresh) record.weeklyRefresh = { ...p.refresh };
  if (p.patronage) record.patronageDistribution = { ...p.patronage };
  if (p.processor) record.processor = p.processor;
  if (p.termsUri) record.termsUri = p.termsUri;
  if (p.termsVersion) record.termsVersion = p.termsVersion;
  if (settlementPublicKey) record.settlementPublicKey = settlementPublicKey;
  return record;
}

/** The parameters that matter for reuse: everything but createdAt and active. */
function parameterKey(record: Record<string, unknown>): string {
  const { createdAt: _c, active: _a, $type: _t, ...rest } = record;
  return canonicalJson(rest);
}

export async function ensurePolicy(agent: Agent, did: string, params: PolicyParams, nowMs: number, settlementPublicKey?: string): Promise<PolicyInUse> {
  const wanted = buildPolicyRecord(did, params, new Date(nowMs).toISOString(), settlementPublicKey);
  const existing = await listRecords(agent, did, NSID.exchangePolicy);
  const active = existing.filter((r) => r.value.active !== false);
  const same = active.filter((r) => parameterKey(r.value) === parameterKey(wanted));
  if (same.length > 0) {
    const chosen = same.sort((a, b) => String(b.value.createdAt).localeCompare(String(a.value.createdAt)))[0]!;
    for (const r of active) if (r.uri !== chosen.uri) await deactivate(agent, r.uri, r.value);
    return { uri: chosen.uri, cid: chosen.cid, value: chosen.value, ledger: policyFromRecord(chosen.value) };
  }
  const ref = await createRecord(agent, NSID.exchangePolicy, wanted);
  for (const r of active) await deactivate(agent, r.uri, r.value);
  return { uri: ref.uri, cid: ref.cid, value: wanted, ledger: policyFromRecord(wanted) };
}

async function deactivate(agent: Agent, uri: string, value: Record<string, unknown>): Promise<void> {
  const rkey = uri.split("/").pop()!;
  await putRecord(agent, NSID.exchangePolicy, rkey, { ...value, active: false });
}
