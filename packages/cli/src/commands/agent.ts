// `cocore agent serve`: run a provider agent on this machine until SIGTERM/SIGINT, which publish
// serving:false before exit. `cocore agent pair` (agent-pair.ts) pairs it so serve needs no password.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PAIR_HELP, runAgentPair } from "../agent-pair.ts";
import { CliError, parseFlags, printJson, type Command } from "../command.ts";

const HELP = `usage: cocore agent serve --pds URL --handle HANDLE --password PASSWORD [options]
       cocore agent serve [options]            (a machine paired with cocore agent pair)
       cocore agent pair --console URL [options]

Runs a provider agent: logs in to the provider's PDS (or, on a machine paired through the
console, writes through the console with the stored device credential: no password here),
keeps this machine's keys in a state directory, publishes a self-signed attestation and this
machine's provider record (provisioning → ready; serving:false on SIGTERM/SIGINT), serves jobs
from a matchmaker and writes a signed receipt for each one to the provider's PDS (retried from a
local queue when the PDS is unreachable).

options:
  --pds URL              the provider's PDS (required with a password)
  --handle HANDLE        the provider account's handle or DID (required with a password)
  --password PASSWORD    an app password (or set COCORE_AGENT_PASSWORD); without one, the
                         device credential of \`cocore agent pair\` in the state dir is used
  --state-dir DIR        keys, salt and the receipt queue (default $XDG_CONFIG_HOME/cocore/agent
                         or ~/.config/cocore/agent); files are mode 0600
  --engine KIND          llama (default) | openai | stub
  --model PATH|URL       GGUF file for the llama engine (default: the bundled
                         models/fortunes-char.gguf); a URL is downloaded (resumable)
  --model-id ID          the model id served for --model (default fortunes-char)
  --models-dir DIR       more GGUF files, each served as its file name without .gguf when the
                         owner lists it in the provider record's desiredModels
  --threads N            inference threads (default: cores − 1, at least 1)
  --parallel N           jobs of each model run at once (default 1; llama gets N context sequences)
  --openai-base URL      upstream OpenAI-compatible server for --engine openai
                         (llama-server, vLLM, Ollama, mlx_lm.server); key from OPENAI_API_KEY
  --matchmaker URL       matchmaker to serve jobs from (WebSocket at URL/v1/agent)
  --exchange DID         the exchange whose active policy's tokenRate prices receipts
                         (default: TOK at 1,000,000 per MTok in and out)
  --plc URL              PLC directory used to find the exchange's PDS (default: use --pds)
  --label TEXT           machineLabel when the provider record is first created (default: the
                         name it was paired as, else the hostname)
  --poll-ms N            how often to re-read the provider record for owner edits (default 5000)
  --json                 print one JSON document when the agent is up (logs go to stderr)

A real model: --model /path/to/any.gguf --model-id qwen2.5-0.5b-instruct (any llama.cpp GGUF),
or --engine openai --openai-base http://127.0.0.1:8080 --model-id <the upstream's model name>.

${PAIR_HELP}`;

function intFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`--${name} must be a positive integer`);
  return n;
}

export const command: Command = {
  summary: "run a provider agent (agent serve), or pair this machine through the console (agent pair)",
  help: HELP,
  async run(args) {
    const [verb, ...rest] = args;
    if (verb === "pair") return runAgentPair(rest);
    if (verb !== "serve") throw new CliError(verb ? `unknown agent verb '${verb}' (try: cocore agent serve --help or cocore agent pair --help)` : "missing verb (try: cocore agent serve --help)");
    const { values } = parseFlags(
      rest,
      {
        pds: { type: "string" },
        handle: { type: "string" },
        password: { type: "string" },
        "state-dir": { type: "string" },
        engine: { type: "string" },
        model: { type: "string" },
        "model-id": { type: "string" },
        "models-dir": { type: "string" },
        threads: { type: "string" },
        parallel: { type: "string" },
        "openai-base": { type: "string" },
        matchmaker: { type: "string" },
        exchange: { type: "string" },
        plc: { type: "string" },
        label: { type: "string" },
        "poll-ms": { type: "string" },
        json: { type: "boolean", default: false },
      },
      false,
    );
    const password = values.password ?? process.env.COCORE_AGENT_PASSWORD;
    const { startAgent, defaultStateDir, DEVICE_FILE, PairingError } = await import("@cocore/agent");
    const stateDir = values["state-dir"] ?? defaultStateDir();
    const paired = !password && existsSync(join(stateDir, DEVICE_FILE));
    if (!paired && (!values.pds || !values.handle || !password)) {
      throw new CliError(`--pds, --handle and --password (or COCORE_AGENT_PASSWORD) are required, unless this machine is paired (cocore agent pair --console URL; no ${DEVICE_FILE} in ${stateDir})`);
    }
    if (paired && values.handle) throw new CliError(`--handle is for password sign-in; this machine is paired (${join(stateDir, DEVICE_FILE)}) and writes as its owner`);
    const engine = values.engine ?? "llama";
    if (engine !== "llama" && engine !== "openai" && engine !== "stub") throw new CliError(`--engine must be llama, openai or stub (got '${engine}')`);
    if (engine === "openai" && !values["openai-base"]) throw new CliError("--engine openai needs --openai-base URL");
    if (values.exchange && !values.exchange.startsWith("did:")) throw new CliError("--exchange must be a DID");

    const { AtprotoError } = await import("@cocore/atproto");
    let running;
    // Set once the wait below starts; a revocation before then is found at the next start.
    let revoked: () => void = () => {};
    try {
      running = await startAgent({
        ...(paired ? { paired: true as const, pds: values.pds } : { pds: values.pds!, handle: values.handle!, password: password! }),
        onRevoked: () => revoked(),
        stateDir,
        engine,
        model: values.model,
        modelId: values["model-id"],
        modelsDir: values["models-dir"],
        threads: intFlag(values.threads, "threads"),
        parallel: intFlag(values.parallel, "parallel"),
        openaiBase: values["openai-base"],
        openaiApiKey: process.env.OPENAI_API_KEY,
        matchmaker: values.matchmaker,
        exchange: values.exchange,
        plc: values.plc,
        machineLabel: values.label,
        pollMs: intFlag(values["poll-ms"], "poll-ms"),
      });
    } catch (err) {
      if (err instanceof AtprotoError || err instanceof PairingError) throw new CliError(`${err.code}: ${err.message}`, 1);
      throw err;
    }
    const summary = {
      did: running.did,
      ...(running.paired ? { pairedThrough: running.paired.console, deviceId: running.paired.deviceId } : {}),
      provider: running.providerUri,
      machineId: running.rkey,
      attestation: { uri: running.attestation.uri, cid: running.attestation.cid, expiresAt: running.attestation.expiresAt },
      supportedModels: running.supportedModels,
      engineState: running.engineState,
      stateDir: running.state.dir,
    };
    if (values.json) printJson(summary);
    else process.stderr.write(`agent: up as ${running.did} (${running.providerUri}); Ctrl-C stops\n`);

    // The agent's own timers do not hold the process open (library use); the command does.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const code = await new Promise<number>((resolve) => {
      revoked = () => {
        process.stderr.write("agent: device_revoked: the owner revoked this machine's pairing; pair it again with cocore agent pair --console URL\n");
        resolve(1);
      };
      const onSignal = (sig: NodeJS.Signals) => {
        process.stderr.write(`agent: ${sig}: shutting down\n`);
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
        running.stop().then(() => resolve(0), (err: unknown) => {
          process.stderr.write(`agent: shutdown error: ${err instanceof Error ? err.message : String(err)}\n`);
          resolve(0);
        });
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    });
    clearInterval(keepAlive);
    return code;
  },
};
