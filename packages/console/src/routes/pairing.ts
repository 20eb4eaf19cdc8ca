// Pairing routes: the machine's side (ask, poll: no session, no Origin, the machine key and the
// poll secret are its proof) and the owner's side (see, approve, deny; list and revoke devices).
import type { Route, RouteContext } from "../context.ts";
import { CODE_RE, PAIRING_POLL_MS, type Device } from "../devices.ts";
import { ConsoleError } from "../errors.ts";
import { str } from "../http.ts";

const codeParam = (c: RouteContext): string => {
  const code = (c.params[0] ?? "").toUpperCase();
  if (!CODE_RE.test(code)) throw new ConsoleError(400, "invalid_code", "A pairing code looks like BCDF-2345.");
  return code;
};

const deviceView = (d: Device) => ({ id: d.id, label: d.label, publicKey: d.deviceKey, createdAt: new Date(d.createdAt).toISOString(), ...(d.lastUsedAt ? { lastUsedAt: new Date(d.lastUsedAt).toISOString() } : {}) });

export const pairingRoutes: Route[] = [
  {
    method: "POST",
    path: "/api/pair",
    sameOrigin: false,
    async handler(c) {
      const b = await c.body();
      const r = c.s.devices.request({ publicKey: str(b, "publicKey", { max: 200 }), label: str(b, "label", { max: 64 }), at: str(b, "at", { max: 40 }), sig: str(b, "sig", { max: 200 }) });
      return { ...r, approveUrl: `${c.s.origin}/devices/new?code=${r.code}`, pollMs: PAIRING_POLL_MS };
    },
  },
  {
    method: "POST",
    path: "/api/pair/poll",
    sameOrigin: false,
    async handler(c) {
      const b = await c.body();
      const code = str(b, "code", { max: 9 }).toUpperCase();
      if (!CODE_RE.test(code)) throw new ConsoleError(400, "invalid_code", "A pairing code looks like BCDF-2345.");
      const r = c.s.devices.poll(code, str(b, "pollSecret", { max: 100 }));
      if (r.status === "pending") return r;
      // The token is already spent: a failed lookup only leaves out the handle and PDS (hints).
      const id = await c.s.idResolver.did.resolveAtprotoData(r.device.owner).catch(() => undefined);
      return { status: "approved", deviceId: r.device.id, token: r.token, owner: r.device.owner, ...(id ? { handle: id.handle, pds: id.pds } : {}), console: c.s.origin, label: r.device.label };
    },
  },
  {
    method: "GET",
    path: /^\/api\/pairings\/([^/]+)$/,
    async handler(c) {
      c.member();
      return c.s.devices.view(codeParam(c));
    },
  },
  {
    method: "POST",
    path: /^\/api\/pairings\/([^/]+)\/approve$/,
    async handler(c) {
      const { did } = c.member();
      // The grant the machine will act through must be alive now, not discovered dead later.
      await c.s.agentFor(did);
      return { device: deviceView(c.s.devices.approve(codeParam(c), did)) };
    },
  },
  {
    method: "POST",
    path: /^\/api\/pairings\/([^/]+)\/deny$/,
    async handler(c) {
      c.s.devices.deny(codeParam(c), c.member().did);
      return { denied: true };
    },
  },
  {
    method: "GET",
    path: "/api/devices",
    async handler(c) {
      return { devices: c.s.devices.list(c.member().did).map(deviceView) };
    },
  },
  {
    method: "POST",
    path: /^\/api\/devices\/([A-Za-z0-9_-]{1,64})\/revoke$/,
    async handler(c) {
      c.s.devices.revoke(c.params[0]!, c.member().did);
      return { revoked: true };
    },
  },
];
