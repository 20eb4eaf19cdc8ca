import { ClientError, type CocoreClient, type JobResult } from "@cocore/client";
import type { Account } from "@cocore/atproto";
import { audit } from "@cocore/auditor";
import { parseFlags, printJson, type Command } from "../command.ts";
import { startCooperative } from "../cooperative.ts";

interface DemoJob {
  uri: string | null;
  requester: string;
  provider: string | null;
  status: string;
  code?: string;
  message?: string;
  verified?: boolean;
  receipt?: { uri: string; tokens: { in: number; out: number }; price: { amount: number; currency: string } };
  settlement?: { uri: string; amountCharged: number; providerPayout: number; exchangeFee: number };
}

export const command: Command = {
  summary: "run an ephemeral cooperative, a few real jobs end to end, settlements and an audit",
  help: `usage: cocore demo [--json] [--stub]

Starts PLC + PDS, an exchange, a matchmaker and one provider agent with the bundled model, then
runs jobs from two requesters (one of them the provider itself: a self-loop) plus one that the
exchange refuses below its floor. Waits for every settlement, checks the exchange's ledger and
prints a summary. Exit 0 only if every job ended as expected and everything verified.
--stub uses the no-model engine (for machines that cannot load the model).`,
  async run(args) {
    const { values } = parseFlags(args, { json: { type: "boolean" }, stub: { type: "boolean" }, verbose: { type: "boolean" } }, false);
    const log = (m: string) => process.stderr.write(`demo: ${m}\n`);
    log("starting an ephemeral cooperative (PLC, PDS, exchange, matchmaker, agent)…");
    const coop = await startCooperative({
      requesters: ["alice", "bob"],
      engine: values.stub ? "stub" : "llama",
      quiet: !values.verbose,
      log: values.verbose ? (l) => process.stderr.write(`${l}\n`) : undefined,
    });
    try {
      const [alice, bob] = coop.accounts.requesters as [Account, Account];
      const provider = coop.accounts.provider;
      const plan: Array<{ who: Account; prompt: string; priceCeiling?: number; expect: "settled" | "refused" }> = [
        { who: alice, prompt: "Tell me a fortune.", expect: "settled" },
        { who: bob, prompt: "What does the future hold?", expect: "settled" },
        { who: provider, prompt: "A fortune for myself.", expect: "settled" },
        // A ceiling that would take alice below the exchange's floor: refused before any work.
        { who: alice, prompt: "Spend it all.", priceCeiling: 990_000, expect: "refused" },
      ];
      const jobs: DemoJob[] = [];
      let allOk = true;
      for (const p of plan) {
        const client = coop.clientFor(p.who);
        const entry = await runOne(client, p.who.did, p.prompt, coop.model, p.priceCeiling);
        log(`${p.who.handle}: ${entry.status}${entry.code ? ` (${entry.code})` : ""}${entry.receipt ? ` ${entry.receipt.price.amount} TOK` : ""}`);
        if (entry.status !== p.expect || (p.expect === "refused" && entry.code !== "below_floor") || entry.verified === false) allOk = false;
        jobs.push(entry);
      }
      const report = await coop.exchange.consistencyCheck();
      const dids = [alice.did, bob.did, provider.did, coop.exchange.did];
      const balances: Record<string, number> = {};
      for (const did of dids) balances[did] = await coop.exchange.balance(did);
      // The auditor reads only public records (plus the exchange's public balances and, since the
      // exchange does not publish it yet, its settlement key), so everything it reports is what
      // anyone could check.
      await coop.exchange.waitForPublished();
      log("auditing the exchange from its public records…");
      const audited = await audit({
        exchangeDid: coop.exchange.did,
        idResolver: coop.network.idResolver,
        pdsUrls: [coop.network.pdsUrl],
        exchangeUrl: coop.exchange.url,
      });
      const ok = allOk && report.ok && audited.ok;
      const summary = {
        ok,
        exchange: coop.exchange.did,
        treasury: ((coop.exchange.policy.value as { treasuryDid?: string }).treasuryDid as string | undefined) ?? coop.exchange.did,
        matchmaker: coop.matchmaker.did,
        model: coop.model,
        jobs: jobs.map(({ verified: _v, message: _m, ...j }) => j),
        balances,
        audit: { ok: audited.ok, discrepancies: audited.discrepancies, stats: audited.stats, balances: audited.balances },
        consistency: { ok: report.ok, problems: report.problems },
      };
      if (values.json) printJson(summary);
      else {
        console.log(`cocore demo: ${ok ? "everything verified ✓" : "FAILED"}`);
        for (const j of jobs) console.log(`  ${j.status.padEnd(8)} ${j.requester}${j.code ? `  ${j.code}: ${j.message}` : `  ${j.receipt?.price.amount} TOK, fee ${j.settlement?.exchangeFee}`}`);
        console.log(`  ledger consistency: ${report.ok ? "ok" : report.problems.join("; ")}`);
        console.log(`  audit: ${audited.ok ? `no discrepancies (${audited.stats.receipts} receipts re-verified)` : audited.discrepancies.map((d) => `${d.code} ${d.subject}`).join("; ")}`);
      }
      return ok ? 0 : 1;
    } finally {
      await coop.close();
    }
  },
};

async function runOne(client: CocoreClient, requester: string, prompt: string, model: string, priceCeiling?: number): Promise<DemoJob> {
  let result: JobResult;
  try {
    result = await client.run(prompt, { model, maxTokens: 32, priceCeiling });
  } catch (err) {
    if (err instanceof ClientError) {
      return { uri: typeof err.details.job === "string" ? err.details.job : null, requester, provider: null, status: "refused", code: err.code, message: err.message };
    }
    throw err;
  }
  const verdict = await client.verify(result);
  const entry: DemoJob = {
    uri: result.job.uri,
    requester,
    provider: result.provider,
    status: "completed",
    verified: verdict.ok && result.outputMatches,
    receipt: { uri: result.receipt.uri, tokens: result.tokens, price: result.price },
  };
  if (!verdict.ok) {
    entry.status = "unverified";
    entry.code = verdict.findings.map((f) => f.code).join(",");
    return entry;
  }
  try {
    const s = await client.waitForSettlement(result.receipt.uri, { timeoutMs: 60_000 });
    entry.status = "settled";
    entry.settlement = { uri: s.uri, amountCharged: s.amountCharged, providerPayout: s.providerPayout, exchangeFee: s.exchangeFee };
  } catch (err) {
    entry.status = "unsettled";
    entry.code = err instanceof ClientError ? err.code : "settlement_timeout";
  }
  return entry;
}
