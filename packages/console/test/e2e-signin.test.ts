// The full OAuth sign-in in a real browser against a real cooperative (PLC + PDS + exchange +
// matchmaker + agent): a handle typed on the console, the PDS's own sign-in and consent pages,
// back signed in; the session survives a restart of the console; sign-out revokes it at the PDS.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { checkPage, chromiumSkip, launchBrowser, signIn, watchedPage } from "../../../test-support/browser.ts";
import { startConsole } from "../src/index.ts";

let coop: Cooperative;
let browser: Browser;

before(async () => {
  if (chromiumSkip) return;
  coop = await startCooperative({ engine: "stub", console: true });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await coop?.close();
});

test("sign in with a handle, survive a console restart, sign out", { skip: chromiumSkip }, async () => {
  const requester = coop.accounts.requesters[0]!;
  let url = coop.console!.url;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await watchedPage(context);

  await page.goto(url);
  await page.getByLabel("Handle").waitFor();
  await checkPage(page, "signin");
  assert.equal(await page.locator('input[type="password"]').count(), 0, "the console never asks for a password");

  await signIn(page, url, requester);
  await page.getByTestId("balance").waitFor();
  assert.equal(((await (await context.request.get(`${url}/api/session`)).json()) as { did: string }).did, requester.did);

  // A new console process on the same state and port: the browser is still signed in, and the
  // stored OAuth session (DPoP key, tokens) still acts at the PDS.
  const port = Number(new URL(url).port);
  await coop.console!.close();
  const again = await startConsole({
    exchangeUrl: coop.exchange.url, exchangeDid: coop.exchange.did, matchmakerUrl: coop.matchmaker.url, plcUrl: coop.network.plcUrl,
    handleResolver: coop.network.pdsUrl, keys: coop.keys, stateDir: `${coop.stateDir}/console`, port, log: () => {},
  });
  try {
    url = again.url;
    await page.reload();
    await page.getByTestId("balance").waitFor();
    const agent = await again.services.agentFor(requester.did);
    const res = await agent.com.atproto.repo.describeRepo({ repo: requester.did });
    assert.equal(res.data.did, requester.did);

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Handle").waitFor();
    assert.deepEqual(await (await context.request.get(`${url}/api/session`)).json(), { signedIn: false });
    // Revoked at the PDS and gone from the console's store: nothing can act as the member now.
    await assert.rejects(again.services.oauth.restore(requester.did));
    assert.equal((again.services.db.prepare("SELECT count(*) AS n FROM oauth_session").get() as { n: number }).n, 0);
  } finally {
    await again.close();
  }
  assert.deepEqual(errors, []);
  await context.close();
});
