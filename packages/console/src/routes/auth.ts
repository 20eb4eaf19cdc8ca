// Sign-in with a handle (AT Protocol OAuth against the member's own PDS), the callback that turns
// the PDS's answer into a browser session, sign-out (which revokes the tokens at the PDS) and the
// session the app asks for on load.
import { ConsoleError } from "../errors.ts";
import { sendError, str } from "../http.ts";
import { CONSOLE_SCOPE } from "../oauth.ts";
import type { Route, RouteContext } from "../context.ts";
import { isConsoleKeySession } from "../key-session.ts";

const HANDLE_RE = /^(did:[a-z]+:[a-zA-Z0-9._:%-]+|([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)$/;

export const authRoutes: Route[] = [
  {
    method: "POST",
    path: "/api/login",
    async handler(c) {
      const handle = str(await c.body(), "handle", { max: 253 }).replace(/^@/, "").toLowerCase();
      if (!HANDLE_RE.test(handle)) throw new ConsoleError(400, "invalid_handle", `'${handle}' is not a handle (like alice.bsky.social) or a DID.`);
      let url: URL;
      try {
        url = await c.s.oauth.authorize(handle, { scope: CONSOLE_SCOPE, state: JSON.stringify({ handle }) });
      } catch (err) {
        c.s.log(`authorize ${handle}: ${err instanceof Error ? err.message : String(err)}`);
        throw new ConsoleError(400, "handle_unresolved", `Could not find the PDS for '${handle}'. Check the handle and try again.`);
      }
      return { url: url.toString() };
    },
  },
  {
    method: "GET",
    path: "/oauth/callback",
    async handler(c) {
      try {
        const { session, state } = await c.s.oauth.callback(c.url.searchParams);
        const handle = state ? String((JSON.parse(state) as { handle?: unknown }).handle ?? session.did) : session.did;
        const cookie = c.s.sessions.create(session.did, handle);
        c.res.writeHead(303, { location: "/", "set-cookie": cookie, "cache-control": "no-store" });
        c.res.end();
      } catch (err) {
        c.s.log(`oauth callback: ${err instanceof Error ? err.message : String(err)}`);
        const reason = c.url.searchParams.get("error_description") ?? c.url.searchParams.get("error") ?? "the sign-in could not be completed";
        c.res.writeHead(303, { location: `/signin?error=${encodeURIComponent(reason)}`, "cache-control": "no-store" });
        c.res.end();
      }
      return undefined;
    },
  },
  {
    method: "POST",
    path: "/api/logout",
    async handler(c) {
      const m = c.member();
      // API keys made here and paired machines act through the same OAuth grant: while any is
      // live the grant stays (revoke them on their pages); otherwise sign-out revokes it.
      const delegates = liveDelegates(c, m.did);
      if (delegates.length === 0) {
        try {
          // Revokes the tokens at the PDS and deletes the stored session.
          await c.s.oauth.revoke(m.did);
        } catch (err) {
          c.s.log(`revoke ${m.did}: ${err instanceof Error ? err.message : String(err)}`);
        }
        c.s.forget(m.did);
      }
      const cookie = c.s.sessions.endAll(m.did);
      c.res.writeHead(200, { "content-type": "application/json", "set-cookie": cookie, "cache-control": "no-store" });
      c.res.end(JSON.stringify({ signedOut: true, revoked: delegates.length === 0, ...(delegates.length ? { keptFor: delegates } : {}) }));
      return undefined;
    },
  },
  {
    method: "GET",
    path: "/api/session",
    async handler(c) {
      if (!c.session) return { signedIn: false };
      // A browser session whose OAuth session is gone (revoked elsewhere) is no session.
      try {
        await c.s.agentFor(c.session.did);
      } catch {
        c.s.sessions.endAll(c.session.did);
        sendError(c.res, new ConsoleError(401, "session_expired", "Your session with your PDS has ended; sign in again."));
        return undefined;
      }
      return { signedIn: true, did: c.session.did, handle: c.session.handle };
    },
  },
];

/** What still acts through the member's OAuth grant: console-made API keys and paired machines. */
function liveDelegates(c: RouteContext, did: string): string[] {
  const out: string[] = [];
  const now = Date.now();
  if (c.s.keys && isConsoleKeySession(c.s.keys.session(did))) {
    const n = c.s.keys.list().filter((k) => k.did === did && !(k.expiresAt && Date.parse(k.expiresAt) <= now)).length;
    if (n > 0) out.push(`${n} API key${n === 1 ? "" : "s"}`);
  }
  const d = (c.s.db.prepare("SELECT count(*) AS n FROM device WHERE owner = ? AND revoked_at IS NULL").get(did) as { n: number }).n;
  if (d > 0) out.push(`${d} paired machine${d === 1 ? "" : "s"}`);
  return out;
}
