// The one-ledger differential property (test-support/differential.ts): random record sets, each
// delivered in several orders through the exchange engine on SQLite and PostgreSQL (`exchange
// simulate`), through `ledger replay` (the machine over memory) and through the auditor. Every run
// agrees on balances, statuses and published record bytes; every audit of an honest run is clean;
// every tampering of the published records or the exchange's balances is reported.
import assert from "node:assert/strict";
import { test } from "node:test";
import { differential } from "../../../test-support/differential.ts";
import { freshPgSchema, pgReachable, PG_URL } from "../../../test-support/pg-schemas.ts";
import { requirement } from "../../../test-support/requirements.ts";

const pg = await pgReachable();
const pgSkip = requirement("PostgreSQL", pg, `cannot connect to ${PG_URL}`);

test("200 deliveries of 50 random record sets agree across orders and implementations, audit clean, every tampering reported", { skip: pgSkip }, async () => {
  const r = await differential({ worlds: 50, orders: 4, size: { epochs: 6, receiptsPerEpoch: 5 }, postgres: freshPgSchema, postgresOrders: 1, seed: 11 });
  assert.equal(r.orders, 200);
  assert.deepEqual(
    { implementationDiffs: r.implementationDiffs, auditFalsePositives: r.auditFalsePositives, doubleSettlements: r.doubleSettlements, conservationViolations: r.conservationViolations },
    { implementationDiffs: 0, auditFalsePositives: 0, doubleSettlements: 0, conservationViolations: 0 },
    r.problems.join("\n"),
  );
  assert.ok(r.tamperingsInjected >= 250, `only ${r.tamperingsInjected} tamperings were injected`);
  assert.equal(r.tamperingsDetected, r.tamperingsInjected, r.problems.join("\n"));
});
