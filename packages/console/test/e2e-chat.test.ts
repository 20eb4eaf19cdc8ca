// Chat in a real browser against a cooperative with the bundled model: an answer streams, the
// receipt shows verified with every check, the settlement lands, a second turn carries the
// conversation, and Home then shows the balance debited by exactly the settled prices; the Jobs
// page lists both jobs settled.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { checkPage, chromiumSkip, launchBrowser, signIn, watchedPage } from "../../../test-support/browser.ts";
import { RECEIPT_CHECKS } from "../src/checks.ts";

let coop: Cooperative;
let browser: Browser;

before(async () => {
  if (chromiumSkip) return;
  coop = await startCooperative({ console: true });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await coop?.close();
});

const tokens = (s: string) => Number(s.replace(/[^0-9]/g, ""));

test("a chat job streams, verifies, settles, and the balance shows its price debited exactly", { skip: chromiumSkip }, async () => {
  const requester = coop.accounts.requesters[0]!;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await watchedPage(context);
  await signIn(page, coop.console!.url, requester);
  await page.getByTestId("balance").waitFor();
  const before = tokens(await page.getByTestId("balance").innerText());
  assert.equal(before, await coop.exchange.balance(requester.did));

  await page.getByRole("link", { name: "Chat" }).click();
  const model = page.getByLabel("Model");
  await model.locator("option").first().waitFor({ state: "attached" });
  assert.match(await model.locator("option").first().innerText(), new RegExp(`${coop.model} — 1 provider, 1,000,000 in / 1,000,000 out TOK per M tokens`));
  await checkPage(page, "chat-empty");
  // The bundled model's context is 256 tokens: short answers leave room for a second turn.
  await page.getByLabel("Max tokens in the answer").fill("24");

  const charged: number[] = [];
  for (const [i, prompt] of ["Tell me a fortune.", "And another one?"].entries()) {
    await page.getByLabel("Message").fill(prompt);
    await page.getByRole("button", { name: "Send" }).click();
    const receipt = page.getByTestId("receipt").nth(i);
    await receipt.getByText("verified ✓").waitFor({ timeout: 60_000 });
    const checks = receipt.getByRole("list", { name: "Receipt checks" }).getByRole("listitem");
    assert.equal(await checks.count(), RECEIPT_CHECKS.length);
    assert.equal(await receipt.locator(".checks li.fail").count(), 0);
    await receipt.getByTestId("charged").waitFor({ timeout: 60_000 });
    const price = tokens(await receipt.getByTestId("price").innerText());
    const amount = tokens(await receipt.getByTestId("charged").innerText());
    assert.equal(amount, price, "the settlement charges the receipt's price");
    assert.ok(price > 0);
    charged.push(amount);
    assert.ok((await page.getByTestId("answer").nth(i).innerText()).length > 0);
  }
  await checkPage(page, "chat");

  await page.getByRole("link", { name: "Home" }).click();
  await page.getByTestId("balance").waitFor();
  const after = tokens(await page.getByTestId("balance").innerText());
  assert.equal(after, before - charged[0]! - charged[1]!);

  await page.getByRole("link", { name: "Jobs" }).click();
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  const settled = page.getByRole("row").filter({ hasText: "settled" });
  await settled.nth(1).waitFor();
  assert.equal(await settled.count(), 2);
  const prices: number[] = [];
  for (const row of await settled.all()) prices.push(tokens((await row.getByRole("cell").allInnerTexts())[5]!));
  prices.sort();
  assert.deepEqual(prices, [...charged].sort());
  await checkPage(page, "jobs");
  assert.deepEqual(errors, []);
  await context.close();
});
