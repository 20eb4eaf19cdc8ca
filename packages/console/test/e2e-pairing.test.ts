// Pairing a machine in a real browser: `cocore agent pair` prints a link; the owner opens it
// (signing in first, and landing back on it), sees the code and the machine's name and key, and
// approves; the machine then serves with no password (writes through the console's proxy), shows
// on the Machines page as paired, and Revoke there stops its writes. A denied code pairs nothing.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { loadDeviceCredential, loadOrCreateState, startAgent, type RunningAgent } from "@cocore/agent";
import { runAgentPair } from "../../cli/src/agent-pair.ts";
import { startCooperative, waitUntil, type Cooperative } from "../../cli/src/cooperative.ts";
import { checkPage, chromiumSkip, launchBrowser, watchedPage } from "../../../test-support/browser.ts";

let coop: Cooperative;
let browser: Browser;
let dir: string;

before(async () => {
  if (chromiumSkip) return;
  dir = await mkdtemp(join(tmpdir(), "e2e-pairing-"));
  coop = await startCooperative({ console: true, engine: "stub" });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await coop?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `cocore agent pair` in-process: the approve link it printed, and the run. */
function pair(stateDir: string, label: string) {
  let text = "";
  let seen: (url: string) => void;
  const url = new Promise<string>((r) => (seen = r));
  const run = runAgentPair(["--console", coop.console!.url, "--state-dir", stateDir, "--label", label], {
    tty: false,
    err: (t) => {
      text += t;
      const m = /open {2}(\S+)/.exec(text);
      if (m) seen(m[1]!);
    },
  });
  run.catch(() => {});
  return { url, run };
}

/** The sign-in a person does from a pairing link: the console's page, then the PDS's own pages. */
async function signInFrom(page: Page, link: string): Promise<void> {
  await page.goto(link);
  await page.getByLabel("Handle").fill(coop.accounts.provider.handle);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/oauth\/authorize/);
  await page.locator('input[name="password"]').fill(coop.accounts.provider.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Authorize" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

test("a machine paired with a code and then serving; revoked from the Machines page", { skip: chromiumSkip }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await watchedPage(context);
  const pairing = pair(dir, "e2e box");
  const link = await pairing.url;
  const code = new URL(link).searchParams.get("code")!;
  await signInFrom(page, link);
  // Back on the pairing link after the PDS's sign-in, not on the home page.
  await page.waitForURL((u) => u.pathname === "/devices/new" && u.searchParams.get("code") === code);
  const card = page.getByTestId("pairing");
  await card.getByRole("heading", { name: "e2e box" }).waitFor();
  assert.equal(await card.getByTestId("pairing-code").innerText(), code);
  assert.equal(await card.getByTestId("pairing-status").innerText(), "pending");
  const key = loadOrCreateState(dir).signingKey.publicKey;
  assert.equal(await card.locator(`code[title="${key}"]`).count(), 1, "the machine's key as it sent it");
  await checkPage(page, "devices-new");

  await page.getByRole("button", { name: "Approve e2e box" }).click();
  await page.getByRole("status").getByText(/Approved/).waitFor();
  assert.equal(await pairing.run, 0);
  const cred = loadDeviceCredential(dir)!;
  assert.equal(cred.owner, coop.accounts.provider.did);
  await checkPage(page, "devices-new-approved");

  // Serving with no password: every write goes through the console's proxy.
  const agent: RunningAgent = await startAgent({ paired: true, stateDir: dir, engine: "stub", matchmaker: coop.matchmaker.url, exchange: coop.exchange.did, plc: coop.network.plcUrl, pollMs: 200, log: () => {} });
  try {
    await waitUntil(() => coop.matchmaker.registry.live(Date.now()).some((m) => m.machineId === agent.rkey) && agent.provider.current?.value.provisioning === false, 30_000, "the paired agent to serve");
    await page.getByRole("status").getByRole("link", { name: "Machines" }).click();
    const machine = page.getByTestId(`machine-${agent.rkey}`);
    await machine.getByRole("heading", { name: /e2e box/ }).waitFor();
    assert.equal(await machine.getByTestId("state").innerText(), "serving");
    await machine.getByText(/Paired through the console/).waitFor();
    await checkPage(page, "machines-paired");

    await machine.getByRole("button", { name: "Revoke pairing" }).click();
    await page.getByRole("status").getByText(/Pairing revoked/).waitFor();
    await assert.rejects(agent.syncWithRecord(), /device_revoked|revoked/);
    // No longer listed as paired (the card stays: the record is the owner's to delete).
    await machine.getByText(/Paired through the console/).waitFor({ state: "detached" });
  } finally {
    await agent.stop();
  }

  // A code the owner denies pairs nothing; reached through the page's code form.
  const other = await mkdtemp(join(tmpdir(), "e2e-pairing-deny-"));
  try {
    const denied = pair(other, "stranger box");
    const code2 = new URL(await denied.url).searchParams.get("code")!;
    await page.goto(`${coop.console!.url}/devices/new`);
    await page.getByLabel("Pairing code").fill(code2.toLowerCase());
    await checkPage(page, "devices-new-enter");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByTestId("pairing").getByRole("heading", { name: "stranger box" }).waitFor();
    await page.getByRole("button", { name: "Deny" }).click();
    await page.getByRole("status").getByText(/Denied/).waitFor();
    await assert.rejects(denied.run, /pairing_denied/);
    assert.equal(loadDeviceCredential(other), undefined);
  } finally {
    await rm(other, { recursive: true, force: true });
  }
  assert.deepEqual(errors, []);
  await context.close();
});
