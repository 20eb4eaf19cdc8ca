import { join } from "node:path";
import { homedir } from "node:os";
import { defaultCheckWorkers, describeDbUrl, MissingKeyError, startExchange } from "@cocore/exchange";
import { parseSimEvent } from "@cocore/protocol";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";
import { simulate } from "../simulate.ts";
import { loadEvents, loadPolicy } from "./ledger.ts";

const SIMULATE_HELP = `usage: cocore exchange simulate EVENTS.jsonl --policy POLICY.json [--db URL] [--json]

Runs the real exchange engine offline over a record set, on a fresh in-memory SQLite database
(or --db sqlite:PATH / postgres://…, which must be empty), as the exchange policy.exchange with a
key generated for the run, and audits the outcome. One event a line, in delivery order:
  {"type":"record","uri":"at://DID/NSID/RKEY","value":{…}}   a create or update (atproto JSON)
  {"type":"delete","uri":…}
  {"type":"admit","job":"at://…","at":ISO}    the matchmaker asks to admit that job
  {"type":"release","job":…,"at":ISO}         the matchmaker gives its hold back
  {"type":"read","did":DID,"at":ISO}          the member reads its own balance
  {"type":"tick","at":ISO}                    the scheduler runs
The exchange clock is the latest at seen (the policy's createdAt before any); every clock event
moves the ledger's watermark to it. Records between two clock events are one delivery batch.
Prints { "balances", "treasury", "receipts": [{uri,status,codes}], "admissions": [{job,ok,code?}],
"published": [{uri,value}], "audit": {ok, discrepancies, warnings} }.
Exit 0 when it ran, whatever the audit says; 2 on unreadable input (one line naming the event line).`;

async function simulateCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(SIMULATE_HELP);
    return 0;
  }
  const { values, positionals } = parseFlags(args, { policy: { type: "string" }, db: { type: "string" }, json: { type: "boolean" } });
  if (positionals.length !== 1) throw new CliError("exchange simulate takes exactly one EVENTS.jsonl file (see --help)");
  if (!values.policy) throw new CliError("exchange simulate needs --policy POLICY.json");
  if (values.db !== undefined && !values.db.startsWith("sqlite:") && !/^postgres(ql)?:\/\//.test(values.db)) throw new CliError("--db must be sqlite:PATH or postgres://…");
  const policy = loadPolicy(values.policy);
  const events = loadEvents(positionals[0]!, "simulation").map((e) => parseSimEvent(e));
  printJson(await simulate(events, policy.value, values.db ? { db: values.db } : {}));
  return 0;
}

export const command: Command = {
  summary: "run an exchange (`cocore exchange serve`), or its engine offline over records (`simulate`)",
  help: `usage: cocore exchange serve --pds URL --plc URL --handle H [--password PW] [--db sqlite:PATH|postgres://…]
                             [--firehose URL]... [--port N] [--host H] [--matchmaker DID]... [--state-dir DIR]
                             [--verify-workers N] [--grace-ms N] [--new-key]
       cocore exchange simulate EVENTS.jsonl --policy POLICY.json [--db URL] [--json]   (see simulate --help)

Runs the exchange: indexes dev.cocore.* records from the firehose (default: the PDS itself),
verifies and settles receipts in its ledger, publishes its policy, settlements, grants, refreshes
and patronage records as the given account, and serves the exchange XRPC API.

  --db URL          sqlite:PATH (default STATE_DIR/exchange.db) or postgres://user@host:port/db
  --pds URL         the PDS hosting the exchange's account
  --plc URL         PLC directory for DID resolution (default https://plc.directory)
  --handle H        the exchange's account; password from --password or COCORE_EXCHANGE_PASSWORD
  --firehose URL    a PDS or relay to index (repeatable; default: --pds)
  --matchmaker DID  a DID allowed to call admitJob (repeatable)
  --port N          XRPC port (default 8081); --host H (default 127.0.0.1)
  --state-dir DIR   holds the settlement signing key (default ~/.cocore/exchange)
  --verify-workers N  worker threads checking records in bulk (backfills, busy firehose commits);
                    default one per core, 0 checks inline
  --grace-ms N      how far the ledger's watermark stays behind ingestion (default 1000): records
                    arriving within it are decided in ledger-time order whatever their order
  --new-key         sign settlements with a new key from now on (publishes a new policy); needed
                    to start a ledger in use whose key file is missing`,
  async run(args) {
    const [verb, ...rest] = args;
    if (verb === "simulate") return simulateCommand(rest);
    if (verb !== "serve") throw new CliError("usage: cocore exchange serve|simulate [options] (see --help)");
    const { values } = parseFlags(
      rest,
      {
        db: { type: "string" },
        pds: { type: "string" },
        plc: { type: "string" },
        handle: { type: "string" },
        password: { type: "string" },
        firehose: { type: "string", multiple: true },
        matchmaker: { type: "string", multiple: true },
        port: { type: "string" },
        host: { type: "string" },
        "state-dir": { type: "string" },
        "verify-workers": { type: "string" },
        "grace-ms": { type: "string" },
        "new-key": { type: "boolean" },
      },
      false,
    );
    if (!values.pds) throw new CliError("--pds is required");
    if (!values.handle) throw new CliError("--handle is required");
    const password = values.password ?? process.env.COCORE_EXCHANGE_PASSWORD;
    if (!password) throw new CliError("--password (or COCORE_EXCHANGE_PASSWORD) is required");
    const port = values.port === undefined ? 8081 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError("--port must be a port number");
    for (const d of values.matchmaker ?? []) if (!d.startsWith("did:")) throw new CliError(`--matchmaker ${d} is not a DID`);
    const verifyWorkers = values["verify-workers"] === undefined ? defaultCheckWorkers() : Number(values["verify-workers"]);
    if (!Number.isInteger(verifyWorkers) || verifyWorkers < 0) throw new CliError("--verify-workers must be a non-negative integer");
    const graceMs = values["grace-ms"] === undefined ? 1000 : Number(values["grace-ms"]);
    if (!Number.isInteger(graceMs) || graceMs < 0) throw new CliError("--grace-ms must be a non-negative integer");
    const stateDir = values["state-dir"] ?? join(homedir(), ".cocore", "exchange");
    const db = values.db ?? `sqlite:${join(stateDir, "exchange.db")}`;
    if (!db.startsWith("sqlite:") && !/^postgres(ql)?:\/\//.test(db)) throw new CliError("--db must be sqlite:PATH or postgres://…");
    let ex;
    try {
      ex = await startExchange({
        db,
        pdsUrl: values.pds,
        plcUrl: values.plc ?? "https://plc.directory",
        handle: values.handle,
        password,
        stateDir,
        firehose: values.firehose,
        matchmakers: values.matchmaker,
        port,
        host: values.host ?? "127.0.0.1",
        verifyWorkers,
        graceMs,
        newKey: values["new-key"] === true,
      });
    } catch (err) {
      if (err instanceof MissingKeyError) throw new CliError(err.message);
      throw new CliError(`exchange did not start: ${err instanceof Error ? err.message : String(err)}`, 1);
    }
    process.stderr.write(`exchange ${ex.did} (${ex.handle}) serving ${ex.url}\n  db: ${describeDbUrl(db)}\n  policy: ${ex.policy.uri}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await ex.close();
    return 0;
  },
};
