import { join } from "node:path";
import { homedir } from "node:os";
import { defaultCheckWorkers, describeDbUrl, startExchange } from "@cocore/exchange";
import { CliError, parseFlags, type Command } from "../command.ts";

export const command: Command = {
  summary: "run an exchange (`cocore exchange serve`)",
  help: `usage: cocore exchange serve --pds URL --plc URL --handle H [--password PW] [--db sqlite:PATH|postgres://…]
                             [--firehose URL]... [--port N] [--host H] [--matchmaker DID]... [--state-dir DIR]
                             [--verify-workers N]

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
                    default one per core, 0 checks inline`,
  async run(args) {
    const [verb, ...rest] = args;
    if (verb !== "serve") throw new CliError("usage: cocore exchange serve [options] (see --help)");
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
      });
    } catch (err) {
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
