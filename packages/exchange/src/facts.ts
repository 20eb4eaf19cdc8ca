// Our own published records read back during a rebuild (grants, refreshes, patronage shares):
// applied to the ledger as facts rather than re-derived by the rules.
import { NSID } from "@cocore/protocol";
import type { EngineContext } from "./context.ts";
import { intOf, objOf, str } from "./fields.ts";
import { grantKey, patronageKey, refreshKey, type Movement } from "./ledger.ts";
import { chunks, type UnitOfWork } from "./uow.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/** Grants, refreshes and patronage shares we published, read back (rebuild): applied as facts. */
export async function applyFacts(ctx: EngineContext, u: UnitOfWork, facts: { uri: string; collection: string; value: Record<string, unknown> }[]): Promise<void> {
  const movements: { m: Movement; fact: (typeof facts)[number]; period?: { start: string; end: string } }[] = [];
  for (const f of facts) {
    const recipient = str(f.value, "recipient");
    if (!recipient) continue;
    if (f.collection === NSID.tokenPatronage) {
      const period = objOf(f.value, "period");
      const start = str(period, "start");
      const end = str(period, "end");
      const amount = intOf(f.value, "tokensCredited");
      if (!start || !end || amount === undefined) continue;
      const startMs = Date.parse(start);
      const endMs = Date.parse(end);
      movements.push({
        m: { key: patronageKey(startMs, recipient), kind: "patronage", from: ctx.policy.ledger.treasury, to: recipient, amount, at: iso(endMs) },
        fact: f,
        period: { start: iso(startMs), end: iso(endMs) },
      });
      continue;
    }
    const createdAt = str(f.value, "createdAt");
    const amount = intOf(f.value, "amount");
    if (!createdAt || amount === undefined) continue;
    const atMs = Date.parse(createdAt);
    const kind = f.collection === NSID.tokenGrant ? "grant" : "refresh";
    const key = kind === "grant" ? grantKey(recipient) : refreshKey(recipient, atMs);
    movements.push({ m: { key, kind, from: null, to: recipient, amount, at: iso(atMs) }, fact: f });
  }
  if (movements.length === 0) return;
  const existing = new Set<string>();
  for (const chunk of chunks(movements.map((x) => x.m.key))) {
    for (const r of await u.tx.selectFrom("transfers").select("key").where("key", "in", chunk).execute()) existing.add(r.key);
  }
  await u.loadAccounts([...movements.map((x) => x.m.to), ctx.policy.ledger.treasury]);
  for (const { m, period } of movements) {
    if (existing.has(m.key) || u.transfers.some((t) => t.key === m.key)) continue;
    const a = u.account(m.to);
    const atMs = Date.parse(m.at);
    if (m.kind === "grant") {
      if (a.grant !== null) continue; // granted already by the rules: the same grant
      a.grant = { amount: m.amount, at: atMs };
      a.lastRefreshAt = Math.max(a.lastRefreshAt ?? atMs, atMs);
    } else if (m.kind === "refresh") {
      a.lastRefreshAt = Math.max(a.lastRefreshAt ?? atMs, atMs);
    }
    u.markDirty(m.to);
    u.apply(m, null, m.kind === "patronage");
    if (period) {
      await u.tx
        .insertInto("periods")
        .values({ start: period.start, end: period.end, state: "distributed", pool: null })
        .onConflict((oc) => oc.column("start").doUpdateSet({ state: "distributed" }))
        .execute();
    }
  }
}
