// The newcomer's path, as the README gives it: `./cocore up` (a real subprocess, embedded defaults,
// the bundled model), open the console URL it prints, sign in as a seeded account on the PDS's own
// page, and chat: the answer streams and its receipt verifies. Ctrl-C then stops everything cleanly.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { chromiumSkip, launchBrowser, signIn, watchedPage } from "../../../test-support/browser.ts";

const bin = fileURLToPath(new URL("../../cli/bin/cocore.mjs", import.meta.url));

interface UpJson {
  endpoints: Record<string, string>;
  accounts: Array<{ handle: string; did: string; password: string }>;
}

let child: ChildProcess;
let exit: Promise<{ code: number | null; stderr: string }>;
let up: UpJson;
let dir: string;
let browser: Browser;

before(async () => {
  if (chromiumSkip) return;
  dir = await mkdtemp(join(tmpdir(), "cocore-up-"));
  const ports = ["--plc-port", "--pds-port", "--exchange-port", "--matchmaker-port", "--api-port", "--console-port"].flatMap((f) => [f, "0"]);
  child = spawn(process.execPath, [bin, "up", "--json", ...ports], {
    stdio: ["ignore", "pipe", "pipe"],
    // The key files `up` shares with `cocore apikey` go to a scratch config dir, not the user's.
    env: { ...process.env, XDG_CONFIG_HOME: dir, COCORE_API_KEYS_FILE: join(dir, "keys.json") },
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  exit = new Promise((r) => child.on("exit", (code) => r({ code, stderr })));
  up = await new Promise<UpJson>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      try {
        resolve(JSON.parse(out) as UpJson);
      } catch {
        // not the whole document yet
      }
    });
    void exit.then((e) => reject(new Error(`cocore up exited ${e.code} before printing its endpoints:\n${e.stderr}`)));
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  if (child && child.exitCode === null) child.kill("SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("cocore up, then the printed console URL: sign in as requester.test and chat, receipt verified; Ctrl-C stops it cleanly", { skip: chromiumSkip }, async () => {
  const consoleUrl = up.endpoints.console;
  assert.ok(consoleUrl, `up printed no console endpoint: ${JSON.stringify(up.endpoints)}`);
  const requester = up.accounts.find((a) => a.handle === "requester.test");
  assert.ok(requester, "up seeds requester.test");
  const context = await browser.newContext();
  const { page, errors } = await watchedPage(context);
  await signIn(page, consoleUrl, requester);
  await page.getByRole("link", { name: "Chat" }).click();
  await page.getByLabel("Model").locator("option").first().waitFor({ state: "attached" });
  await page.getByLabel("Max tokens in the answer").fill("24");
  await page.getByLabel("Message").fill("Tell me a fortune.");
  await page.getByRole("button", { name: "Send" }).click();
  const receipt = page.getByTestId("receipt");
  await receipt.getByText("verified ✓").waitFor({ timeout: 90_000 });
  assert.ok((await page.getByTestId("answer").innerText()).length > 0);
  assert.deepEqual(errors, []);
  await context.close();

  child.kill("SIGINT");
  const e = await exit;
  assert.equal(e.code, 0, `up did not stop cleanly:\n${e.stderr.slice(-2000)}`);
});
