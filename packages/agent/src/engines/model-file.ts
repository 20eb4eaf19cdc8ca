// Model files given as a local path or an http(s) URL. A URL is downloaded once into a cache
// directory; an interrupted download leaves `<file>.part`, and the next attempt resumes it with an
// HTTP Range request, so a multi-GB model survives flaky links. The file only takes its final
// name after its size (and optional SHA-256) verified, so a cached file is always a complete one.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { EngineError } from "./types.ts";

export interface DownloadProgress {
  url: string;
  /** Bytes on disk so far, including any resumed prefix. */
  receivedBytes: number;
  /** Full size when the server told us (Content-Range / Content-Length), else null. */
  totalBytes: number | null;
  /** Bytes that were already on disk when this attempt started (0 for a fresh download). */
  resumedFrom: number;
}

export interface ModelFileOptions {
  /** Where URL downloads go; default $COCORE_MODEL_CACHE or ~/.cache/cocore/models. */
  cacheDir?: string;
  /** Refuse the download unless the final size is exactly this. */
  expectedSize?: number;
  /** Refuse the download unless the file's SHA-256 (hex) is this. */
  sha256?: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

/** The small model shipped in this repository (see models/README.md). */
export function bundledModelPath(): string {
  return fileURLToPath(new URL("../../../../models/fortunes-char.gguf", import.meta.url));
}

export function defaultModelCacheDir(): string {
  return process.env.COCORE_MODEL_CACHE ?? join(homedir(), ".cache", "cocore", "models");
}

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** Local path for `source`: the path itself (must exist) or the cached download of the URL. */
export async function resolveModelFile(source: string, opts: ModelFileOptions = {}): Promise<string> {
  if (isUrl(source)) return downloadModel(source, opts);
  const path = resolve(source);
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error("not a regular file");
  } catch (err) {
    throw new EngineError("download", `model file ${path} is not readable: ${(err as Error).message}`, { cause: err });
  }
  return path;
}

/** Cache file name: readable basename plus a URL hash, so two URLs never share a file. */
export function cacheFileName(url: string): string {
  const hash = createHash("sha256").update(url).digest("hex").slice(0, 12);
  const base = basename(new URL(url).pathname).replace(/[^A-Za-z0-9._-]/g, "_") || "model.gguf";
  return `${hash}-${base}`;
}

export async function downloadModel(url: string, opts: ModelFileOptions = {}): Promise<string> {
  const dir = opts.cacheDir ?? defaultModelCacheDir();
  await mkdir(dir, { recursive: true });
  const finalPath = join(dir, cacheFileName(url));
  const partPath = `${finalPath}.part`;
  if (await sizeOf(finalPath) !== null) return finalPath;

  let start = (await sizeOf(partPath)) ?? 0;
  if (opts.expectedSize !== undefined && start > opts.expectedSize) {
    await rm(partPath, { force: true });
    start = 0;
  }
  let res: Response;
  try {
    res = await fetch(url, {
      headers: start > 0 ? { range: `bytes=${start}-` } : {},
      signal: opts.signal ?? null,
    });
  } catch (err) {
    throw new EngineError("download", `GET ${url} failed: ${(err as Error).message}`, { cause: err });
  }

  let total: number | null;
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
    if (!m || Number(m[1]) !== start) {
      await res.body?.cancel();
      throw new EngineError("download", `GET ${url}: unexpected Content-Range ${res.headers.get("content-range")} for resume at ${start}`);
    }
    total = m[3] === "*" ? null : Number(m[3]);
  } else if (res.status === 200) {
    // The server ignored our Range (or there was none): start over from byte 0.
    start = 0;
    const len = res.headers.get("content-length");
    total = len === null ? null : Number(len);
  } else if (res.status === 416 && start > 0 && opts.expectedSize === start) {
    // The previous attempt had actually received everything.
    await res.body?.cancel();
    return finish(partPath, finalPath, url, start, opts);
  } else {
    await res.body?.cancel();
    throw new EngineError("download", `GET ${url}: HTTP ${res.status}`);
  }
  if (total !== null && opts.expectedSize !== undefined && total !== opts.expectedSize) {
    await res.body?.cancel();
    throw new EngineError("download", `GET ${url}: server reports ${total} bytes, expected ${opts.expectedSize}`);
  }
  if (!res.body) throw new EngineError("download", `GET ${url}: empty body`);

  const fh = await open(partPath, start > 0 ? "a" : "w");
  let received = start;
  try {
    opts.onProgress?.({ url, receivedBytes: received, totalBytes: total, resumedFrom: start });
    const reader = res.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      await fh.write(value);
      received += value.byteLength;
      opts.onProgress?.({ url, receivedBytes: received, totalBytes: total, resumedFrom: start });
    }
  } catch (err) {
    // Keep the .part file: the next call resumes from what reached the disk.
    throw new EngineError("download", `GET ${url} interrupted at ${received} bytes (resumable): ${(err as Error).message}`, { cause: err });
  } finally {
    await fh.close();
  }
  if (total !== null && received !== total) {
    throw new EngineError("download", `GET ${url}: got ${received} of ${total} bytes (resumable)`);
  }
  return finish(partPath, finalPath, url, received, opts);
}

async function finish(partPath: string, finalPath: string, url: string, size: number, opts: ModelFileOptions): Promise<string> {
  const onDisk = await sizeOf(partPath);
  if (onDisk !== size || (opts.expectedSize !== undefined && onDisk !== opts.expectedSize)) {
    await rm(partPath, { force: true });
    throw new EngineError("download", `GET ${url}: size ${onDisk} does not verify (expected ${opts.expectedSize ?? size})`);
  }
  if (opts.sha256 !== undefined) {
    const digest = await sha256File(partPath);
    if (digest !== opts.sha256.toLowerCase()) {
      await rm(partPath, { force: true });
      throw new EngineError("download", `GET ${url}: sha256 ${digest} does not match ${opts.sha256}`);
    }
  }
  await rename(partPath, finalPath);
  return finalPath;
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}
