// Terms before anything else, then Home: the balance, holds and patronage as the exchange states
// them, and a job's row in the history once it has settled.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { listRecords } from "@cocore/atproto";
import { NSID } from "@cocore/protocol";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { checkPage, chromiumSkip, launchBrowser, signIn, watchedPage } from "../../../test-support/browser.ts";

let coop: Cooperative;
let browser: Browser;

before(async () => {
  if (chromiumSkip) return;
  coop = await startCooperative({ console: true, policy: { termsVersion: "2026-12", termsUri: "https://cocore.example/terms/2026-12" } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await coop?.close();
});

test("the terms are asked first and accepted into the member's repo; Home shows the exchange's numbers", { skip: chromiumSkip }, async () => {
  const requester = coop.accounts.requesters[0]!;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await watchedPage(context);
  await signIn(page, coop.console!.url, requester);

  await page.getByRole("heading", { name: "The exchange's terms" }).waitFor();
  await checkPage(page, "terms");
  await page.getByRole("button", { name: "I accept these terms" }).click();
  await page.getByRole("heading", { name: "Home" }).waitFor();
  const accepted = await listRecords(coop.network.pdsUrl, requester.did, NSID.termsAcceptance);
  assert.equal(accepted.length, 1);
  assert.equal(accepted[0]!.value.termsVersion, "2026-12");
  assert.equal((accepted[0]!.value.policy as { uri: string }).uri, coop.exchange.policy.uri);

  // A job settles (run here with the SDK; the Chat page's own test covers the console's path).
  const client = coop.clientFor(requester);
  const result = await client.run("Tell me a fortune.", { model: coop.model, maxTokens: 16 });
  const settlement = await client.waitForSettlement(result.receipt.uri);
  assert.ok(settlement.amountCharged > 0);
  const balance = await coop.exchange.balance(requester.did);

  await page.reload();
  await page.getByTestId("balance").waitFor();
  assert.equal(await page.getByTestId("balance").innerText(), `${balance.toLocaleString("en-US")} TOK`);
  assert.equal(await page.getByTestId("available").innerText(), `${balance.toLocaleString("en-US")} TOK`);
  const patronage = (await client.patronage(requester.did)).current as { score: number };
  assert.equal(await page.getByTestId("patronage").innerText(), `${patronage.score.toLocaleString("en-US")} TOK`);
  assert.equal(patronage.score, settlement.amountCharged);
  const row = page.getByRole("row").filter({ hasText: "Job" });
  await row.first().waitFor();
  const cells = await row.first().getByRole("cell").allInnerTexts();
  assert.equal(cells[2], settlement.amountCharged.toLocaleString("en-US"));
  assert.equal(cells[4], settlement.exchangeFee.toLocaleString("en-US"));
  assert.equal(await row.first().getByRole("link", { name: "settlement" }).getAttribute("href"), `/explorer?q=${encodeURIComponent(settlement.uri)}`);
  await page.getByRole("row").filter({ hasText: "Welcome grant" }).waitFor();
  await page.getByRole("img", { name: /Balance from/ }).waitFor();
  await checkPage(page, "home");
  assert.deepEqual(errors, []);
  await context.close();
});
