// `reliability` benchmark: the one-ledger differential check (test-support/differential.ts) at full
// size. Random record sets (requesters and providers whose balances run short, receipts before
// their jobs, duplicates, replayed older versions, late and future-dated receipts, edits and
// deletes after settlement, forgeries, nonce and job reuse, session budgets, admissions, releases,
// balance reads, a fee change with a key rotation, patronage periods closing), each delivered in
// several orders through the exchange engine on SQLite and PostgreSQL, through `ledger replay` and
// through the auditor; then tamperings of each honest outcome, each of which must be reported.
import { differential } from "../test-support/differential.ts";
import { freshPgSchema, pgReachable } from "../test-support/pg-schemas.ts";

export interface ReliabilityOptions {
  worlds?: number;
  orders?: number;
  postgresOrders?: number;
}

export async function benchReliability(opts: ReliabilityOptions = {}) {
  const pg = await pgReachable();
  const started = performance.now();
  const r = await differential({
    worlds: opts.worlds ?? 100,
    orders: opts.orders ?? 6,
    size: { epochs: 12, receiptsPerEpoch: 8, requesters: 4, providers: 3 },
    ...(pg ? { postgres: freshPgSchema, postgresOrders: opts.postgresOrders ?? 2 } : {}),
    seed: 101,
    log: (line) => process.stderr.write(`reliability: ${line}\n`),
  });
  return {
    figures: {
      eventStreams: r.orders,
      orders: opts.orders ?? 6,
      worlds: r.worlds,
      implementationDiffs: r.implementationDiffs,
      auditFalsePositives: r.auditFalsePositives,
      tamperingsInjected: r.tamperingsInjected,
      tamperingsDetected: r.tamperingsDetected,
      doubleSettlements: r.doubleSettlements,
      conservationViolations: r.conservationViolations,
      postgresIncluded: pg,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    },
    problems: r.problems,
  };
}
