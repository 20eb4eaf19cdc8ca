// The write proxy paired machines use instead of a password: XRPC at the console's /xrpc/, each
// request carrying the device token and signed by the machine key, forwarded to the owner's PDS
// through the owner's OAuth session. It passes only com.atproto.repo create/put/delete/applyWrites
// of the machine's own records (@cocore/protocol device-writes.ts) in the owner's repo, and reads
// (getRecord, listRecords) of those collections; anything else is refused with a stable code in
// the XRPC error shape ({ error, message }) the agent's client reads.
import { createHash } from "node:crypto";
import type { Agent } from "@atproto/api";
import { base64Decode, DEVICE_CLOCK_SKEW_MS, DEVICE_COLLECTIONS, DEVICE_HEADERS, deviceRequestBytes, deviceWriteProblem, verify, type DeviceWrite } from "@cocore/protocol";
import type { Route, RouteContext } from "../context.ts";
import type { Device } from "../devices.ts";
import { ConsoleError } from "../errors.ts";
import { parseJsonObject, readBody, sendJson } from "../http.ts";

const READS = new Set(["com.atproto.repo.getRecord", "com.atproto.repo.listRecords"]);
const WRITES = new Set(["com.atproto.repo.createRecord", "com.atproto.repo.putRecord", "com.atproto.repo.deleteRecord", "com.atproto.repo.applyWrites"]);
const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;

const refuse = (status: number, code: string, message: string) => new ConsoleError(status, code, message);

function authenticate(c: RouteContext, body: Buffer): Device {
  const m = /^CocoreDevice (\S+)$/.exec(String(c.req.headers.authorization ?? ""));
  if (!m) throw refuse(401, "device_credential_required", "Send the device token: authorization: CocoreDevice <token> (cocore agent pair).");
  const device = c.s.devices.byToken(m[1]!);
  if (!device) throw refuse(401, "invalid_device_credential", "This device token is not known to the console; pair the machine again.");
  if (device.revokedAt !== null) throw refuse(401, "device_revoked", "The owner revoked this machine on the Machines page; pair it again to serve.");
  const at = String(c.req.headers[DEVICE_HEADERS.at] ?? "");
  const nonce = String(c.req.headers[DEVICE_HEADERS.nonce] ?? "");
  const sigText = String(c.req.headers[DEVICE_HEADERS.sig] ?? "");
  const t = Date.parse(at);
  if (!Number.isFinite(t) || Math.abs(t - Date.now()) > DEVICE_CLOCK_SKEW_MS) throw refuse(401, "stale_request", "The request's time is missing or too far from the console's clock.");
  if (!NONCE_RE.test(nonce)) throw refuse(401, "bad_signature", "The request has no usable nonce.");
  let sig: Uint8Array;
  try {
    sig = base64Decode(sigText);
  } catch {
    throw refuse(401, "bad_signature", "The request signature is not base64.");
  }
  const bytes = deviceRequestBytes({ method: c.req.method ?? "", path: c.req.url ?? "", bodySha256: createHash("sha256").update(body).digest("hex"), at, nonce, deviceId: device.id });
  if (!verify(device.deviceKey, bytes, sig)) throw refuse(401, "bad_signature", "The request is not signed by the paired machine's key.");
  // After the signature, so an unsigned request cannot burn a machine's nonces.
  if (!c.s.devices.useNonce(device.id, nonce)) throw refuse(401, "replayed_request", "This request was already made once.");
  c.s.devices.touch(device.id);
  return device;
}

function checkTarget(owner: string, repo: unknown, collection: unknown): void {
  if (repo !== owner) throw refuse(403, "repo_not_allowed", `A paired machine writes only its owner's repo (${owner}).`);
  if (typeof collection !== "string" || !DEVICE_COLLECTIONS.includes(collection)) throw refuse(403, "collection_not_allowed", `A paired machine uses only ${DEVICE_COLLECTIONS.join(", ")}.`);
}

const rkeyOf = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The writes a repo call makes, in the rule's terms. */
function writesOf(nsid: string, body: Record<string, unknown>): DeviceWrite[] {
  const collection = String(body.collection ?? "");
  switch (nsid) {
    case "com.atproto.repo.createRecord":
      return [{ action: "create", collection, rkey: rkeyOf(body.rkey), value: body.record }];
    case "com.atproto.repo.putRecord":
      return [{ action: "update", collection, rkey: rkeyOf(body.rkey), value: body.record }];
    case "com.atproto.repo.deleteRecord":
      return [{ action: "delete", collection, rkey: rkeyOf(body.rkey) }];
    default: {
      const writes = Array.isArray(body.writes) ? (body.writes as Array<Record<string, unknown>>) : [];
      if (writes.length === 0 || writes.length > 200) throw refuse(400, "invalid_request", "applyWrites takes 1 to 200 writes.");
      return writes.map((w) => {
        const kind = String(w?.$type ?? "").split("#")[1];
        if (kind !== "create" && kind !== "update" && kind !== "delete") throw refuse(400, "invalid_request", "Each write must be an applyWrites#create, #update or #delete.");
        return { action: kind, collection: String(w.collection ?? ""), rkey: rkeyOf(w.rkey), value: w.value };
      });
    }
  }
}

async function ownerAgent(c: RouteContext, owner: string): Promise<Agent> {
  try {
    return await c.s.agentFor(owner);
  } catch {
    throw refuse(503, "owner_session_unavailable", "The console no longer holds the owner's sign-in; the owner should sign in to the console again.");
  }
}

/** The record now at an rkey in JSON form (null: none), read through the owner's session. */
async function existingRecord(agent: Agent, owner: string, collection: string, rkey: string): Promise<{ cid: string; value: unknown } | null> {
  const q = new URLSearchParams({ repo: owner, collection, rkey });
  const res = await agent.sessionManager.fetchHandler(`/xrpc/com.atproto.repo.getRecord?${q}`, { method: "GET" });
  const body = (await res.json().catch(() => ({}))) as { cid?: string; value?: unknown; error?: string; message?: string };
  if (res.ok && body.cid) return { cid: body.cid, value: body.value };
  if (res.status === 400 && (body.error === "RecordNotFound" || /could not locate record/i.test(body.message ?? ""))) return null;
  throw refuse(502, "pds_unavailable", `The owner's PDS did not answer getRecord (${res.status}).`);
}

async function proxy(c: RouteContext): Promise<void> {
  const nsid = c.params[0]!;
  const raw = c.req.method === "POST" ? await readBody(c.req) : Buffer.alloc(0);
  const device = authenticate(c, raw);
  const owner = device.owner;
  let forward: string | undefined;
  if (c.req.method === "GET") {
    if (!READS.has(nsid)) throw refuse(403, "method_not_allowed", `A paired machine may not call ${nsid}.`);
    checkTarget(owner, c.url.searchParams.get("repo"), c.url.searchParams.get("collection"));
  } else {
    if (!WRITES.has(nsid)) throw refuse(403, "method_not_allowed", `A paired machine may not call ${nsid}.`);
    const body = parseJsonObject(raw);
    const writes = writesOf(nsid, body);
    const agent = await ownerAgent(c, owner);
    for (const w of writes) {
      checkTarget(owner, body.repo, w.collection);
      if (w.action !== "create" && w.rkey === undefined) throw refuse(400, "invalid_request", "An update or delete names its rkey.");
      const existing = w.action === "create" && w.rkey === undefined ? undefined : await existingRecord(agent, owner, w.collection, w.rkey!);
      const problem = deviceWriteProblem(w, device.deviceKey, existing === undefined ? undefined : (existing?.value ?? null));
      if (problem) throw refuse(403, problem.code, problem.message);
      // The record we checked is the record replaced: another writer cannot slip in between.
      if (existing && (nsid === "com.atproto.repo.putRecord" || nsid === "com.atproto.repo.deleteRecord") && body.swapRecord === undefined) body.swapRecord = existing.cid;
    }
    forward = JSON.stringify(body);
  }
  const agent = await ownerAgent(c, owner);
  const res = await agent.sessionManager.fetchHandler(c.req.url ?? "", {
    method: c.req.method,
    ...(forward ? { body: forward, headers: { "content-type": "application/json" } } : {}),
  });
  const out = Buffer.from(await res.arrayBuffer());
  c.res.writeHead(res.status, { "content-type": res.headers.get("content-type") ?? "application/json", "content-length": out.length, "cache-control": "no-store" });
  c.res.end(out);
}

async function handler(c: RouteContext): Promise<undefined> {
  try {
    await proxy(c);
  } catch (err) {
    if (!(err instanceof ConsoleError)) throw err;
    sendJson(c.res, err.status, { error: err.code, message: err.message });
  }
  return undefined;
}

const PATH = /^\/xrpc\/([A-Za-z0-9.]{1,128})$/;
export const deviceProxyRoutes: Route[] = [
  { method: "GET", path: PATH, sameOrigin: false, handler },
  { method: "POST", path: PATH, sameOrigin: false, handler },
];
