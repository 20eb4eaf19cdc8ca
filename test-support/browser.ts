// Console end-to-end tests drive Debian's chromium through playwright-core (never a downloaded
// browser). Without /usr/bin/chromium they skip with a reason (COCORE_REQUIRE_ALL=1 fails them).
// Each page visited is checked the same way: no console errors, an axe-core scan without
// violations, a screenshot kept under artifacts/console/.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { requirement } from "./requirements.ts";

export const CHROMIUM = process.env.COCORE_CHROMIUM ?? "/usr/bin/chromium";
export const chromiumSkip = requirement("Chromium", existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`);
export const ARTIFACTS = fileURLToPath(new URL("../artifacts/console/", import.meta.url));

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
}

/** A page that records every console error and uncaught exception of the app. */
export async function watchedPage(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (m) => {
    // The PDS's own pages are not ours to judge; only the console's origin counts.
    if (m.type() === "error" && m.location().url.startsWith("http://127.0.0.1")) errors.push(`${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  return { page, errors };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** axe-core's WCAG A/AA rules over the page as it is now; fails listing each violation. */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  // evaluate is not subject to the page's CSP, which (rightly) refuses inline scripts.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, o: unknown): Promise<{ violations: Array<{ id: string; help: string; nodes: Array<{ target: unknown }> }> }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => `${v.id}: ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target).slice(0, 3))}`);
  });
  assert.deepEqual(violations, [], `accessibility violations on ${what}`);
}

/** Nothing wider than the viewport (a phone at 390 px must not scroll sideways). */
export async function assertFitsWidth(page: Page, what: string): Promise<void> {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(over <= 1, `${what} is ${over}px wider than the ${page.viewportSize()?.width}px viewport`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The checks every console page gets: accessible, fits 390 px, screenshots at both widths. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await assertAccessible(page, name);
  await screenshot(page, name);
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  await assertFitsWidth(page, name);
  await screenshot(page, `${name}-390`);
  if (size) await page.setViewportSize(size);
}

/**
 * The whole OAuth sign-in as a person does it: the handle on the console's page, then the PDS's
 * own sign-in and consent pages (theirs, not ours), back to the console signed in.
 */
export async function signIn(page: Page, consoleUrl: string, account: { handle: string; password: string }): Promise<void> {
  await page.goto(`${consoleUrl}/`);
  await page.getByLabel("Handle").fill(account.handle);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/oauth\/authorize/);
  await page.locator('input[name="password"]').fill(account.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Authorize" }).click();
  await page.waitForURL((u) => u.origin === consoleUrl);
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}
