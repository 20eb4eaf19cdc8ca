// `cocore ledger replay EVENTS.jsonl --policy POLICY.json`: the ledger rules over a file of events,
// the same functions the exchange runs in its transactions and the auditor runs over public records.
import { readFileSync } from "node:fs";
import { isSimulationStream, LedgerError, normalizeEvent, parseSimEvent, policyFromRecord, replay, SIM_EVENT_TYPES, type PolicyInput } from "@cocore/protocol";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";

const HELP = `usage: cocore ledger replay EVENTS.jsonl --policy POLICY.json [--json]

Runs events through the exchange's ledger state machine (packages/protocol/src/ledger/README.md)
over memory and prints { "balances", "treasury", "movements", "parked", "rejected",
"settlements", "patronage", "receipts", "admissions", "published" }.

EVENTS.jsonl holds one JSON object per line (blank lines are skipped). Either short forms, in any
order (applied in ledger-time order, exact duplicates dropped):
  {"type":"touch","did","at"}
  {"type":"receipt","uri","requester","provider","tokens":{"in","out"},"price":{"amount","currency"},"proBono"?,"at"}
  {"type":"tick","at"}              distributes every patronage period ended by at
  {"type":"grant","did","amount","at"}   a published tokenGrant read back
  {"type":"refresh","did","amount","at"} a published tokenRefresh read back
or a record stream in delivery order, as \`cocore exchange simulate\` takes it (record, delete,
admit, release, read, tick; see its --help): the same machine the exchange runs, over memory.
POLICY.json is a dev.cocore.compute.exchangePolicy record value, bare or as {uri, cid, value}.

Exit 0 on success; 2 when an input cannot be read or breaks a rule (one line naming it).`;

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new CliError(`cannot read ${what} ${path}: ${code}`);
  }
}

export function loadPolicy(path: string): PolicyInput {
  let json: unknown;
  try {
    json = JSON.parse(readText(path, "policy"));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`policy ${path}: not JSON (${(err as Error).message})`);
  }
  // A record as listed by com.atproto.repo.listRecords arrives wrapped as {uri, cid, value}.
  const wrapped = json !== null && typeof json === "object" && "value" in json && "uri" in json ? (json as { uri?: unknown; cid?: unknown; value: unknown }) : undefined;
  const value = wrapped ? wrapped.value : json;
  try {
    policyFromRecord(value);
    return {
      value: value as Record<string, unknown>,
      ...(typeof wrapped?.uri === "string" ? { uri: wrapped.uri } : {}),
      ...(typeof wrapped?.cid === "string" ? { cid: wrapped.cid } : {}),
    };
  } catch (err) {
    if (err instanceof LedgerError) throw new CliError(`policy ${path}: ${err.message}`);
    throw err;
  }
}

export function loadEvents(path: string, vocabulary: "any" | "simulation" = "any"): unknown[] {
  const events: unknown[] = [];
  readText(path, "events")
    .split("\n")
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === "") return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new CliError(`line ${i + 1}: not valid JSON`);
      }
      try {
        const t = (value as { type?: unknown } | null)?.type;
        if (vocabulary === "simulation" || (typeof t === "string" && SIM_EVENT_TYPES.has(t))) parseSimEvent(value);
        else normalizeEvent(value);
      } catch (err) {
        if (err instanceof LedgerError) throw new CliError(`line ${i + 1}: ${err.message}`);
        throw err;
      }
      events.push(value);
    });
  return events;
}

async function replayCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, { policy: { type: "string" }, json: { type: "boolean" } });
  if (positionals.length !== 1) throw new CliError("ledger replay takes exactly one EVENTS.jsonl file");
  if (!values.policy) throw new CliError("ledger replay needs --policy POLICY.json");
  const policy = loadPolicy(values.policy);
  const events = loadEvents(positionals[0]!);
  if (isSimulationStream(events)) for (const [i, e] of events.entries()) if (!SIM_EVENT_TYPES.has(String((e as { type?: unknown }).type))) throw new CliError(`event ${i + 1}: a simulation stream takes only ${[...SIM_EVENT_TYPES].join(", ")} events`);
  try {
    printJson(await replay(events, policy));
  } catch (err) {
    // Conflicts (same key or uri, different payload) and overflow are input faults too.
    if (err instanceof LedgerError) throw new CliError(`${err.code}: ${err.message}`);
    throw err;
  }
  return 0;
}

export const command: Command = {
  summary: "replay ledger events through the exchange's rules (pure, offline)",
  help: HELP,
  async run(args) {
    const [verb, ...rest] = args;
    if (verb === "replay") return replayCommand(rest);
    throw new CliError(verb ? `unknown ledger command '${verb}' (expected: replay)` : `missing ledger command\n\n${HELP}`);
  },
};
