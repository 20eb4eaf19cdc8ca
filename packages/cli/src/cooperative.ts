// The whole local cooperative in one process: PLC + PDS, exchange (SQLite), matchmaker, one
// provider agent and (optionally) the OpenAI-compatible gateway. Used by `cocore up`,
// `cocore demo`, the end-to-end tests and the dispatch benchmark.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalNetwork, type Account, type LocalNetwork } from "@cocore/atproto";
import { CocoreClient } from "@cocore/client";
import type { Exchange, PolicyParams } from "@cocore/exchange";
import { serviceAuthFromKeypair, startMatchmaker, type Matchmaker } from "@cocore/matchmaker";
import { startAgent, type RunningAgent } from "@cocore/agent";
import { KeyStore, startGateway, type Gateway, type GatewayLimits, type TokenPrice } from "@cocore/gateway";
import { isConsoleKeySession, type RunningConsole } from "@cocore/console";
import { seedCooperative } from "./cooperative-seed.ts";

export interface CooperativeOptions {
  /** Parent of the temp state (default: OS temp dir); everything under it is removed by close(). */
  dataDir?: string;
  plcPort?: number;
  pdsPort?: number;
  exchangePort?: number;
  matchmakerPort?: number;
  policy?: Partial<PolicyParams>;
  /** Agent engine (default llama with the bundled model). */
  engine?: "llama" | "stub";
  model?: string;
  modelId?: string;
  /** Requester handles to create (without ".test"); default ["requester"]. */
  requesters?: string[];
  providerHandle?: string;
  matchmakerTimeouts?: Parameters<typeof startMatchmaker>[0]["timeouts"];
  /** The matchmaker's cool-down of failing machines, and its clock (tests move it instead of waiting). */
  matchmakerCooldown?: Parameters<typeof startMatchmaker>[0]["cooldown"];
  matchmakerCooldownClock?: () => number;
  /** Quiet time after which the matchmaker's dispatch stream gets a keepalive line (default 15 s). */
  matchmakerStreamKeepaliveMs?: number;
  heartbeatIntervalMs?: number;
  /** How often the agent reads its provider record back for owner edits (default 5 s). */
  agentPollMs?: number;
  /** Start the OpenAI-compatible gateway with an API key per requester. */
  gateway?: boolean;
  gatewayPort?: number;
  /** The gateway's abuse limits (default DEFAULT_GATEWAY_LIMITS). */
  gatewayLimits?: Partial<GatewayLimits>;
  /** Start the web console (its API keys page shares the gateway's key store). */
  console?: boolean;
  consolePort?: number;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface Cooperative {
  network: LocalNetwork;
  exchange: Exchange;
  matchmaker: Matchmaker;
  agent: RunningAgent;
  gateway?: Gateway;
  console?: RunningConsole;
  /** The key store the gateway and the console share. */
  keys: KeyStore;
  /** API key per requester DID (when the gateway runs). */
  apiKeys: Map<string, string>;
  accounts: { exchange: Account; matchmaker: Account; provider: Account; requesters: Account[] };
  /** The model id the agent serves. */
  model: string;
  stateDir: string;
  /** An SDK client logged in as `account`. */
  clientFor(account: Account): CocoreClient;
  close(): Promise<void>;
}

export async function startCooperative(opts: CooperativeOptions = {}): Promise<Cooperative> {
  const quiet = opts.quiet ?? true;
  const log = opts.log ?? (quiet ? () => {} : (l: string) => process.stderr.write(`${l}\n`));
  const stateDir = await mkdtemp(join(opts.dataDir ?? tmpdir(), "cocore-coop-"));
  const stops: Array<() => Promise<void>> = [async () => rm(stateDir, { recursive: true, force: true })];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((e: unknown) => log(`close: ${e instanceof Error ? e.message : String(e)}`));
  };
  try {
    const network = await startLocalNetwork({ plcPort: opts.plcPort, pdsPort: opts.pdsPort, dataDir: stateDir, quiet });
    stops.push(() => network.close());
    const { accounts, exchange } = await seedCooperative(network, {
      providerHandle: opts.providerHandle ?? "provider",
      requesters: opts.requesters ?? ["requester"],
      stateDir,
      port: opts.exchangePort,
      policy: opts.policy,
      log: (l) => log(`exchange: ${l}`),
    });
    const { matchmaker: matchmakerAcct, provider: providerAcct, requesters } = accounts;
    stops.push(() => exchange.close());

    const matchmaker = await startMatchmaker({
      did: matchmakerAcct.did,
      serviceAuth: serviceAuthFromKeypair(matchmakerAcct.did, await network.signingKeypair(matchmakerAcct.did)),
      repo: matchmakerAcct.agent,
      exchange: { did: exchange.did, url: exchange.url },
      plcUrl: network.plcUrl,
      port: opts.matchmakerPort ?? 0,
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      timeouts: opts.matchmakerTimeouts,
      cooldown: opts.matchmakerCooldown,
      cooldownClock: opts.matchmakerCooldownClock,
      streamKeepaliveMs: opts.matchmakerStreamKeepaliveMs,
      log: (l) => log(`matchmaker: ${l}`),
    });
    stops.push(() => matchmaker.close());

    const { agent, modelId } = await startLocalAgent({ opts, pdsUrl: network.pdsUrl, plcUrl: network.plcUrl, account: providerAcct, stateDir, matchmaker, exchangeDid: exchange.did, log });
    stops.push(() => agent.stop());

    const clientFor = (account: Account) =>
      new CocoreClient({ agent: account.agent, matchmakerUrl: matchmaker.url, exchangeUrl: exchange.url, exchangeDid: exchange.did, plcUrl: network.plcUrl });
    const apiKeys = new Map<string, string>();
    let gateway: Gateway | undefined;
    let consoleServer: RunningConsole | undefined;
    const keys = new KeyStore();
    if (opts.gateway) {
      const clients = new Map(requesters.map((a) => [a.did, clientFor(a)]));
      for (const a of requesters) apiKeys.set(a.did, keys.create(a.did, a.handle).key);
      gateway = await startGateway({
        keys,
        port: opts.gatewayPort ?? 0,
        clientFor: async (did) => {
          const c = clients.get(did);
          if (c) return c;
          // A key made on the console's API keys page spends through the console's OAuth session.
          if (consoleServer && isConsoleKeySession(keys.session(did))) return consoleServer.services.clientFor(did);
          throw new Error(`no session for ${did}`);
        },
        models: () => clients.values().next().value!.models(),
        limits: opts.gatewayLimits,
        price: () => clients.values().next().value!.policy().then((p) => p.value.tokenRate as TokenPrice | undefined),
        log: (l) => log(`gateway: ${l}`),
      });
      const g = gateway;
      stops.push(() => g.close());
    }

    if (opts.console) {
      const { startConsole } = await import("@cocore/console");
      consoleServer = await startConsole({
        exchangeUrl: exchange.url,
        exchangeDid: exchange.did,
        matchmakerUrl: matchmaker.url,
        plcUrl: network.plcUrl,
        handleResolver: network.pdsUrl,
        gatewayUrl: gateway ? `${gateway.url}/v1` : undefined,
        keys,
        stateDir: join(stateDir, "console"),
        port: opts.consolePort ?? 0,
        log: (l) => log(`console: ${l}`),
      });
      const c = consoleServer;
      stops.push(() => c.close());
    }

    return {
      network,
      exchange,
      matchmaker,
      agent,
      gateway,
      console: consoleServer,
      keys,
      apiKeys,
      accounts,
      model: modelId,
      stateDir,
      clientFor,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The cooperative's provider agent, started against its matchmaker and exchange; resolves once
 * the matchmaker lists it serving the model.
 */
export async function startLocalAgent(o: {
  opts: Pick<CooperativeOptions, "engine" | "model" | "modelId" | "agentPollMs">;
  pdsUrl: string;
  plcUrl: string;
  account: { did: string; handle: string; password: string };
  stateDir: string;
  matchmaker: Matchmaker;
  exchangeDid: string;
  log: (line: string) => void;
}): Promise<{ agent: RunningAgent; modelId: string }> {
  const stub = o.opts.engine === "stub";
  const modelId = stub ? "stub" : (o.opts.modelId ?? "fortunes-char");
  const agent = await startAgent({
    pds: o.pdsUrl,
    handle: o.account.handle,
    password: o.account.password,
    stateDir: join(o.stateDir, "agent"),
    engine: o.opts.engine ?? "llama",
    model: o.opts.model,
    modelId: stub ? undefined : modelId,
    matchmaker: o.matchmaker.url,
    exchange: o.exchangeDid,
    plc: o.plcUrl,
    machineLabel: "local agent",
    pollMs: o.opts.agentPollMs,
    log: (l) => o.log(`agent: ${l}`),
  });
  try {
    await waitUntil(() => o.matchmaker.registry.live(Date.now()).some((m) => m.provider === o.account.did && m.models.includes(modelId)), 60_000, "the agent to register with the matchmaker");
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return { agent, modelId };
}

export async function waitUntil(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${Math.round(ms / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
