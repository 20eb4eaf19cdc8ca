// Browser sessions: a random id in an HttpOnly cookie, stored hashed, naming the DID whose OAuth
// session (oauth_session) the console acts with. The browser never sees a token of the PDS.
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { ConsoleDb } from "./db.ts";
import { cookies, setCookie } from "./http.ts";

// Cookies ignore ports, so two consoles on 127.0.0.1 would share one: the port is in the name.
export const sessionCookie = (origin: string) => `cocore_console_${new URL(origin).port || "80"}`;
const MAX_AGE_SECONDS = 30 * 24 * 3600;

const hash = (id: string) => createHash("sha256").update(id).digest("hex");

export interface WebSession {
  did: string;
  handle: string;
}

export class WebSessions {
  private readonly q;
  private readonly cookie: string;
  constructor(db: ConsoleDb, origin: string) {
    this.cookie = sessionCookie(origin);
    this.q = {
      get: db.prepare<[string, number], WebSession>("SELECT did, handle FROM web_session WHERE id_hash = ? AND created_at > ?"),
      put: db.prepare("INSERT INTO web_session (id_hash, did, handle, created_at) VALUES (?, ?, ?, ?)"),
      del: db.prepare("DELETE FROM web_session WHERE id_hash = ?"),
      delDid: db.prepare("DELETE FROM web_session WHERE did = ?"),
    };
  }

  /** Starts a session for `did`; returns the Set-Cookie header value. */
  create(did: string, handle: string): string {
    const id = randomBytes(32).toString("base64url");
    this.q.put.run(hash(id), did, handle, Date.now());
    return setCookie(this.cookie, id, { maxAgeSeconds: MAX_AGE_SECONDS });
  }

  of(req: IncomingMessage): WebSession | undefined {
    const id = cookies(req).get(this.cookie);
    return id ? this.q.get.get(hash(id), Date.now() - MAX_AGE_SECONDS * 1000) : undefined;
  }

  /** Ends every browser session of `did` (sign-out revokes the one OAuth session they share). */
  endAll(did: string): string {
    this.q.delDid.run(did);
    return setCookie(this.cookie, "", { maxAgeSeconds: 0 });
  }
}
