// `cocore up`: the local cooperative. Each part is a service started in order and stopped in
// reverse; later parts (exchange, matchmaker, agent, gateway, console) join the `services` list.
import type { Account, LocalNetwork } from "@cocore/atproto";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";

const SEED_HANDLES = ["requester.test", "provider.test", "exchange.test"] as const;

interface UpFlags {
  plcPort: number;
  pdsPort: number;
  verbose: boolean;
}

/** What the services started so far offer to the ones after them, and to the final summary. */
export interface UpContext {
  flags: UpFlags;
  network?: LocalNetwork;
  accounts: Map<string, Account>;
  endpoints: Array<{ name: string; url: string }>;
  log(message: string): void;
}

export interface UpService {
  name: string;
  /** Starts the service and returns how to stop it. */
  start(ctx: UpContext): Promise<() => Promise<void>>;
}

const services: UpService[] = [
  {
    name: "PLC directory + PDS",
    async start(ctx) {
      // @atproto loggers read LOG_ENABLED when first loaded, so the import waits for the flags.
      // Logs go to stderr: stdout is for the summary (and the --json document).
      if (ctx.flags.verbose) {
        process.env.LOG_ENABLED = "true";
        process.env.LOG_DESTINATION ??= "/dev/stderr";
      }
      const { startLocalNetwork } = await import("@cocore/atproto");
      const network = await startLocalNetwork({
        plcPort: ctx.flags.plcPort,
        pdsPort: ctx.flags.pdsPort,
        quiet: !ctx.flags.verbose,
      });
      ctx.network = network;
      ctx.endpoints.push({ name: "plc", url: network.plcUrl }, { name: "pds", url: network.pdsUrl });
      return () => network.close();
    },
  },
  {
    name: "seed accounts",
    async start(ctx) {
      const network = requireNetwork(ctx);
      for (const handle of SEED_HANDLES) ctx.accounts.set(handle, await network.createAccount(handle));
      // The accounts live in the PDS's temp data, which the network's close() removes.
      return async () => {};
    },
  },
];

function requireNetwork(ctx: UpContext): LocalNetwork {
  if (!ctx.network) throw new Error("the local network must start first");
  return ctx.network;
}

function port(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`${flag} must be a port number (0-65535), got '${value}'`);
  return n;
}

async function stopAll(stops: Array<{ name: string; stop: () => Promise<void> }>, log: (m: string) => void): Promise<boolean> {
  let clean = true;
  for (const { name, stop } of [...stops].reverse()) {
    try {
      await stop();
      log(`stopped ${name}`);
    } catch (err) {
      clean = false;
      log(`stopping ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return clean;
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      // A second Ctrl-C while shutting down means "now".
      process.once("SIGINT", () => process.exit(130));
      resolve(sig);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

export const command: Command = {
  summary: "run the local cooperative (PLC + PDS and seeded accounts) until Ctrl-C",
  help: `usage: cocore up [--plc-port N] [--pds-port N] [--verbose] [--json]

Starts an in-process PLC directory and PDS with fresh temporary data, creates the accounts
${SEED_HANDLES.join(", ")} (random passwords, printed), prints the endpoints and runs until
SIGINT/SIGTERM. Stopping deletes all data, so the next \`up\` starts clean.

  --plc-port N   PLC directory port (default 2582; 0 picks a free port)
  --pds-port N   PDS port (default 2583; 0 picks a free port)
  --verbose      show the PDS and PLC server logs
  --json         print the endpoints and accounts as one JSON document on stdout`,
  async run(args) {
    const { values } = parseFlags(
      args,
      {
        "plc-port": { type: "string" },
        "pds-port": { type: "string" },
        verbose: { type: "boolean" },
        json: { type: "boolean" },
      },
      false,
    );
    const flags: UpFlags = {
      plcPort: port(values["plc-port"], 2582, "--plc-port"),
      pdsPort: port(values["pds-port"], 2583, "--pds-port"),
      verbose: values.verbose === true,
    };
    const log = (m: string) => process.stderr.write(`cocore up: ${m}\n`);
    const ctx: UpContext = { flags, accounts: new Map(), endpoints: [], log };
    const started: Array<{ name: string; stop: () => Promise<void> }> = [];
    // Ctrl-C during startup: finish the step in progress, then unwind.
    const signalled = waitForSignal();
    let interrupted = false;
    void signalled.then(() => (interrupted = true));

    for (const service of services) {
      if (interrupted) break;
      const t0 = performance.now();
      try {
        started.push({ name: service.name, stop: await service.start(ctx) });
      } catch (err) {
        await stopAll(started, log);
        const reason = err instanceof Error ? err.message : String(err);
        const hint = /already in use/.test(reason) ? " (another `cocore up`? choose ports with --plc-port/--pds-port)" : "";
        throw new CliError(`${service.name} did not start: ${reason}${hint}`, 1);
      }
      log(`started ${service.name} (${Math.round(performance.now() - t0)} ms)`);
    }

    if (!interrupted) {
      const accounts = [...ctx.accounts.values()].map(({ did, handle, password }) => ({ handle, did, password }));
      if (values.json) {
        printJson({ endpoints: Object.fromEntries(ctx.endpoints.map((e) => [e.name, e.url])), accounts });
      } else {
        const lines = ["", "endpoints:"];
        for (const e of ctx.endpoints) lines.push(`  ${e.name.padEnd(10)} ${e.url}`);
        lines.push("", "accounts:");
        for (const a of accounts) lines.push(`  ${a.handle.padEnd(16)} ${a.did}  password: ${a.password}`);
        lines.push("", "Ctrl-C to stop (all data is deleted).");
        process.stdout.write(lines.join("\n") + "\n");
      }
    }

    const sig = await signalled;
    log(`${sig}: shutting down`);
    return (await stopAll(started, log)) ? 0 : 1;
  },
};
