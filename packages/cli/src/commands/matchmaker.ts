import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { login } from "@cocore/atproto";
import { DEFAULT_COOLDOWN_POLICY, serviceAuthFromAgent, startMatchmaker } from "@cocore/matchmaker";
import { exportSigningKey, generateSigningKey, importSigningKey, type P256PrivateJwk } from "@cocore/protocol";
import { writeFileSync, chmodSync } from "node:fs";
import { CliError, parseFlags, type Command } from "../command.ts";
import { configDir, explainLoginError } from "../requester.ts";

export const command: Command = {
  summary: "run a matchmaker (`cocore matchmaker serve`)",
  help: `usage: cocore matchmaker serve --pds URL --handle H [--password PW] --exchange-did DID --exchange-url URL
                               (--plc URL | --insecure) [--port N] [--host H] [--state-dir DIR]
                               [--queue-max N] [--queue-wait-ms MS]
                               [--rate-per-ip BURST/PER_S] [--rate-per-requester BURST/PER_S]
                               [--jobs-per-requester N] [--max-body-bytes N] [--max-agent-message-bytes N]
                               [--cooldown-after N] [--cooldown-base-ms MS] [--cooldown-max-ms MS]
                               [--keepalive-ms MS] [--stream-keepalive-ms MS]
                               [--resume-grace-ms MS]

Agents connect on GET /v1/agent (WebSocket); requesters dispatch with POST /v1/dispatch.
The matchmaker's account must be one of the exchange's configured matchmakers (admitJob is
refused otherwise). The password comes from --password or COCORE_MATCHMAKER_PASSWORD.
The brokerage countersignature key is kept in STATE_DIR/brokerage-key.jwk.json (0600).
--plc is required: without a DID resolver the matchmaker cannot check agent registrations
against their attestations nor confirm job records, so anyone could register as any provider.
--insecure runs without those checks anyway (local testing only).
Jobs that find every slot busy wait in a fair queue per model: at most --queue-max jobs
(default 256; beyond it 429 queue_full with Retry-After) for at most --queue-wait-ms
(default 180000; then queue_timeout). See packages/matchmaker/README.md.
Abuse limits (README "Abuse limits"): dispatches per client address (default 1000/100) and per
requester DID once its job record proves it (default 400/20), jobs at once per requester (128),
the dispatch body (4 MiB) and an agent's socket message (8 MiB).
A machine that keeps failing (drops mid-job, misses its preflight, sends bad output, goes silent,
or registers and drops again within 30 s) is cooled down: from --cooldown-after failures in a row
(default 3) it is not routed to for --cooldown-base-ms (default 5000), doubling with each further
failure up to --cooldown-max-ms (default 300000); a served job or 2 quiet minutes forget them.
Agents are pinged every --keepalive-ms (default: the heartbeat interval, at most 5000) and dropped
when silent for 3 heartbeat intervals; a dispatch stream quiet for --stream-keepalive-ms (default
15000) gets a keepalive line.
An agent whose socket drops mid-answer may reconnect and resume the job within --resume-grace-ms
(default 10000; 0: such a job fails at once, provider_lost); the requester's stream stays open.`,
  async run(args) {
    const [verb, ...rest] = args;
    if (verb !== "serve") throw new CliError("usage: cocore matchmaker serve [options] (see --help)");
    const { values } = parseFlags(rest, {
      pds: { type: "string" },
      handle: { type: "string" },
      password: { type: "string" },
      "exchange-did": { type: "string" },
      "exchange-url": { type: "string" },
      plc: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      "state-dir": { type: "string" },
      insecure: { type: "boolean" },
      "queue-max": { type: "string" },
      "queue-wait-ms": { type: "string" },
      "rate-per-ip": { type: "string" },
      "rate-per-requester": { type: "string" },
      "jobs-per-requester": { type: "string" },
      "max-body-bytes": { type: "string" },
      "max-agent-message-bytes": { type: "string" },
      "cooldown-after": { type: "string" },
      "cooldown-base-ms": { type: "string" },
      "cooldown-max-ms": { type: "string" },
      "keepalive-ms": { type: "string" },
      "stream-keepalive-ms": { type: "string" },
      "resume-grace-ms": { type: "string" },
    }, false);
    // Checked before logging in: a typo in a number should not cost a login round trip.
    type CountFlag = "cooldown-after" | "cooldown-base-ms" | "cooldown-max-ms" | "keepalive-ms" | "stream-keepalive-ms" | "queue-max" | "queue-wait-ms" | "jobs-per-requester" | "max-body-bytes" | "max-agent-message-bytes";
    const count = (k: CountFlag) => {
      const v = values[k];
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1) throw new CliError(`--${k} must be a positive integer (got '${v}')`);
      return n;
    };
    const cooldown = { threshold: count("cooldown-after"), baseMs: count("cooldown-base-ms"), maxMs: count("cooldown-max-ms") };
    if ((cooldown.maxMs ?? DEFAULT_COOLDOWN_POLICY.maxMs) < (cooldown.baseMs ?? DEFAULT_COOLDOWN_POLICY.baseMs)) throw new CliError("--cooldown-max-ms must be at least --cooldown-base-ms");
    const keepaliveIntervalMs = count("keepalive-ms");
    const streamKeepaliveMs = count("stream-keepalive-ms");
    if (!values.plc && !values.insecure) {
      throw new CliError(
        "--plc URL is required: without a DID resolver the matchmaker cannot verify agent registrations or confirm job records. Pass --insecure to run without these checks (local testing only).",
      );
    }
    const need = (k: keyof typeof values) => {
      const v = values[k];
      if (typeof v !== "string" || !v) throw new CliError(`--${k} is required`);
      return v;
    };
    const pds = need("pds");
    const handle = need("handle");
    const password = values.password ?? process.env.COCORE_MATCHMAKER_PASSWORD;
    if (!password) throw new CliError("--password (or COCORE_MATCHMAKER_PASSWORD) is required");
    let agent;
    try {
      agent = await login(pds, handle, password);
    } catch (err) {
      explainLoginError(err, handle, pds);
    }
    const stateDir = values["state-dir"] ?? join(configDir(), "matchmaker");
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const keyPath = join(stateDir, "brokerage-key.jwk.json");
    let key;
    if (existsSync(keyPath)) key = importSigningKey(JSON.parse(readFileSync(keyPath, "utf8")) as P256PrivateJwk);
    else {
      key = generateSigningKey();
      writeFileSync(keyPath, JSON.stringify(exportSigningKey(key)), { mode: 0o600 });
      chmodSync(keyPath, 0o600);
    }
    const port = values.port === undefined ? 8082 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError("--port must be a port number");
    const queue = { maxQueuedPerModel: count("queue-max"), maxWaitMs: count("queue-wait-ms") };
    const rate = (k: "rate-per-ip" | "rate-per-requester") => {
      const v = values[k];
      if (v === undefined) return undefined;
      const [burst, perSecond] = v.split("/").map(Number);
      if (!(burst! >= 1) || !(perSecond! > 0) || !Number.isFinite(burst) || !Number.isFinite(perSecond)) throw new CliError(`--${k} must be BURST/PER_SECOND, e.g. 400/20`);
      return { burst: burst!, perSecond: perSecond! };
    };
    const limits = {
      perIp: rate("rate-per-ip"),
      perRequester: rate("rate-per-requester"),
      concurrentPerRequester: count("jobs-per-requester"),
      maxBodyBytes: count("max-body-bytes"),
      maxAgentMessageBytes: count("max-agent-message-bytes"),
    };
    const grace = values["resume-grace-ms"] === undefined ? undefined : Number(values["resume-grace-ms"]);
    if (grace !== undefined && !(Number.isSafeInteger(grace) && grace >= 0)) throw new CliError("--resume-grace-ms must be a whole number of milliseconds (0: no resume)");
    const mm = await startMatchmaker({
      did: agent.assertDid,
      serviceAuth: serviceAuthFromAgent(agent),
      exchange: { did: need("exchange-did"), url: need("exchange-url") },
      brokerageKey: key,
      repo: agent,
      plcUrl: values.plc,
      port,
      host: values.host ?? "127.0.0.1",
      queue: Object.fromEntries(Object.entries(queue).filter(([, v]) => v !== undefined)),
      limits: Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)),
      cooldown: Object.fromEntries(Object.entries(cooldown).filter(([, v]) => v !== undefined)),
      ...(keepaliveIntervalMs !== undefined && { keepaliveIntervalMs }),
      ...(streamKeepaliveMs !== undefined && { streamKeepaliveMs }),
      ...(grace !== undefined && { timeouts: { resumeGraceMs: grace } }),
    });
    if (!values.plc) console.error("matchmaker: --insecure: agent registrations and job records are NOT verified");
    console.log(`matchmaker ${agent.assertDid} listening on ${mm.url} (agents: ${mm.url.replace(/^http/, "ws")}/v1/agent)`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    await mm.close();
    return 0;
  },
};
