// A small JSON document in a 0600 file that several processes read and change (the gateway serves
// from it while `cocore apikey` edits it). Reads re-parse only when the file changed on disk;
// changes run under a lock file and start from what is on disk, so one process's write never
// undoes another's (a key revoked by the CLI is not brought back by the gateway's next write).
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** A lock older than this was left by a process that died inside a change (changes take ms). */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

export class SharedJsonFile<T> {
  private data: T;
  /** Identifies the file version `data` was read from (undefined: no file). */
  private stamp: string | undefined;

  /**
   * In memory when `path` is undefined. `parse` turns what is on disk (undefined: no file) into
   * the document, and may upgrade an older layout.
   */
  constructor(
    readonly path: string | undefined,
    private readonly parse: (raw: unknown) => T,
  ) {
    this.data = parse(undefined);
    this.reload(false);
  }

  /** The document as it is on disk now. Callers must not change it (use `update`). */
  read(): T {
    this.reload(false);
    return this.data;
  }

  /**
   * Changes the document: under the lock, `fn` gets the version on disk and returns whether it
   * changed anything; only then is the file rewritten (atomically, by rename).
   */
  update(fn: (data: T) => boolean): boolean {
    if (!this.path) return fn(this.data);
    const path = this.path;
    return withLock(path, () => {
      this.reload(true);
      if (!fn(this.data)) return false;
      this.write(this.data);
      return true;
    });
  }

  /** Rewrites the file from `data` as it is (under the caller's own `update` or lock). */
  private write(data: T): void {
    const path = this.path!;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(data, null, 2) + "\n", { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
    this.stamp = fileStamp(path);
  }

  private reload(force: boolean): void {
    if (!this.path) return;
    const stamp = fileStamp(this.path);
    if (!force && stamp === this.stamp) return;
    this.data = this.parse(stamp ? (JSON.parse(readFileSync(this.path, "utf8")) as unknown) : undefined);
    this.stamp = stamp;
  }
}

/**
 * Runs `fn` holding `${path}.lock` (created exclusively). Everything done under it is synchronous
 * and short, so waiting is a sleep of a few ms at a time; a lock older than STALE_LOCK_MS is
 * taken to be a dead process's and removed.
 */
export function withLock<R>(path: string, fn: () => R): R {
  const lock = `${path}.lock`;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lock, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      try {
        return fn();
      } finally {
        unlinkSync(lock);
      }
    }
    const held = statSync(lock, { throwIfNoEntry: false });
    if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) {
      try {
        unlinkSync(lock);
      } catch {
        // Another waiter removed it first.
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${path} is locked by another process (${lock}); remove the lock file if no cocore process is running`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
}

// Writes replace the file by rename, so the inode changes with every save even within one mtime tick.
function fileStamp(path: string): string | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.mtimeMs}:${st.size}` : undefined;
}
