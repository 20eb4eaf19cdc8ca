// The console's server without a cooperative behind it: the built app with its security headers,
// the session a visitor gets, and the refusals of bad or cross-site requests.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startConsole, type RunningConsole } from "../src/index.ts";
import { measureDist, JS_GZIP_BUDGET } from "../src/build.ts";

let c: RunningConsole;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "console-test-"));
  // Nothing behind these URLs: the requests below never reach them.
  c = await startConsole({ exchangeUrl: "http://127.0.0.1:9", matchmakerUrl: "http://127.0.0.1:9", plcUrl: "http://127.0.0.1:9", stateDir: dir, log: () => {} });
});
after(async () => {
  await c.close();
  await rm(dir, { recursive: true, force: true });
});

test("serves the app from 127.0.0.1 with a self-only content security policy", async () => {
  assert.match(c.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  for (const path of ["/", "/chat", "/devices/new?code=ABCD-EFGH"]) {
    const res = await fetch(`${c.url}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const html = await res.text();
    assert.match(html, /<div id="root">/);
    // Everything the page loads comes from the console itself.
    for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.ok(m[1]!.startsWith("/") || m[1]!.startsWith("data:"), m[1]);
  }
  const js = /src="(\/assets\/[^"]+\.js)"/.exec(await (await fetch(c.url)).text())![1]!;
  const asset = await fetch(`${c.url}${js}`);
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get("cache-control") ?? "", /immutable/);
  assert.equal((await fetch(`${c.url}/assets/..%2f..%2fpackage.json`)).status, 404);
  assert.equal((await fetch(`${c.url}/assets/nothing.js`)).status, 404);
});

test("the built JS stays under the gzip budget", () => {
  const r = measureDist();
  assert.ok(r.files.length > 0, "dist/ has no JS: run ./cocore console build");
  assert.ok(r.jsGzipBytes < JS_GZIP_BUDGET, `${r.jsGzipBytes} bytes gzipped`);
});

test("a visitor has no session; member-only calls answer not_signed_in", async () => {
  assert.deepEqual(await (await fetch(`${c.url}/api/session`)).json(), { signedIn: false });
  const res = await fetch(`${c.url}/api/logout`, { method: "POST", headers: { "content-type": "application/json", origin: c.url }, body: "{}" });
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, "not_signed_in");
});

test("sign-in refuses what is not a handle, and cross-site or non-JSON posts", async () => {
  const post = (body: string, headers: Record<string, string>) => fetch(`${c.url}/api/login`, { method: "POST", headers, body });
  const code = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;
  assert.equal(await code(await post(JSON.stringify({ handle: "not a handle!" }), { "content-type": "application/json", origin: c.url })), "invalid_handle");
  assert.equal(await code(await post(JSON.stringify({ handle: "alice.test" }), { "content-type": "application/json", origin: "http://evil.example" })), "cross_origin");
  assert.equal(await code(await post("handle=alice.test", { "content-type": "application/x-www-form-urlencoded", origin: c.url })), "unsupported_media_type");
  assert.equal(await code(await post("{", { "content-type": "application/json", origin: c.url })), "invalid_json");
  const unknown = await fetch(`${c.url}/api/nothing`);
  assert.equal(unknown.status, 404);
  assert.equal(await code(unknown), "not_found");
});
