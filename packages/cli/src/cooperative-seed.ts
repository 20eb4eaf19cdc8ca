// What both cooperative layouts (cooperative.ts in one process, cooperative-services.ts in a
// child) start the same way: the accounts on a fresh local network, then the exchange on its own
// account with the matchmaker's DID allowed to admit jobs. Kept apart from cooperative.ts so that
// the services child does not load the agent, matchmaker and gateway.
import { join } from "node:path";
import type { Account, LocalNetwork } from "@cocore/atproto";
import { startExchange, type Exchange, type PolicyParams } from "@cocore/exchange";

export interface SeedAccounts {
  exchange: Account;
  matchmaker: Account;
  provider: Account;
  requesters: Account[];
}

export interface SeedOptions {
  providerHandle: string;
  requesters: string[];
  /** The exchange's state goes under `stateDir/exchange`. */
  stateDir: string;
  port?: number;
  policy?: Partial<PolicyParams>;
  log: (line: string) => void;
}

/** Creates the cooperative's accounts on `network` and starts its exchange. */
export async function seedCooperative(network: LocalNetwork, opts: SeedOptions): Promise<{ accounts: SeedAccounts; exchange: Exchange }> {
  const exchangeAcct = await network.createAccount("exchange");
  const matchmaker = await network.createAccount("matchmaker");
  const provider = await network.createAccount(opts.providerHandle);
  const requesters: Account[] = [];
  for (const h of opts.requesters) requesters.push(await network.createAccount(h));
  const exchange = await startExchange({
    pdsUrl: network.pdsUrl,
    plcUrl: network.plcUrl,
    handle: exchangeAcct.handle,
    password: exchangeAcct.password,
    stateDir: join(opts.stateDir, "exchange"),
    port: opts.port ?? 0,
    host: "127.0.0.1",
    matchmakers: [matchmaker.did],
    policy: opts.policy,
    log: opts.log,
  });
  return { accounts: { exchange: exchangeAcct, matchmaker, provider, requesters }, exchange };
}
