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

test("the Explorer, signed out, verifies the member's receipts from public records and states the exchange's rules", { skip: chromiumSkip }, async () => {
  const requester = coop.accounts.requesters[0]!;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await watchedPage(context);
  await page.goto(`${coop.console!.url}/explorer`);
  await page.getByLabel("DID, handle, or a job, receipt or settlement URI").fill(requester.handle);
  await page.getByRole("button", { name: "Look up" }).click();
  const rows = page.getByTestId("explorer-row");
  await rows.first().waitFor({ timeout: 60_000 });
  // The two jobs of the chat test, each judged from its records.
  assert.equal(await rows.count(), 2);
  for (const row of await rows.all()) assert.match(await row.innerText(), /verified ✓/);
  await checkPage(page, "explorer-member");

  // By job URI: the job's one receipt.
  const jobHref = await rows.first().getByRole("link", { name: "job" }).getAttribute("href");
  await page.goto(`${coop.console!.url}${jobHref}`);
  await page.getByTestId("explorer-row").first().waitFor({ timeout: 60_000 });
  assert.equal(await page.getByTestId("explorer-row").count(), 1);

  // The receipt itself: every check passed, the exchange settled it at its price.
  await page.getByTestId("explorer-row").getByRole("link", { name: "receipt" }).click();
  const detail = page.getByTestId("explorer-receipt");
  await detail.waitFor({ timeout: 60_000 });
  assert.match(await detail.innerText(), /verified ✓/);
  assert.equal(await detail.getByRole("listitem").filter({ hasText: "—" }).count(), 0);
  assert.equal(await detail.getByRole("list", { name: "Receipt checks" }).getByRole("listitem").count(), RECEIPT_CHECKS.length);
  assert.equal(await detail.getByTestId("exchange-status").innerText(), "settled");
  assert.match(await detail.innerText(), new RegExp(`charged ${(await detail.getByTestId("explorer-price").innerText()).replace(/[^0-9,]/g, "")} TOK`));
  await checkPage(page, "explorer-receipt");

  const facts = page.getByTestId("exchange-facts");
  await facts.waitFor();
  assert.equal(tokens(await facts.getByTestId("treasury").innerText()), await coop.exchange.balance(coop.exchange.did));
  assert.match(await facts.innerText(), /granted 1,000,000 TOK, once/);

  // Not a DID, handle or record URI: a named refusal, shown.
  await page.goto(`${coop.console!.url}/explorer?q=${encodeURIComponent("not a thing!")}`);
  await page.getByRole("alert").waitFor();
  assert.match(await page.getByRole("alert").innerText(), /Search for a DID, a handle/);
  assert.deepEqual(errors.filter((e) => !/400 \(Bad Request\)/.test(e)), []);
  await context.close();
});
