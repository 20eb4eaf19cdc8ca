// Home and Terms: the member's balance as the exchange states it, their history, this period's
// patronage, and the exchange's terms (asked before anything else when not yet accepted).
import { ConsoleError } from "../errors.ts";
import type { Route } from "../context.ts";
import type { HomeData, PatronageNow } from "../../web/types.ts";
import { balanceSeries, historyRows, policySummary, type Movement } from "./ledger-view.ts";

export const homeRoutes: Route[] = [
  {
    method: "GET",
    path: "/api/home",
    async handler(c) {
      const { did } = c.member();
      const client = await c.s.clientFor(did);
      const [balance, history, policy, patronage] = await Promise.all([client.balance(), client.history(did, 100), client.policy(), client.patronage(did)]);
      const movements = (history.movements ?? []) as Movement[];
      const data: HomeData = {
        did,
        balance: balance.balance,
        held: Number(balance.held ?? 0),
        available: balance.available,
        ...(typeof balance.lastRefreshAt === "string" ? { lastRefreshAt: balance.lastRefreshAt } : {}),
        ...(typeof balance.nextRefreshAt === "string" ? { nextRefreshAt: balance.nextRefreshAt } : {}),
        policy: policySummary(policy),
        ...(patronage.current ? { patronage: patronage.current as PatronageNow } : {}),
        treasuryBalance: Number(patronage.treasuryBalance ?? 0),
        series: balanceSeries(did, balance.balance, movements),
        rows: historyRows(did, movements),
      };
      return data;
    },
  },
  {
    method: "GET",
    path: "/api/terms",
    async handler(c) {
      const client = await c.s.clientFor(c.member().did);
      const status = await client.termsStatus();
      return status ? { ...status, policy: status.policy.uri } : { needed: false };
    },
  },
  {
    method: "POST",
    path: "/api/terms/accept",
    async handler(c) {
      const body = await c.body();
      const client = await c.s.clientFor(c.member().did);
      const status = await client.termsStatus();
      if (!status) return { accepted: false, reason: "the exchange states no terms" };
      // The member accepts the version they were shown; a newer one since then is asked anew.
      if (body.termsVersion !== status.termsVersion) throw new ConsoleError(409, "terms_changed", `The terms changed to version ${status.termsVersion}; read them again.`);
      const ref = await client.ensureTerms();
      return { accepted: true, ...(ref ? { record: ref.uri } : {}) };
    },
  },
];
