// The local cooperative split the way a deployment is: PLC + PDS and the exchange in a child
// process (cooperative-services.ts), the matchmaker, the provider's agent and the requesters' SDK
// clients in this one. Used by the dispatch benchmark, so that the exchange's admission and
// settlement work and the PDS's commits do not run on the event loop that relays the output and
// drives the engine (in one process the previous job's settlement stalls the next job's tokens,
// which no real deployment sees). startCooperative (cooperative.ts) remains the one-process form.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { login, type AtpAgent } from "@cocore/atproto";
import { CocoreClient } from "@cocore/client";
import { serviceAuthFromAgent, startMatchmaker, type Matchmaker } from "@cocore/matchmaker";
import type { RunningAgent } from "@cocore/agent";
import { startLocalAgent, type CooperativeOptions } from "./cooperative.ts";
import type { Credentials, ServicesOptions, ServicesReady } from "./cooperative-services.ts";

export interface SplitAccount extends Credentials {
  agent: AtpAgent;
}

export interface SplitCooperative {
  plcUrl: string;
  pdsUrl: string;
  exchange: { did: string; url: string };
  matchmaker: Matchmaker;
  agent: RunningAgent;
  accounts: { provider: SplitAccount; requesters: SplitAccount[] };
  model: string;
  /** The child process running PLC, PDS and the exchange. */
  services: ChildProcess;
  clientFor(account: SplitAccount): CocoreClient;
  close(): Promise<void>;
}

export type SplitCooperativeOptions = Pick<CooperativeOptions, "dataDir" | "policy" | "engine" | "model" | "modelId" | "requesters" | "providerHandle" | "matchmakerTimeouts" | "heartbeatIntervalMs" | "log">;

function startServices(opts: ServicesOptions): Promise<{ child: ChildProcess; ready: ServicesReady }> {
  const entry = fileURLToPath(new URL("./cooperative-services.ts", import.meta.url));
  // The CLI registers tsx through its API, which a child does not inherit: load it explicitly.
  const child = fork(entry, [JSON.stringify(opts)], { execArgv: ["--import", import.meta.resolve("tsx")], stdio: ["ignore", "ignore", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the services process exited (${code}) before it was ready`));
    child.once("exit", onExit);
    child.once("error", reject);
    child.once("message", (m) => {
      child.off("exit", onExit);
      resolve({ child, ready: m as ServicesReady });
    });
  });
}

export async function startSplitCooperative(opts: SplitCooperativeOptions = {}): Promise<SplitCooperative> {
  const log = opts.log ?? (() => {});
  const stateDir = await mkdtemp(join(opts.dataDir ?? tmpdir(), "cocore-split-"));
  const stops: Array<() => Promise<void>> = [async () => rm(stateDir, { recursive: true, force: true })];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((e: unknown) => log(`close: ${e instanceof Error ? e.message : String(e)}`));
  };
  try {
    const { child, ready } = await startServices({
      ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
      ...(opts.policy !== undefined && { policy: opts.policy }),
      providerHandle: opts.providerHandle ?? "provider",
      requesters: opts.requesters ?? ["requester"],
    });
    stops.push(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
          child.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
          child.send({ type: "close" });
        }),
    );
    const signIn = async (c: Credentials): Promise<SplitAccount> => ({ ...c, agent: await login(ready.pdsUrl, c.handle, c.password) });
    const matchmakerAgent = await login(ready.pdsUrl, ready.accounts.matchmaker.handle, ready.accounts.matchmaker.password);
    const matchmaker = await startMatchmaker({
      did: ready.accounts.matchmaker.did,
      serviceAuth: serviceAuthFromAgent(matchmakerAgent),
      repo: matchmakerAgent,
      exchange: ready.exchange,
      plcUrl: ready.plcUrl,
      port: 0,
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      timeouts: opts.matchmakerTimeouts,
      log: (l) => log(`matchmaker: ${l}`),
    });
    stops.push(() => matchmaker.close());

    const provider = ready.accounts.provider;
    const { agent, modelId } = await startLocalAgent({ opts, pdsUrl: ready.pdsUrl, plcUrl: ready.plcUrl, account: provider, stateDir, matchmaker, exchangeDid: ready.exchange.did, log });
    stops.push(() => agent.stop());

    const requesters: SplitAccount[] = [];
    for (const r of ready.accounts.requesters) requesters.push(await signIn(r));
    return {
      plcUrl: ready.plcUrl,
      pdsUrl: ready.pdsUrl,
      exchange: ready.exchange,
      matchmaker,
      agent,
      accounts: { provider: await signIn(provider), requesters },
      model: modelId,
      services: child,
      clientFor: (account) =>
        new CocoreClient({ agent: account.agent, matchmakerUrl: matchmaker.url, exchangeUrl: ready.exchange.url, exchangeDid: ready.exchange.did, plcUrl: ready.plcUrl }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
