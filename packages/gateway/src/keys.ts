// API keys for the OpenAI-compatible gateway. A key is 32 random bytes shown once; only its
// SHA-256 is stored (the key has full entropy, so a plain hash is enough to make a stolen key file
// useless for calling the API). Each key is bound to one DID, the requester it spends for.
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export const KEY_PREFIX = "ck-";

export interface ApiKeyEntry {
  id: string;
  /** Hex SHA-256 of the full key. */
  hash: string;
  did: string;
  label?: string;
  createdAt: string;
}

export interface KeyFile {
  keys: ApiKeyEntry[];
  /** Per DID: how the gateway acts as that requester (PDS + session tokens). */
  sessions: Record<string, unknown>;
}

export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export class KeyStore {
  private data: KeyFile = { keys: [], sessions: {} };
  /** Identifies the file version `data` was read from (undefined: no file). */
  private stamp: string | undefined;

  /**
   * In memory when `path` is undefined; otherwise a 0600 JSON file. The file is shared between
   * processes (`cocore apikey` writes it while a gateway serves from it), so it is re-read whenever
   * it changed on disk before each read or change.
   */
  constructor(private readonly path?: string) {
    this.refresh();
  }

  /** Creates a key for `did`; the returned key is the only time it is visible. */
  create(did: string, label?: string): { key: string; entry: ApiKeyEntry } {
    this.refresh();
    const key = KEY_PREFIX + randomBytes(32).toString("base64url");
    const entry: ApiKeyEntry = { id: randomBytes(6).toString("hex"), hash: hashKey(key), did, label, createdAt: new Date().toISOString() };
    this.data.keys.push(entry);
    this.save();
    return { key, entry };
  }

  lookup(key: string): ApiKeyEntry | undefined {
    if (!key.startsWith(KEY_PREFIX)) return undefined;
    this.refresh();
    const h = hashKey(key);
    return this.data.keys.find((k) => k.hash === h);
  }

  revoke(id: string): boolean {
    this.refresh();
    const before = this.data.keys.length;
    this.data.keys = this.data.keys.filter((k) => k.id !== id);
    this.save();
    return this.data.keys.length !== before;
  }

  list(): ApiKeyEntry[] {
    this.refresh();
    return [...this.data.keys];
  }

  setSession(did: string, session: unknown): void {
    this.refresh();
    this.data.sessions[did] = session;
    this.save();
  }

  session(did: string): unknown {
    this.refresh();
    return this.data.sessions[did];
  }

  private save(): void {
    if (!this.path) return;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(this.data, null, 2), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path);
    this.stamp = fileStamp(this.path);
  }

  private refresh(): void {
    if (!this.path) return;
    const stamp = fileStamp(this.path);
    if (stamp === this.stamp) return;
    this.data = stamp ? (JSON.parse(readFileSync(this.path, "utf8")) as KeyFile) : { keys: [], sessions: {} };
    this.data.keys ??= [];
    this.data.sessions ??= {};
    this.stamp = stamp;
  }
}

// Writes replace the file by rename, so the inode changes with every save even within one mtime tick.
function fileStamp(path: string): string | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.mtimeMs}:${st.size}` : undefined;
}
