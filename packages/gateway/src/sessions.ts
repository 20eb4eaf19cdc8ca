// The PDS sessions the gateway acts with, one per DID that has an API key: their own 0600 file
// (gateway/sessions.json beside keys.json), because a session's refresh token is a full credential
// for the account while the key file holds only hashes. KeyStore keeps the two in step: a session
// is stored with a key and removed with the DID's last live key.
import { basename, dirname, join } from "node:path";
import { SharedJsonFile } from "./json-file.ts";

export interface SessionFile {
  /** Per DID: how the gateway acts as that requester (PDS + session tokens). */
  sessions: Record<string, unknown>;
}

/** Where the sessions for a key file live: `keys.json` → `sessions.json`, `x.json` → `x.sessions.json`. */
export function sessionsPathFor(keysPath: string): string {
  const base = basename(keysPath);
  return join(dirname(keysPath), base === "keys.json" ? "sessions.json" : `${base.replace(/\.json$/, "")}.sessions.json`);
}

function parseSessionFile(raw: unknown): SessionFile {
  const sessions = (raw as Partial<SessionFile> | undefined)?.sessions;
  return { sessions: sessions && typeof sessions === "object" ? { ...sessions } : {} };
}

export class SessionStore {
  private readonly file: SharedJsonFile<SessionFile>;

  /** In memory when `path` is undefined. */
  constructor(readonly path?: string) {
    this.file = new SharedJsonFile(path, parseSessionFile);
  }

  get(did: string): unknown {
    return this.file.read().sessions[did];
  }

  dids(): string[] {
    return Object.keys(this.file.read().sessions);
  }

  /** Stores `did`'s session. KeyStore calls it only while the DID has a key (under the key file's lock). */
  set(did: string, session: unknown): void {
    this.file.update((d) => {
      d.sessions[did] = session;
      return true;
    });
  }

  /**
   * Replaces a stored session (refreshed tokens), only if one is stored: a gateway still holding
   * an agent for a DID whose last key was revoked must not write its session back.
   */
  update(did: string, session: unknown): boolean {
    return this.file.update((d) => {
      if (!(did in d.sessions)) return false;
      d.sessions[did] = session;
      return true;
    });
  }

  /** Stores each of `sessions` not stored yet (a newer one already here wins); the migration's. */
  addMissing(sessions: Record<string, unknown>): void {
    this.file.update((d) => {
      let changed = false;
      for (const [did, s] of Object.entries(sessions)) {
        if (did in d.sessions) continue;
        d.sessions[did] = s;
        changed = true;
      }
      return changed;
    });
  }

  /** Removes every session whose DID is not in `keep`; returns the DIDs removed. */
  retainOnly(keep: ReadonlySet<string>): string[] {
    const removed: string[] = [];
    this.file.update((d) => {
      for (const did of Object.keys(d.sessions)) {
        if (keep.has(did)) continue;
        delete d.sessions[did];
        removed.push(did);
      }
      return removed.length > 0;
    });
    return removed;
  }
}
