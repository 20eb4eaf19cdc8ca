// An API key created on the console's page answers an `openai` client request through the
// gateway (same key store), shows its last use, and stops working once revoked there.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import type { Browser } from "playwright-core";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { checkPage, chromiumSkip, launchBrowser, signIn, watchedPage } from "../../../test-support/browser.ts";

let coop: Cooperative;
let browser: Browser;

before(async () => {
  if (chromiumSkip) return;
  coop = await startCooperative({ engine: "stub", console: true, gateway: true });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await coop?.close();
});

test("a key made in the page answers an openai client request, then is revoked", { skip: chromiumSkip }, async () => {
  const requester = coop.accounts.requesters[0]!;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await watchedPage(context);
  await signIn(page, coop.console!.url, requester);
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByLabel("Name").fill("e2e laptop");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-key").innerText()).trim();
  assert.match(key, /^ck-/);
  const baseURL = `${coop.gateway!.url}/v1`;
  assert.match(await page.getByTestId("example").innerText(), new RegExp(`baseURL: "${baseURL}", apiKey: "${key}"`));
  await checkPage(page, "keys");

  const client = new OpenAI({ baseURL, apiKey: key });
  const answer = await client.chat.completions.create({ model: coop.model, max_tokens: 16, messages: [{ role: "user", content: "Tell me a fortune." }] });
  assert.equal(typeof answer.choices[0]!.message.content, "string");
  assert.ok(answer.usage!.total_tokens >= 0);

  await page.reload();
  const row = page.getByRole("row").filter({ hasText: "e2e laptop" });
  await row.waitFor();
  assert.notEqual(await row.getByTestId("last-used").innerText(), "never");
  await row.getByRole("button", { name: "Revoke e2e laptop" }).click();
  await row.waitFor({ state: "detached" });
  await assert.rejects(client.chat.completions.create({ model: coop.model, max_tokens: 4, messages: [{ role: "user", content: "hi" }] }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 401);
  assert.deepEqual(errors, []);
  await context.close();
});
