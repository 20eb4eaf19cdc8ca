// dev.cocore.exchange.getPatronage: the period in progress as the ledger will see it at its end
// (its scores so far, the pool and each share computed by the ledger's own patronagePool and
// splitPool over the treasury as it is now), and the periods already distributed. A projection,
// so a member's console can say what the rebate would be; the ledger decides the real one.
import { fromJsonRecord, iso, patronagePool, splitPool, Timeline } from "@cocore/protocol";
import type { EngineContext } from "./context.ts";
import { toInt } from "./ints.ts";

const PAST_PERIODS = 24;

export async function patronageSummary(ctx: EngineContext, did: string | undefined, now: number): Promise<Record<string, unknown>> {
  const db = ctx.ldb.db;
  const rows = await db.selectFrom("policies").selectAll().execute();
  const timeline = new Timeline(rows.map((r) => ({ uri: r.uri, cid: r.cid, createdAt: toInt(r.created_at, "created_at"), value: fromJsonRecord(JSON.parse(r.value)) as Record<string, unknown> })));
  const treasury = ctx.policy.ledger.treasury;
  const account = await db.selectFrom("accounts").select("balance").where("did", "=", treasury).executeTakeFirst();
  const treasuryBalance = account ? toInt(account.balance, "balance") : 0;

  let current: Record<string, unknown> | undefined;
  if (timeline.size > 0 && now >= timeline.genesis) {
    let period = timeline.period(0);
    // Periods are days long; walking them from genesis is a handful of steps.
    while (period.end <= now) period = timeline.period(period.index + 1);
    const patronage = period.policy.ledger.patronage;
    if (patronage && Number.isFinite(period.end)) {
      const scoreRows = await db.selectFrom("scores").select(["did", "score"]).where("period_start", "=", period.start).execute();
      const scores = new Map(scoreRows.map((r) => [r.did, toInt(r.score, "score")]));
      const totalScore = [...scores.values()].reduce((t, s) => t + Math.max(0, s), 0);
      const projectedPool = totalScore === 0 ? 0 : patronagePool(treasuryBalance, patronage.fractionBps);
      const mine = did ? splitPool(projectedPool, scores).find((s) => s.did === did) : undefined;
      current = {
        start: iso(period.start),
        end: iso(period.end),
        fractionBps: patronage.fractionBps,
        totalScore,
        members: [...scores.values()].filter((s) => s > 0).length,
        projectedPool,
        ...(did ? { score: scores.get(did) ?? 0, projectedRebate: mine?.credited ?? 0 } : {}),
      };
    }
  }

  const past = await db
    .selectFrom("transfers")
    .select((eb) => ["at", eb.fn.sum<string | number>("amount").as("distributed"), eb.fn.countAll<string | number>().as("recipients")])
    .where("kind", "=", "patronage")
    .groupBy("at")
    .orderBy("at", "desc")
    .limit(PAST_PERIODS)
    .execute();
  const credited = did
    ? new Map((await db.selectFrom("transfers").select(["at", "amount"]).where("kind", "=", "patronage").where("to_did", "=", did).execute()).map((r) => [r.at, toInt(r.amount, "amount")]))
    : undefined;
  return {
    treasury,
    treasuryBalance,
    ...(current ? { current } : {}),
    periods: past.map((p) => ({ end: p.at, distributed: Number(p.distributed), recipients: Number(p.recipients), ...(credited ? { credited: credited.get(p.at) ?? 0 } : {}) })),
  };
}
