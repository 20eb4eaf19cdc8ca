// Machines in a real browser, signed in as the provider's owner: the machine's state and models;
// pause reaches the agent (it leaves the matchmaker) and resume brings it back; a desiredModels
// change reaches the agent (here a model it cannot load, which shows as a fault with its remedy).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { getRecord } from "@cocore/atproto";
import { PROVIDER_COLLECTION } from "@cocore/agent";
import { startCooperative, waitUntil, type Cooperative } from "../../cli/src/cooperative.ts";
import { checkPage, chromiumSkip, launchBrowser, signIn, watchedPage } from "../../../test-support/browser.ts";

let coop: Cooperative;
let browser: Browser;

before(async () => {
  if (chromiumSkip) return;
  coop = await startCooperative({ console: true, agentPollMs: 200 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await coop?.close();
});

const live = () => coop.matchmaker.registry.live(Date.now()).some((m) => m.provider === coop.agent.did);

async function machineCard(page: Page) {
  await page.getByRole("link", { name: "Machines" }).click();
  const card = page.getByTestId(`machine-${coop.agent.rkey}`);
  await card.waitFor();
  return card;
}

test("pause, resume and desiredModels from the Machines page reach the agent", { skip: chromiumSkip }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await watchedPage(context);
  await signIn(page, coop.console!.url, coop.accounts.provider);
  let card = await machineCard(page);
  assert.equal(await card.getByTestId("state").innerText(), "serving");
  assert.equal(await card.getByTestId("loaded").innerText(), coop.model);
  await checkPage(page, "machines");

  await card.getByRole("button", { name: "Pause" }).click();
  await page.getByRole("status").waitFor();
  await waitUntil(() => coop.agent.paused && !live(), 15_000, "the agent to pause");
  await page.reload();
  card = page.getByTestId(`machine-${coop.agent.rkey}`);
  await card.getByText("paused", { exact: true }).waitFor();
  await card.getByRole("button", { name: "Resume" }).click();
  await waitUntil(() => !coop.agent.paused && live(), 15_000, "the agent to resume");

  await page.getByLabel(/Desired models/).fill("no-such-model");
  await page.getByRole("button", { name: "Save models" }).click();
  await waitUntil(() => coop.agent.supportedModels.join() === "stub", 30_000, "the agent to reconcile desiredModels");
  // The page shows the provider record as published: wait for the agent to publish its fault
  // (it does so just after falling back; under load the reload could otherwise come first).
  const faultPublished = async () => {
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
      const v = (await getRecord(coop.network.pdsUrl, coop.agent.did, PROVIDER_COLLECTION, coop.agent.rkey))?.value;
      if ((v?.engineFault as { code?: string } | undefined)?.code === "model-load-failed") return;
    }
    throw new Error("timed out after 30 s waiting for the provider record's engineFault");
  };
  await faultPublished();
  await page.reload();
  card = page.getByTestId(`machine-${coop.agent.rkey}`);
  const fault = card.getByRole("alert");
  await fault.waitFor();
  assert.match(await fault.innerText(), /model-load-failed/);
  assert.match(await fault.innerText(), /What to do: .*--models-dir/);
  await checkPage(page, "machines-fault");

  // Pro bono and tool calls are owner fields the agent keeps on every re-publish.
  await card.getByRole("button", { name: "Serve pro bono" }).click();
  await card.getByRole("button", { name: "Stop serving pro bono" }).waitFor();
  await card.getByRole("button", { name: "Turn tool calls off" }).click();
  await card.getByRole("button", { name: "Turn tool calls on" }).waitFor();
  const rec = (await getRecord(coop.network.pdsUrl, coop.agent.did, PROVIDER_COLLECTION, coop.agent.rkey))!.value;
  assert.deepEqual([rec.proBono, rec.toolCallsDisabled], [{ mode: "any", dids: [] }, true]);

  await page.getByLabel(/Desired models/).fill(coop.model);
  await page.getByRole("button", { name: "Save models" }).click();
  await waitUntil(() => coop.agent.supportedModels.join() === coop.model, 30_000, "the agent to load the model again");
  assert.deepEqual(errors, []);
  await context.close();
});
