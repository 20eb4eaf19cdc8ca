// A job the exchange refuses to admit (the balance would fall below the floor) shows its reason in
// Chat and stays on the Jobs page as refused, with the matchmaker's code.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { chromiumSkip, launchBrowser, signIn, watchedPage } from "../../../test-support/browser.ts";

let coop: Cooperative;
let browser: Browser;

before(async () => {
  if (chromiumSkip) return;
  // A floor above the welcome grant: no job can be admitted.
  coop = await startCooperative({ engine: "stub", console: true, policy: { tokenFloor: 2_000_000 } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await coop?.close();
});

test("a refused job shows its reason in Chat and on the Jobs page", { skip: chromiumSkip }, async () => {
  const requester = coop.accounts.requesters[0]!;
  const context = await browser.newContext();
  const { page, errors } = await watchedPage(context);
  await signIn(page, coop.console!.url, requester);
  await page.getByRole("link", { name: "Chat" }).click();
  await page.getByLabel("Model").locator("option").first().waitFor({ state: "attached" });
  await page.getByLabel("Message").fill("Tell me a fortune.");
  await page.getByRole("button", { name: "Send" }).click();
  const refusal = page.getByTestId("refusal");
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /below_floor/);

  await page.getByRole("link", { name: "Jobs" }).click();
  const row = page.getByRole("row").filter({ hasText: "refused" });
  await row.waitFor();
  assert.match(await row.innerText(), /below_floor/);
  assert.deepEqual(errors, []);
  await context.close();
});
