import { ClientError } from "@cocore/client";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";
import { requesterClient } from "../requester.ts";

export const command: Command = {
  summary: "balance and recent history at the exchange (yours, or another member's public view)",
  help: `usage: cocore balance [DID|HANDLE] [--exchange URL] [--json]

Reading your own balance counts as activity (it may trigger your weekly refresh).`,
  async run(args) {
    const { values, positionals } = parseFlags(args, { exchange: { type: "string" }, matchmaker: { type: "string" }, json: { type: "boolean" } });
    const { client } = await requesterClient({ exchange: values.exchange, matchmaker: values.matchmaker }, false);
    const who = positionals[0];
    try {
      const did = who ? await client.resolveDid(who) : client.did;
      const [bal, hist] = await Promise.all([client.balance(did), client.history(did, 10).catch(() => ({ movements: [] }))]);
      if (values.json) {
        printJson({ ...bal, history: (hist as { movements?: unknown[] }).movements ?? [] });
        return 0;
      }
      console.log(`${did}\n  balance   ${bal.balance}\n  held      ${String(bal.held ?? 0)}\n  available ${bal.available}`);
      if (typeof bal.nextRefreshAt === "string") console.log(`  next refresh due ${bal.nextRefreshAt}`);
      const moves = ((hist as { movements?: Array<Record<string, unknown>> }).movements ?? []).slice(0, 10);
      if (moves.length > 0) console.log("  recent:");
      for (const m of moves) console.log(`    ${String(m.at)}  ${String(m.kind).padEnd(9)} ${String(m.amount).padStart(9)}  ${m.ref ? String(m.ref) : ""}`);
      return 0;
    } catch (err) {
      if (err instanceof ClientError) throw new CliError(`${err.code}: ${err.message}`);
      throw err;
    }
  },
};
