// API keys for the OpenAI-compatible API, in the same store the gateway reads (`cocore apikey`'s
// files): create (the key is shown once), name, list with last use, revoke.
import { isExpired, type KeyStore } from "@cocore/gateway";
import { ConsoleError } from "../errors.ts";
import { str } from "../http.ts";
import { consoleKeySession } from "../key-session.ts";
import type { Route, RouteContext } from "../context.ts";

const MAX_EXPIRY_DAYS = 3650;

function store(c: RouteContext): KeyStore {
  if (!c.s.keys) throw new ConsoleError(404, "keys_unavailable", "This console runs without the OpenAI-compatible API's key store.");
  return c.s.keys;
}

export const keyRoutes: Route[] = [
  {
    method: "GET",
    path: "/api/keys",
    async handler(c) {
      const { did } = c.member();
      const now = Date.now();
      const keys = store(c).list().filter((k) => k.did === did).map((k) => ({ id: k.id, name: k.name, createdAt: k.createdAt, lastUsedAt: k.lastUsedAt ?? null, expiresAt: k.expiresAt ?? null, expired: isExpired(k, now) }));
      return { keys, apiBase: c.s.gatewayUrl ?? null };
    },
  },
  {
    method: "POST",
    path: "/api/keys",
    async handler(c) {
      const { did } = c.member();
      const body = await c.body();
      const name = str(body, "name", { max: 64 });
      let expiresAt: Date | undefined;
      if (body.expiresInDays !== undefined && body.expiresInDays !== null && body.expiresInDays !== "") {
        const days = Number(body.expiresInDays);
        if (!Number.isInteger(days) || days < 1 || days > MAX_EXPIRY_DAYS) throw new ConsoleError(400, "invalid_expiry", `expiresInDays must be a whole number of days from 1 to ${MAX_EXPIRY_DAYS}.`);
        expiresAt = new Date(Date.now() + days * 86_400_000);
      }
      const { key, entry } = store(c).create(did, name, { expiresAt, session: consoleKeySession(c.s.origin) });
      return { key, id: entry.id, name: entry.name, createdAt: entry.createdAt, expiresAt: entry.expiresAt ?? null };
    },
  },
  {
    method: "DELETE",
    path: /^\/api\/keys\/([a-f0-9]{1,32})$/,
    async handler(c) {
      const { did } = c.member();
      const keys = store(c);
      const id = c.params[0]!;
      if (!keys.list().some((k) => k.id === id && k.did === did)) throw new ConsoleError(404, "no_such_key", `You have no key ${id}.`);
      keys.revoke(id);
      return { revoked: id };
    },
  },
];
