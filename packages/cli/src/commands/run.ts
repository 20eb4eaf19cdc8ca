import { ClientError, type CocoreClient } from "@cocore/client";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";
import { requesterClient } from "../requester.ts";

export const command: Command = {
  summary: "run one job: stream the answer, then the receipt's verification and the settlement",
  help: `usage: cocore run "PROMPT" [--model M] [--max-tokens N] [--matchmaker URL] [--exchange URL] [--no-settle] [--json]

Seals the prompt to a provider chosen by the matchmaker, writes the payment authorization and job
records to your PDS, streams the answer, verifies the provider's receipt offline and waits for the
exchange's settlement. Needs \`cocore login\` first.`,
  async run(args) {
    const { values, positionals } = parseFlags(args, {
      model: { type: "string" },
      "max-tokens": { type: "string" },
      matchmaker: { type: "string" },
      exchange: { type: "string" },
      "no-settle": { type: "boolean" },
      json: { type: "boolean" },
    });
    const prompt = positionals.join(" ");
    if (!prompt) throw new CliError('usage: cocore run "PROMPT" [--model M]');
    const maxTokens = values["max-tokens"] === undefined ? 128 : Number(values["max-tokens"]);
    if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > 2_000_000) throw new CliError("--max-tokens must be an integer from 1 to 2000000");
    const { client } = await requesterClient(values);
    const model = values.model ?? (await defaultModel(client));
    const out = values.json ? () => {} : (t: string) => process.stdout.write(t);
    let result;
    try {
      result = await client.run({ messages: [{ role: "user", content: prompt }] }, { model, maxTokens, onChunk: out });
    } catch (err) {
      throw await explain(err, client);
    }
    if (!values.json) process.stdout.write("\n");
    const verdict = await client.verify(result);
    const settlement = values["no-settle"] ? undefined : await client.waitForSettlement(result.receipt.uri, { timeoutMs: 60_000 }).catch((e: unknown) => e as Error);
    if (values.json) {
      printJson({
        text: result.text,
        job: result.job.uri,
        provider: result.provider,
        tokens: result.tokens,
        price: result.price,
        receipt: { uri: result.receipt.uri, ok: verdict.ok, findings: verdict.findings },
        settlement: settlement instanceof Error ? { error: settlement.message } : settlement,
      });
    } else {
      const log = (s: string) => process.stderr.write(`${s}\n`);
      log(`\nreceipt  ${result.receipt.uri}`);
      log(`         ${verdict.ok ? "verified ✓" : `FAILED: ${verdict.findings.map((f) => `${f.code} (${f.message})`).join("; ")}`}`);
      log(`tokens   ${result.tokens.in} in + ${result.tokens.out} out = ${result.price.amount} ${result.price.currency}`);
      if (settlement instanceof Error) log(`settled  not yet: ${settlement.message}`);
      else if (settlement) log(`settled  charged ${settlement.amountCharged}, provider ${settlement.providerPayout}, fee ${settlement.exchangeFee}  (${settlement.uri})`);
    }
    return verdict.ok ? 0 : 1;
  },
};

async function defaultModel(client: CocoreClient): Promise<string> {
  const models = await client.models().catch((err: unknown) => {
    throw err instanceof ClientError ? new CliError(err.message) : err;
  });
  if (models.length === 0) throw new CliError("no provider is serving any model right now; try again when one connects");
  return models[0]!.id;
}

async function explain(err: unknown, client: CocoreClient): Promise<Error> {
  if (!(err instanceof ClientError)) return err instanceof Error ? err : new Error(String(err));
  if (err.code === "below_floor" || err.code === "insufficient_balance") {
    const b = await client.balance().catch(() => undefined);
    const when = b && typeof b.nextRefreshAt === "string" ? ` Your next refresh arrives at ${b.nextRefreshAt} (when you next use the network after then).` : "";
    return new CliError(`${err.code}: ${err.message}${b ? ` Balance ${b.balance}, available ${b.available}.` : ""}${when}`, 1);
  }
  return new CliError(`${err.code}: ${err.message}`, 1);
}
