// Model download from a loopback HTTP server that honours Range: interrupted, then resumed.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cacheFileName, downloadModel, EngineError, resolveModelFile, type DownloadProgress } from "../src/engines/index.ts";

const SIZE = 3 * 1024 * 1024 + 123;
const payload = randomBytes(SIZE);
const sha = createHash("sha256").update(payload).digest("hex");

describe("model download", () => {
  let server: Server;
  let base: string;
  const ranges: (string | undefined)[] = [];
  let cutAt: number | null = null; // drop the connection after this many body bytes
  let ignoreRange = false;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "cocore-dl-"));
    server = createServer((req, res) => {
      ranges.push(req.headers.range);
      if (req.url === "/missing.gguf") {
        res.writeHead(404).end();
        return;
      }
      let start = 0;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      if (m && !ignoreRange) {
        start = Number(m[1]);
        if (start >= SIZE) {
          res.writeHead(416, { "content-range": `bytes */${SIZE}` }).end();
          return;
        }
        res.writeHead(206, { "content-range": `bytes ${start}-${SIZE - 1}/${SIZE}`, "content-length": SIZE - start });
      } else {
        res.writeHead(200, { "content-length": SIZE });
      }
      const body = payload.subarray(start);
      if (cutAt !== null) {
        const n = cutAt;
        cutAt = null;
        // flush part of the body, then kill the socket mid-transfer
        res.write(body.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test("an interrupted download resumes with Range and verifies", async () => {
    const url = `${base}/models/tiny.gguf`;
    const progress: DownloadProgress[] = [];
    ranges.length = 0;
    cutAt = 1024 * 1024;
    await assert.rejects(
      downloadModel(url, { cacheDir: dir, expectedSize: SIZE, onProgress: (p) => progress.push(p) }),
      (e) => e instanceof EngineError && e.code === "download",
    );
    const final = join(dir, cacheFileName(url));
    assert.equal(existsSync(final), false, "no final file after an interrupted download");
    const partial = readFileSync(`${final}.part`);
    assert.ok(partial.length > 0 && partial.length < SIZE, `part file has ${partial.length} bytes`);
    assert.deepEqual(partial, payload.subarray(0, partial.length));

    const first = progress.length;
    const path = await downloadModel(url, { cacheDir: dir, expectedSize: SIZE, sha256: sha, onProgress: (p) => progress.push(p) });
    assert.equal(path, final);
    assert.deepEqual(ranges, [undefined, `bytes=${partial.length}-`]);
    assert.ok(readFileSync(path).equals(payload));
    assert.equal(existsSync(`${final}.part`), false);

    const resumed = progress.slice(first);
    assert.ok(resumed.length >= 2);
    assert.ok(resumed.every((p) => p.resumedFrom === partial.length && p.totalBytes === SIZE && p.url === url));
    assert.equal(resumed[0]!.receivedBytes, partial.length);
    assert.equal(resumed.at(-1)!.receivedBytes, SIZE);
    for (let i = 1; i < progress.length; i++) {
      if (i !== first) assert.ok(progress[i]!.receivedBytes >= progress[i - 1]!.receivedBytes, "progress is monotonic within an attempt");
    }

    // cached: no further request
    const before = ranges.length;
    assert.equal(await resolveModelFile(url, { cacheDir: dir }), final);
    assert.equal(ranges.length, before);
  });

  test("a server that ignores Range restarts from zero", async () => {
    const url = `${base}/models/norange.gguf`;
    cutAt = 500_000;
    await assert.rejects(downloadModel(url, { cacheDir: dir }));
    ignoreRange = true;
    try {
      const path = await downloadModel(url, { cacheDir: dir, expectedSize: SIZE });
      assert.ok(readFileSync(path).equals(payload));
    } finally {
      ignoreRange = false;
    }
  });

  test("size and hash mismatches are refused", async () => {
    await assert.rejects(
      downloadModel(`${base}/models/wrong-size.gguf`, { cacheDir: dir, expectedSize: SIZE + 1 }),
      (e) => e instanceof EngineError && e.code === "download" && /expected/.test(e.message),
    );
    await assert.rejects(
      downloadModel(`${base}/models/wrong-hash.gguf`, { cacheDir: dir, sha256: "0".repeat(64) }),
      (e) => e instanceof EngineError && e.code === "download" && /sha256/.test(e.message),
    );
    assert.equal(existsSync(join(dir, cacheFileName(`${base}/models/wrong-hash.gguf`))), false);
    await assert.rejects(downloadModel(`${base}/missing.gguf`, { cacheDir: dir }), (e) => e instanceof EngineError && /404/.test(e.message));
  });

  test("a local path resolves to itself; a missing one is an error", async () => {
    const url = `${base}/models/tiny.gguf`;
    const local = join(dir, cacheFileName(url));
    assert.equal(await resolveModelFile(local), local);
    await assert.rejects(resolveModelFile(join(dir, "nope.gguf")), (e) => e instanceof EngineError && e.code === "download");
  });
});
