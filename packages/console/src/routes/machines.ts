// Machines: the member's provider records (their repo), how each is doing, what it earned, and
// the owner-intent fields the agent reconciles (active, desiredModels, proBono, toolCallsDisabled),
// written with swapRecord so an agent's concurrent re-publish is never overwritten.
import { getRecord, listRecords, putRecord } from "@cocore/atproto";
import { NSID } from "@cocore/protocol";
import { ConsoleError } from "../errors.ts";
import { remedy } from "../faults.ts";
import type { Route } from "../context.ts";
import type { Machine, MachineFault } from "../../web/types.ts";

const RKEY_RE = /^[a-zA-Z0-9._:~-]{1,512}$/;

type Fault = { code: string; message: string; at?: string; observedAt?: string; models?: string[] };

function faultsOf(v: Record<string, unknown>): MachineFault[] {
  const out: MachineFault[] = [];
  const add = (kind: MachineFault["kind"], f: unknown) => {
    if (!f || typeof f !== "object") return;
    const x = f as Fault;
    out.push({ kind, code: String(x.code), message: String(x.message ?? ""), ...(x.at ?? x.observedAt ? { at: x.at ?? x.observedAt } : {}), ...(x.models ? { models: x.models } : {}), remedy: remedy(kind, String(x.code)) });
  };
  add("engine", v.engineFault);
  add("matchmaker", v.advisorFault);
  add("attestation", v.attestationFault);
  return out;
}

function stateOf(v: Record<string, unknown>, live: boolean, faults: MachineFault[]): Machine["state"] {
  if (v.active === false) return "paused";
  if (faults.length > 0) return "fault";
  if (v.provisioning === true) return "provisioning";
  if (v.serving === false || !live) return "offline";
  return "serving";
}

/** Validated owner-intent changes from the page. */
function intentOf(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if ("active" in body) {
    if (typeof body.active !== "boolean") throw new ConsoleError(400, "invalid_field", "`active` must be true or false.");
    out.active = body.active;
  }
  if ("desiredModels" in body) {
    const d = body.desiredModels;
    if (!Array.isArray(d) || d.length > 256 || !d.every((m) => typeof m === "string" && m.trim() !== "" && m.length <= 256)) throw new ConsoleError(400, "invalid_field", "`desiredModels` must be a list of model ids (each at most 256 characters).");
    out.desiredModels = [...new Set(d.map((m: string) => m.trim()))];
  }
  if ("proBono" in body) {
    const p = body.proBono as { mode?: unknown; dids?: unknown } | null;
    if (p === null) out.proBono = undefined;
    else if (p && (p.mode === "any" || p.mode === "direct")) {
      const dids = Array.isArray(p.dids) ? p.dids : [];
      if (!dids.every((d) => typeof d === "string" && /^did:[a-z]+:[a-zA-Z0-9._:%-]+$/.test(d)) || dids.length > 256) throw new ConsoleError(400, "invalid_field", "`proBono.dids` must be a list of DIDs.");
      out.proBono = { mode: p.mode, dids };
    } else throw new ConsoleError(400, "invalid_field", "`proBono` must be null or { mode: \"any\" | \"direct\", dids? }.");
  }
  if ("toolCallsDisabled" in body) {
    if (typeof body.toolCallsDisabled !== "boolean") throw new ConsoleError(400, "invalid_field", "`toolCallsDisabled` must be true or false.");
    out.toolCallsDisabled = body.toolCallsDisabled;
  }
  if (Object.keys(out).length === 0) throw new ConsoleError(400, "nothing_to_change", "Name at least one of active, desiredModels, proBono, toolCallsDisabled.");
  return out;
}

export const machineRoutes: Route[] = [
  {
    method: "GET",
    path: "/api/machines",
    async handler(c) {
      const { did } = c.member();
      const client = await c.s.clientFor(did);
      const [records, offers, receipts, attestations, settlements] = await Promise.all([
        listRecords(client.agent, did, NSID.provider),
        client.providers().catch(() => []),
        listRecords(client.agent, did, NSID.receipt, { limit: 500, reverse: false }),
        listRecords(client.agent, did, NSID.attestation),
        client.settlements(did, 100),
      ]);
      const liveIds = new Set(offers.filter((o) => o.provider === did).map((o) => o.machineId));
      // A receipt names the attestation it was signed under; the attestation names the machine key.
      const keyOfAttestation = new Map(attestations.map((a) => [a.uri, String(a.value.publicKey)]));
      const payout = new Map(settlements.map((s) => [s.receipt, s.providerPayout]));
      const earned = new Map<string, { earned: number; jobs: number }>();
      for (const r of receipts) {
        const key = keyOfAttestation.get((r.value.attestation as { uri?: string } | undefined)?.uri ?? "");
        const paid = payout.get(r.uri);
        if (!key || paid === undefined) continue;
        const e = earned.get(key) ?? { earned: 0, jobs: 0 };
        earned.set(key, { earned: e.earned + paid, jobs: e.jobs + 1 });
      }
      const devices = new Map(
        c.s.db.prepare<[string], { id: string; label: string; device_key: string; created_at: number }>("SELECT id, label, device_key, created_at FROM device WHERE owner = ? AND revoked_at IS NULL").all(did).map((d) => [d.device_key, d]),
      );
      const machines: Machine[] = records.map((r) => {
        const v = r.value;
        const rkey = r.uri.split("/").pop()!;
        const faults = faultsOf(v);
        const live = liveIds.has(rkey);
        const e = earned.get(String(v.attestationPubKey)) ?? { earned: 0, jobs: 0 };
        // A paired agent signs with its machine key, which is the record's attestationPubKey.
        const dev = devices.get(String(v.attestationPubKey));
        return {
          rkey,
          uri: r.uri,
          label: String(v.machineLabel ?? rkey),
          state: stateOf(v, live, faults),
          faults,
          ...(typeof v.binaryVersion === "string" ? { version: v.binaryVersion } : {}),
          supportedModels: Array.isArray(v.supportedModels) ? (v.supportedModels as string[]) : [],
          ...(Array.isArray(v.desiredModels) ? { desiredModels: v.desiredModels as string[] } : {}),
          active: v.active !== false,
          ...(v.proBono ? { proBono: v.proBono as Machine["proBono"] } : {}),
          ...(typeof v.toolCalls === "boolean" ? { toolCalls: v.toolCalls } : {}),
          toolCallsDisabled: v.toolCallsDisabled === true,
          live,
          earned: e.earned,
          jobs: e.jobs,
          ...(dev ? { paired: { id: dev.id, label: dev.label, createdAt: new Date(dev.created_at).toISOString() } } : {}),
        };
      });
      return { machines, devices: [...devices.values()].map((d) => ({ id: d.id, label: d.label, createdAt: new Date(d.created_at).toISOString() })) };
    },
  },
  {
    method: "POST",
    path: /^\/api\/machines\/([^/]+)$/,
    async handler(c) {
      const { did } = c.member();
      const rkey = c.params[0]!;
      if (!RKEY_RE.test(rkey)) throw new ConsoleError(400, "invalid_rkey", "Not a record key.");
      const intent = intentOf(await c.body());
      const agent = await c.s.agentFor(did);
      for (let attempt = 0; attempt < 5; attempt++) {
        const cur = await getRecord(agent, did, NSID.provider, rkey);
        if (!cur) throw new ConsoleError(404, "no_such_machine", `You have no machine ${rkey}.`);
        const next: Record<string, unknown> = { ...cur.value };
        for (const [k, v] of Object.entries(intent)) {
          if (v === undefined) delete next[k];
          else next[k] = v;
        }
        try {
          const ref = await putRecord(agent, NSID.provider, rkey, next, { swapRecord: cur.cid });
          return { uri: ref.uri, cid: ref.cid, ...intent };
        } catch (err) {
          // The agent re-published in between: read again and re-apply the owner's fields.
          if (!/InvalidSwap/i.test(JSON.stringify(err, Object.getOwnPropertyNames(err))) && !/swap/i.test(String(err))) throw err;
        }
      }
      throw new ConsoleError(409, "busy_record", "The machine's record kept changing; try again.");
    },
  },
];
