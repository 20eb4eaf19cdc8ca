// `console` benchmark: how fast Home is in a real browser on the local cooperative. A member signs
// in once (OAuth through the local PDS); then Home is loaded anew N times with the session
// cookie and timed from navigation start to the balance card showing the exchange's number (the
// page's own data request included). Cold = first load after the browser's cache is cleared
// (every asset fetched); warm = with the cache (what a returning member sees).
//
// Figures: homeFirstLoadMsP50 / P95 (cold), homeWarmLoadMsP50, jsGzipBytes (the built app),
// loads (runs per kind).
import { measureDist } from "../packages/console/src/build.ts";
import { startCooperative } from "../packages/cli/src/cooperative.ts";
import { chromiumSkip, launchBrowser, signIn } from "../test-support/browser.ts";

const LOADS = 15;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const round = (n: number) => Math.round(n * 10) / 10;

export interface ConsoleBenchResult {
  homeFirstLoadMsP50: number;
  homeFirstLoadMsP95: number;
  homeWarmLoadMsP50: number;
  jsGzipBytes: number;
  loads: number;
}

export async function benchConsole(): Promise<ConsoleBenchResult> {
  if (chromiumSkip) throw new Error("bench console needs Chromium at /usr/bin/chromium (apt-get install chromium)");
  const coop = await startCooperative({ engine: "stub", console: true, log: () => {} });
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const url = coop.console!.url;
    await signIn(page, url, coop.accounts.requesters[0]!);
    await page.getByTestId("balance").waitFor();
    const cdp = await context.newCDPSession(page);
    const load = async (cold: boolean): Promise<number> => {
      if (cold) await cdp.send("Network.clearBrowserCache");
      await page.goto("about:blank");
      const t0 = Date.now();
      await page.goto(`${url}/`);
      await page.getByTestId("balance").waitFor();
      return Date.now() - t0;
    };
    // One of each first, unmeasured: the server's first answers warm its caches.
    await load(true);
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      cold.push(await load(true));
      warm.push(await load(false));
    }
    return {
      homeFirstLoadMsP50: round(pct(cold, 50)),
      homeFirstLoadMsP95: round(pct(cold, 95)),
      homeWarmLoadMsP50: round(pct(warm, 50)),
      jsGzipBytes: measureDist().jsGzipBytes,
      loads: LOADS,
    };
  } finally {
    await browser.close();
    await coop.close();
  }
}
