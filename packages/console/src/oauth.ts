// The console as an AT Protocol OAuth client (server side, @atproto/oauth-client-node): DPoP-bound
// tokens, PKCE and PAR are the library's; we give it SQLite stores so a restart keeps both pending
// sign-ins and sessions. In development it is a loopback client (no hosted metadata, no keys):
// the redirect URI must be on 127.0.0.1 with the exact port (../shared/OAUTH-NOTES.md).
import { buildAtprotoLoopbackClientMetadata, NodeOAuthClient, requestLocalLock, type NodeSavedSession, type NodeSavedState } from "@atproto/oauth-client-node";
import { NSID } from "@cocore/protocol";
import type { ConsoleDb } from "./db.ts";

/**
 * What the console asks of a member's PDS: to write exactly the records it writes for them (the
 * PDS silently drops partial wildcards like `repo:dev.cocore.*`, so each NSID is listed), and
 * service-auth tokens for the exchange's member reads.
 */
export const CONSOLE_COLLECTIONS = [NSID.job, NSID.paymentAuthorization, NSID.termsAcceptance, NSID.provider, NSID.attestation, NSID.receipt] as const;
export const CONSOLE_RPC = [NSID.getBalance, NSID.listHistory] as const;
export const CONSOLE_SCOPE = ["atproto", `repo?${CONSOLE_COLLECTIONS.map((c) => `collection=${c}`).join("&")}`, `rpc?${CONSOLE_RPC.map((m) => `lxm=${m}`).join("&")}&aud=*`].join(" ");

const STATE_TTL_MS = 60 * 60_000;

export interface OAuthOptions {
  db: ConsoleDb;
  /** The console's own origin on 127.0.0.1 (the callback is `${origin}/oauth/callback`). */
  origin: string;
  plcUrl: string;
  /** Where handles resolve (a PDS URL: com.atproto.identity.resolveHandle); default: DNS/HTTPS. */
  handleResolver?: string;
  /** Plain http issuers and PDSes are accepted (local development only). */
  allowHttp: boolean;
}

export function createOAuthClient(o: OAuthOptions): NodeOAuthClient {
  const { db } = o;
  const q = {
    stateGet: db.prepare<[string, number], { value: string }>("SELECT value FROM oauth_state WHERE key = ? AND created_at > ?"),
    stateSet: db.prepare("INSERT OR REPLACE INTO oauth_state (key, value, created_at) VALUES (?, ?, ?)"),
    stateDel: db.prepare("DELETE FROM oauth_state WHERE key = ?"),
    stateSweep: db.prepare("DELETE FROM oauth_state WHERE created_at <= ?"),
    sessGet: db.prepare<[string], { value: string }>("SELECT value FROM oauth_session WHERE did = ?"),
    sessSet: db.prepare("INSERT OR REPLACE INTO oauth_session (did, value, updated_at) VALUES (?, ?, ?)"),
    sessDel: db.prepare("DELETE FROM oauth_session WHERE did = ?"),
  };
  return new NodeOAuthClient({
    clientMetadata: buildAtprotoLoopbackClientMetadata({ scope: CONSOLE_SCOPE, redirect_uris: [`${o.origin}/oauth/callback` as `http://127.0.0.1:${string}`] }),
    allowHttp: o.allowHttp,
    plcDirectoryUrl: o.plcUrl,
    ...(o.handleResolver ? { handleResolver: o.handleResolver } : {}),
    requestLock: requestLocalLock,
    stateStore: {
      async get(key) {
        const row = q.stateGet.get(key, Date.now() - STATE_TTL_MS);
        return row ? (JSON.parse(row.value) as NodeSavedState) : undefined;
      },
      async set(key, value) {
        q.stateSweep.run(Date.now() - STATE_TTL_MS);
        q.stateSet.run(key, JSON.stringify(value), Date.now());
      },
      async del(key) {
        q.stateDel.run(key);
      },
    },
    sessionStore: {
      async get(did) {
        const row = q.sessGet.get(did);
        return row ? (JSON.parse(row.value) as NodeSavedSession) : undefined;
      },
      async set(did, value) {
        q.sessSet.run(did, JSON.stringify(value), Date.now());
      },
      async del(did) {
        q.sessDel.run(did);
      },
    },
  });
}
