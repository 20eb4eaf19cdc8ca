// `cocore console serve|build`: the web console on its own, against running services.
import { join } from "node:path";
import { CliError, parseFlags, type Command } from "../command.ts";
import { configDir } from "../requester.ts";

export const command: Command = {
  summary: "the web console: serve it against an exchange and matchmaker, or build its browser app",
  help: `usage: cocore console serve --exchange URL --matchmaker URL --plc URL [--pds URL] [--port N]
                            [--exchange-did DID] [--api URL] [--state DIR]
       cocore console build

serve   runs the console's server on 127.0.0.1 (the AT Protocol OAuth loopback client needs an IP
        address, not localhost) and prints its URL. Members sign in with their handle on their
        own PDS.
  --exchange URL      the exchange's XRPC base URL
  --matchmaker URL    the matchmaker's base URL
  --plc URL           the PLC directory that resolves members' DIDs
  --pds URL           resolve handles through this PDS (local networks; default DNS/HTTPS)
  --port N            default 2587 (0 picks a free port)
  --api URL           the OpenAI-compatible API's base URL, shown on the API keys page
  --state DIR         where console.sqlite lives (default ${"$"}XDG_CONFIG_HOME/cocore/console)
  The API keys page uses the gateway's key file (${"$"}COCORE_API_KEYS_FILE, as \`cocore apikey\`).

build   builds the browser app into packages/console/dist and prints its JS size (gzip). The
        launcher does this once after installing dependencies and again when web/ changes.`,
  async run(args) {
    const [verb, ...rest] = args;
    if (verb === "build") {
      const { buildConsole } = await import("@cocore/console");
      await buildConsole();
      return 0;
    }
    if (verb !== "serve") throw new CliError("usage: cocore console serve|build (see --help)");
    const { values } = parseFlags(rest, {
      exchange: { type: "string" },
      "exchange-did": { type: "string" },
      matchmaker: { type: "string" },
      plc: { type: "string" },
      pds: { type: "string" },
      port: { type: "string" },
      api: { type: "string" },
      state: { type: "string" },
    }, false);
    for (const f of ["exchange", "matchmaker", "plc"] as const) if (!values[f]) throw new CliError(`--${f} URL is required`);
    const port = values.port === undefined ? 2587 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be a port number, got '${values.port}'`);
    const [{ startConsole }, { KeyStore }, { keyFilePath }] = await Promise.all([import("@cocore/console"), import("@cocore/gateway"), import("./apikey.ts")]);
    const running = await startConsole({
      exchangeUrl: values.exchange!,
      exchangeDid: values["exchange-did"],
      matchmakerUrl: values.matchmaker!,
      plcUrl: values.plc!,
      handleResolver: values.pds,
      gatewayUrl: values.api,
      keys: new KeyStore(keyFilePath()),
      stateDir: values.state ?? join(configDir(), "console"),
      port,
    });
    process.stdout.write(`console   ${running.url}\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await running.close();
    return 0;
  },
};
