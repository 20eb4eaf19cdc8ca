// `cocore up`: the local cooperative. Each part is a service started in order and stopped in
// reverse; later parts (exchange, matchmaker, agent, gateway, console) join the `services` list.
import { join } from "node:path";
import type { Account, LocalNetwork } from "@cocore/atproto";
import type { Exchange } from "@cocore/exchange";
import type { Matchmaker } from "@cocore/matchmaker";
import type { AtpAgent } from "@atproto/api";
import type { ClientError } from "@cocore/client";
import type { KeyStore, TokenPrice } from "@cocore/gateway";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";
import type { SavedSession } from "../requester.ts";

const SEED_HANDLES = ["requester.test", "provider.test", "exchange.test", "matchmaker.test"] as const;

interface UpFlags {
  plcPort: number;
  pdsPort: number;
  exchangePort: number;
  matchmakerPort: number;
  gatewayPort: number;
  consolePort: number;
  verbose: boolean;
}

/** What the services started so far offer to the ones after them, and to the final summary. */
export interface UpContext {
  flags: UpFlags;
  network?: LocalNetwork;
  accounts: Map<string, Account>;
  endpoints: Array<{ name: string; url: string }>;
  exchange?: Exchange;
  matchmaker?: Matchmaker;
  /** The requester's API key for the OpenAI-compatible gateway. */
  apiKey?: string;
  /** The key file the gateway serves from (shared with `cocore apikey`). */
  apiKeyFile?: string;
  /** The gateway's key store, shared with the console's API keys page. */
  keys?: KeyStore;
  /** The console's client for a member it holds an OAuth session for (its API keys spend so). */
  consoleClientFor?: (did: string) => Promise<InstanceType<typeof import("@cocore/client").CocoreClient>>;
  model?: string;
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
  {
    name: "exchange (SQLite)",
    async start(ctx) {
      const network = requireNetwork(ctx);
      const acct = ctx.accounts.get("exchange.test")!;
      const { startExchange } = await import("@cocore/exchange");
      const exchange = await startExchange({
        pdsUrl: network.pdsUrl,
        plcUrl: network.plcUrl,
        handle: acct.handle,
        password: acct.password,
        stateDir: join(network.dataDir, "exchange"),
        port: ctx.flags.exchangePort,
        host: "127.0.0.1",
        matchmakers: [ctx.accounts.get("matchmaker.test")!.did],
        log: ctx.flags.verbose ? (l: string) => ctx.log(`exchange: ${l}`) : () => {},
      });
      ctx.exchange = exchange;
      ctx.endpoints.push({ name: "exchange", url: exchange.url });
      return () => exchange.close();
    },
  },
  {
    name: "matchmaker",
    async start(ctx) {
      const network = requireNetwork(ctx);
      const acct = ctx.accounts.get("matchmaker.test")!;
      const exchange = ctx.exchange!;
      const { serviceAuthFromKeypair, startMatchmaker } = await import("@cocore/matchmaker");
      const mm = await startMatchmaker({
        did: acct.did,
        serviceAuth: serviceAuthFromKeypair(acct.did, await network.signingKeypair(acct.did)),
        repo: acct.agent,
        exchange: { did: exchange.did, url: exchange.url },
        plcUrl: network.plcUrl,
        port: ctx.flags.matchmakerPort,
        log: ctx.flags.verbose ? (l: string) => ctx.log(`matchmaker: ${l}`) : () => {},
      });
      ctx.matchmaker = mm;
      ctx.endpoints.push({ name: "matchmaker", url: mm.url });
      return () => mm.close();
    },
  },
  {
    name: "provider agent (bundled model)",
    async start(ctx) {
      const network = requireNetwork(ctx);
      const acct = ctx.accounts.get("provider.test")!;
      const { startAgent } = await import("@cocore/agent");
      const agent = await startAgent({
        pds: network.pdsUrl,
        handle: acct.handle,
        password: acct.password,
        stateDir: join(network.dataDir, "agent"),
        matchmaker: ctx.matchmaker!.url,
        exchange: ctx.exchange!.did,
        plc: network.plcUrl,
        machineLabel: "cocore up",
        log: ctx.flags.verbose ? (l: string) => ctx.log(`agent: ${l}`) : () => {},
      });
      ctx.model = agent.supportedModels[0];
      // Stopping the agent publishes serving: false before the PDS goes away.
      return () => agent.stop();
    },
  },
  {
    name: "OpenAI-compatible gateway",
    async start(ctx) {
      const acct = ctx.accounts.get("requester.test")!;
      const [{ CocoreClient, ClientError }, { KeyStore, startGateway }, { keyFilePath }, { isConsoleKeySession }] = await Promise.all([import("@cocore/client"), import("@cocore/gateway"), import("./apikey.ts"), import("@cocore/console")]);
      const client = new CocoreClient({
        agent: acct.agent,
        matchmakerUrl: ctx.matchmaker!.url,
        exchangeUrl: ctx.exchange!.url,
        exchangeDid: ctx.exchange!.did,
        plcUrl: requireNetwork(ctx).plcUrl,
      });
      // The same key file as `cocore apikey`, so a key created there while `up` runs works here.
      // `up`'s own key is revoked on stop (its DID dies with the temporary data); the file stays.
      ctx.apiKeyFile = keyFilePath();
      const keys = new KeyStore(ctx.apiKeyFile);
      ctx.keys = keys;
      const own = keys.create(acct.did, "cocore up");
      ctx.apiKey = own.key;
      const others = new Map<string, Promise<InstanceType<typeof CocoreClient>>>();
      const network = requireNetwork(ctx);
      const gw = await startGateway({
        keys,
        port: ctx.flags.gatewayPort,
        clientFor: async (did) => {
          if (did === acct.did) return client;
          // A key made on the console's API keys page spends through the console's OAuth session.
          if (ctx.consoleClientFor && isConsoleKeySession(keys.session(did))) return ctx.consoleClientFor(did);
          let c = others.get(did);
          if (!c) {
            c = clientFromKeySession(keys, did, network.pdsUrl, ClientError).then(
              (agent) => new CocoreClient({ agent, matchmakerUrl: ctx.matchmaker!.url, exchangeUrl: ctx.exchange!.url, exchangeDid: ctx.exchange!.did, plcUrl: network.plcUrl }),
            );
            others.set(did, c);
            c.catch(() => others.delete(did));
          }
          return c;
        },
        models: () => client.models(),
        price: () => client.policy().then((p) => p.value.tokenRate as TokenPrice | undefined),
        log: (l: string) => ctx.log(`gateway: ${l}`),
      });
      ctx.endpoints.push({ name: "openai", url: `${gw.url}/v1` });
      return async () => {
        await gw.close();
        keys.revoke(own.entry.id);
      };
    },
  },
  {
    name: "web console",
    async start(ctx) {
      const network = requireNetwork(ctx);
      const { startConsole } = await import("@cocore/console");
      const api = ctx.endpoints.find((e) => e.name === "openai");
      const running = await startConsole({
        exchangeUrl: ctx.exchange!.url,
        exchangeDid: ctx.exchange!.did,
        matchmakerUrl: ctx.matchmaker!.url,
        plcUrl: network.plcUrl,
        handleResolver: network.pdsUrl,
        gatewayUrl: api?.url,
        keys: ctx.keys,
        stateDir: join(network.dataDir, "console"),
        port: ctx.flags.consolePort,
        log: ctx.flags.verbose ? (l: string) => ctx.log(`console: ${l}`) : () => {},
      });
      // 127.0.0.1, not localhost: the OAuth loopback redirect is registered on the IP (OAUTH-NOTES.md).
      ctx.endpoints.push({ name: "console", url: running.url });
      ctx.consoleClientFor = (did) => running.services.clientFor(did);
      return () => running.close();
    },
  },
];

/**
 * The agent for a key made by `cocore apikey create` for another account on this `up`'s PDS, from
 * the gateway's sessions file. Refreshed tokens go back there only (not the CLI's session file,
 * which may be another account's by now), and only while the session is still stored: once the
 * DID's last key is revoked they are not written back.
 */
async function clientFromKeySession(keys: KeyStore, did: string, pdsUrl: string, Refusal: typeof ClientError): Promise<AtpAgent> {
  const saved = keys.session(did) as SavedSession | undefined;
  if (!saved?.session || saved.pds !== pdsUrl) {
    throw new Refusal("no_session", `The API key's account ${did} is not an account of this local cooperative (its session is for ${saved?.pds ?? "no PDS"}); create a key after \`cocore login\` against this \`cocore up\`.`);
  }
  const { AtpAgent } = await import("@atproto/api");
  const agent = new AtpAgent({
    service: saved.pds,
    persistSession: (evt, session) => {
      if ((evt === "create" || evt === "update") && session) keys.updateSession(did, { ...saved, session });
    },
  });
  await agent.resumeSession(saved.session);
  return agent;
}

function curlExample(ctx: UpContext): string | undefined {
  const api = ctx.endpoints.find((e) => e.name === "openai");
  if (!api || !ctx.apiKey) return undefined;
  const body = JSON.stringify({ model: ctx.model ?? "fortunes-char", stream: true, max_tokens: 64, messages: [{ role: "user", content: "Tell me a fortune." }] });
  return `curl -N ${api.url}/chat/completions -H 'Authorization: Bearer ${ctx.apiKey}' -H 'Content-Type: application/json' -d '${body}'`;
}

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
  summary: "run the local cooperative (PLC + PDS, exchange, matchmaker, agent, OpenAI-compatible API, web console) until Ctrl-C",
  help: `usage: cocore up [--plc-port N] [--pds-port N] [--verbose] [--json]

Starts an in-process PLC directory and PDS with fresh temporary data, creates the accounts
${SEED_HANDLES.join(", ")} (random passwords, printed), prints the endpoints and runs until
SIGINT/SIGTERM. Stopping deletes all data, so the next \`up\` starts clean. The OpenAI-compatible
API reads the same key file as \`cocore apikey\` (${"$"}COCORE_API_KEYS_FILE, default
${"$"}XDG_CONFIG_HOME/cocore/gateway/keys.json, with the sessions in sessions.json beside it): keys
created there while \`up\` runs work, and the key \`up\` prints is revoked when it stops (the
files themselves are kept).

  --plc-port N   PLC directory port (default 2582; 0 picks a free port)
  --pds-port N   PDS port (default 2583; 0 picks a free port)
  --exchange-port N, --matchmaker-port N, --api-port N, --console-port N
                 (defaults 2584, 2585, 2586, 2587)
  --verbose      show the PDS and PLC server logs
  --json         print the endpoints and accounts as one JSON document on stdout`,
  async run(args) {
    const { values } = parseFlags(
      args,
      {
        "plc-port": { type: "string" },
        "pds-port": { type: "string" },
        "exchange-port": { type: "string" },
        "matchmaker-port": { type: "string" },
        "api-port": { type: "string" },
        "console-port": { type: "string" },
        verbose: { type: "boolean" },
        json: { type: "boolean" },
      },
      false,
    );
    const flags: UpFlags = {
      plcPort: port(values["plc-port"], 2582, "--plc-port"),
      pdsPort: port(values["pds-port"], 2583, "--pds-port"),
      exchangePort: port(values["exchange-port"], 2584, "--exchange-port"),
      matchmakerPort: port(values["matchmaker-port"], 2585, "--matchmaker-port"),
      gatewayPort: port(values["api-port"], 2586, "--api-port"),
      consolePort: port(values["console-port"], 2587, "--console-port"),
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
        printJson({ endpoints: Object.fromEntries(ctx.endpoints.map((e) => [e.name, e.url])), accounts, apiKey: ctx.apiKey, model: ctx.model, curl: curlExample(ctx) });
      } else {
        const lines = ["", "endpoints:"];
        for (const e of ctx.endpoints) lines.push(`  ${e.name.padEnd(10)} ${e.url}`);
        lines.push("", "accounts:");
        for (const a of accounts) lines.push(`  ${a.handle.padEnd(16)} ${a.did}  password: ${a.password}`);
        const req = ctx.accounts.get("requester.test");
        const net = ctx.network;
        const web = ctx.endpoints.find((e) => e.name === "console");
        if (web) lines.push("", `web console: open ${web.url} and sign in as requester.test (its password above, on the PDS's own page)`);
        if (ctx.apiKey) lines.push("", "OpenAI-compatible API (as requester.test):", `  ${curlExample(ctx)}`);
        if (req && net && ctx.matchmaker && ctx.exchange) {
          lines.push(
            "",
            "or from the CLI:",
            `  ./cocore login ${req.handle} --pds ${net.pdsUrl} --plc ${net.plcUrl} --matchmaker ${ctx.matchmaker.url} --exchange ${ctx.exchange.url} --password='${req.password}'`,
            `  ./cocore run "Tell me a fortune."`,
          );
        }
        if (web && net && ctx.matchmaker && ctx.exchange) {
          lines.push(
            "",
            "add a machine without a password (approve the code in the console, signed in as its owner):",
            `  ./cocore agent pair --console ${web.url} --state-dir /tmp/my-agent`,
            `  ./cocore agent serve --state-dir /tmp/my-agent --matchmaker ${ctx.matchmaker.url} --exchange ${ctx.exchange.did} --plc ${net.plcUrl}`,
          );
        }
        lines.push("", `Ctrl-C to stop (all data is deleted${ctx.apiKeyFile ? `; API keys in ${ctx.apiKeyFile} are kept, except the one above` : ""}).`);
        process.stdout.write(lines.join("\n") + "\n");
      }
    }

    const sig = await signalled;
    log(`${sig}: shutting down`);
    return (await stopAll(started, log)) ? 0 : 1;
  },
};
