// API keys for the OpenAI-compatible gateway. A key is 32 random bytes shown once; only its
// SHA-256 is stored (the key has full entropy, so a plain hash is enough to make a stolen key file
// useless for calling the API). Each key is bound to one DID, the requester it spends for, has a
// name and may have an expiry.
//
// Files (both 0600 in a 0700 directory, shared between processes: `cocore apikey` changes them
// while a gateway serves from them):
//   keys.json      { keys: [{ id, name, did, hash, createdAt, expiresAt?, lastUsedAt? }] }, never a session
//   sessions.json  { sessions: { [did]: session } } (sessions.ts), one per DID with a live key
import { createHash, randomBytes } from "node:crypto";
import { SharedJsonFile } from "./json-file.ts";
import { SessionStore, sessionsPathFor } from "./sessions.ts";

export const KEY_PREFIX = "ck-";

/** A key's last use is written to the key file at most once per this interval (see `lookup`). */
export const LAST_USE_RESOLUTION_MS = 60_000;

export interface ApiKeyEntry {
  id: string;
  name: string;
  did: string;
  /** Hex SHA-256 of the full key. */
  hash: string;
  createdAt: string;
  /** After this instant the key is refused. */
  expiresAt?: string;
  /** When the gateway last accepted the key, to the minute (LAST_USE_RESOLUTION_MS). */
  lastUsedAt?: string;
}

export interface KeyFile {
  keys: ApiKeyEntry[];
}

interface KeyDoc extends KeyFile {
  /** Sessions an older cocore kept inside keys.json, until they are moved to the sessions file. */
  sessions?: Record<string, unknown>;
}

export interface KeyStoreOptions {
  /** The sessions file (default: beside the key file, `sessionsPathFor(path)`). */
  sessionsPath?: string;
  /** The clock in epoch ms (creation, expiry, last use). */
  now?: () => number;
}

export interface CreateKeyOptions {
  /** An instant (ISO string or Date) after which the key is refused. */
  expiresAt?: string | Date;
  /** How the gateway acts as `did` (PDS + session tokens); stored in the sessions file. */
  session?: unknown;
}

export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export function isExpired(entry: Pick<ApiKeyEntry, "expiresAt">, nowMs: number): boolean {
  return entry.expiresAt !== undefined && Date.parse(entry.expiresAt) <= nowMs;
}

const defaultName = (id: string) => `key-${id}`;

// Older files named keys by an optional `label` and kept the sessions inside; both are read here
// (the sessions are moved out on first load, see KeyStore.doc).
function parseKeyFile(raw: unknown): KeyDoc {
  const r = raw as { keys?: unknown; sessions?: unknown } | undefined;
  const keys = Array.isArray(r?.keys)
    ? r.keys.map((e: ApiKeyEntry & { label?: string }) => {
        const { label, name, ...rest } = e;
        return { ...rest, name: typeof name === "string" && name ? name : typeof label === "string" && label ? label : defaultName(rest.id) };
      })
    : [];
  const doc: KeyDoc = { keys };
  if (r?.sessions && typeof r.sessions === "object") doc.sessions = { ...(r.sessions as Record<string, unknown>) };
  return doc;
}

export class KeyStore {
  /** The sessions the gateway acts with, kept in step with the keys (stored with one, removed with the last). */
  readonly sessions: SessionStore;
  private readonly file: SharedJsonFile<KeyDoc>;
  private readonly now: () => number;
  /** When this process last wrote each key's last use (epoch ms). */
  private readonly useWritten = new Map<string, number>();

  /** In memory when `path` is undefined; otherwise the key file (see the top of this file). */
  constructor(
    readonly path?: string,
    opts: KeyStoreOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.file = new SharedJsonFile(path, parseKeyFile);
    this.sessions = new SessionStore(path === undefined ? undefined : (opts.sessionsPath ?? sessionsPathFor(path)));
    this.doc();
  }

  /** Creates a key for `did`; the returned key is the only time it is visible. */
  create(did: string, name?: string, opts: CreateKeyOptions = {}): { key: string; entry: ApiKeyEntry } {
    const key = KEY_PREFIX + randomBytes(32).toString("base64url");
    const id = randomBytes(6).toString("hex");
    const t = this.now();
    let expiresAt: string | undefined;
    if (opts.expiresAt !== undefined) {
      const at = opts.expiresAt instanceof Date ? opts.expiresAt.getTime() : Date.parse(opts.expiresAt);
      if (!Number.isFinite(at)) throw new Error(`invalid key expiry ${String(opts.expiresAt)}`);
      expiresAt = new Date(at).toISOString();
    }
    const entry: ApiKeyEntry = { id, name: name?.trim() || defaultName(id), did, hash: hashKey(key), createdAt: new Date(t).toISOString(), ...(expiresAt ? { expiresAt } : {}) };
    this.change((d) => {
      d.keys.push(entry);
      // Written while the key file is locked, so a concurrent revoke of this DID's last key
      // cannot remove the session between the two writes.
      if (opts.session !== undefined) this.sessions.set(did, opts.session);
      this.pruneSessions(d);
      return true;
    });
    return { key, entry: { ...entry } };
  }

  /**
   * The key's entry if the gateway should accept it now (unknown, revoked or expired: undefined),
   * recording its use.
   *
   * Last use is for people (`apikey list`), so it is kept to the minute: it is written only when
   * the file's value (whichever process wrote it) and this process's own last write for the key
   * are both LAST_USE_RESOLUTION_MS old. A busy key thus costs one rewrite of keys.json a minute
   * rather than one per request, and the recorded time is at most that much behind.
   */
  lookup(key: string): ApiKeyEntry | undefined {
    if (!key.startsWith(KEY_PREFIX)) return undefined;
    const h = hashKey(key);
    const entry = this.doc().keys.find((k) => k.hash === h);
    if (!entry) return undefined;
    const t = this.now();
    if (isExpired(entry, t)) return undefined;
    this.noteUse(entry, t);
    return { ...entry };
  }

  /** Removes a key; with the DID's last live key goes its session. False if there is no such key. */
  revoke(id: string): boolean {
    let found = false;
    this.change((d) => {
      const i = d.keys.findIndex((k) => k.id === id);
      if (i === -1) return false;
      d.keys.splice(i, 1);
      found = true;
      // The session goes first: a crash before keys.json is written leaves the key (visibly not
      // revoked, and with no session to act with), never a session without its key.
      this.pruneSessions(d);
      return true;
    });
    return found;
  }

  list(): ApiKeyEntry[] {
    return this.doc().keys.map((k) => ({ ...k }));
  }

  session(did: string): unknown {
    this.doc();
    return this.sessions.get(did);
  }

  /** Stores `did`'s session if the DID has a live key (a session is never kept without one). */
  setSession(did: string, session: unknown): boolean {
    let stored = false;
    this.change((d) => {
      if (!d.keys.some((k) => k.did === did && !isExpired(k, this.now()))) return false;
      this.sessions.set(did, session);
      stored = true;
      return false;
    });
    return stored;
  }

  /** Replaces a stored session (refreshed tokens); never brings back one removed with its last key. */
  updateSession(did: string, session: unknown): boolean {
    this.doc();
    return this.sessions.update(did, session);
  }

  private noteUse(entry: ApiKeyEntry, t: number): void {
    const last = Math.max(this.useWritten.get(entry.id) ?? -Infinity, entry.lastUsedAt ? Date.parse(entry.lastUsedAt) : -Infinity);
    if (t - last < LAST_USE_RESOLUTION_MS) return;
    this.useWritten.set(entry.id, t);
    try {
      this.change((d) => {
        const k = d.keys.find((x) => x.id === entry.id);
        if (!k || (k.lastUsedAt && Date.parse(k.lastUsedAt) >= t)) return false;
        k.lastUsedAt = new Date(t).toISOString();
        return true;
      });
    } catch {
      // Informational only: a key file that is locked for long or read-only must not refuse the
      // request. The next attempt is a minute later (useWritten).
    }
  }

  /** Drops the sessions no live key can use any more (revoked or expired keys). */
  private pruneSessions(d: KeyDoc): void {
    const t = this.now();
    this.sessions.retainOnly(new Set(d.keys.filter((k) => !isExpired(k, t)).map((k) => k.did)));
  }

  /** Changes the key file under its lock; an older layout's sessions are moved out on the way. */
  private change(fn: (d: KeyDoc) => boolean): void {
    this.file.update((d) => {
      let moved = false;
      if (d.sessions) {
        // Only DIDs that still have a live key get their session back: the old layout kept the
        // sessions of revoked keys too. The sessions file is written before keys.json loses them,
        // so a crash in between loses nothing (the next load moves them again, idempotently).
        const t = this.now();
        const live = new Set(d.keys.filter((k) => !isExpired(k, t)).map((k) => k.did));
        this.sessions.addMissing(Object.fromEntries(Object.entries(d.sessions).filter(([did]) => live.has(did))));
        delete d.sessions;
        moved = true;
      }
      const changed = fn(d);
      return changed || moved;
    });
  }

  /** The key file as it is now, migrated first if it still holds sessions. */
  private doc(): KeyDoc {
    const d = this.file.read();
    if (!d.sessions) return d;
    this.change(() => false);
    return this.file.read();
  }
}
