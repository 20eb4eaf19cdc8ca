// Child-process half of startSplitCooperative (cooperative-split.ts): the PLC + PDS and the
// exchange, which in a deployment run on other processes or machines than the matchmaker and the
// provider's agent. Started with fork(); options arrive as JSON in argv[2]; it answers with one
// `ready` message (URLs, DIDs, account credentials) and stops on a `close` message or when the
// parent goes away.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalNetwork } from "@cocore/atproto";
import { startExchange, type PolicyParams } from "@cocore/exchange";

export interface ServicesOptions {
  dataDir?: string;
  policy?: Partial<PolicyParams>;
  providerHandle: string;
  requesters: string[];
}

export interface ServicesReady {
  type: "ready";
  plcUrl: string;
  pdsUrl: string;
  exchange: { did: string; url: string };
  accounts: Record<"exchange" | "matchmaker" | "provider", Credentials> & { requesters: Credentials[] };
}

export interface Credentials {
  did: string;
  handle: string;
  password: string;
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? "{}") as ServicesOptions;
  const stateDir = await mkdtemp(join(opts.dataDir ?? tmpdir(), "cocore-services-"));
  const network = await startLocalNetwork({ dataDir: stateDir, quiet: true });
  const creds = async (h: string): Promise<Credentials> => {
    const a = await network.createAccount(h);
    return { did: a.did, handle: a.handle, password: a.password };
  };
  const exchangeAcct = await creds("exchange");
  const matchmakerAcct = await creds("matchmaker");
  const provider = await creds(opts.providerHandle);
  const requesters: Credentials[] = [];
  for (const h of opts.requesters) requesters.push(await creds(h));
  const exchange = await startExchange({
    pdsUrl: network.pdsUrl,
    plcUrl: network.plcUrl,
    handle: exchangeAcct.handle,
    password: exchangeAcct.password,
    stateDir: join(stateDir, "exchange"),
    port: 0,
    host: "127.0.0.1",
    matchmakers: [matchmakerAcct.did],
    policy: opts.policy,
    log: () => {},
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await exchange.close().catch(() => {});
      await network.close().catch(() => {});
      await rm(stateDir, { recursive: true, force: true });
      process.exit(0);
    })();
    return closing;
  };
  process.on("message", (m) => {
    if ((m as { type?: string }).type === "close") void close();
  });
  process.on("disconnect", () => void close());
  const ready: ServicesReady = {
    type: "ready",
    plcUrl: network.plcUrl,
    pdsUrl: network.pdsUrl,
    exchange: { did: exchange.did, url: exchange.url },
    accounts: { exchange: exchangeAcct, matchmaker: matchmakerAcct, provider, requesters },
  };
  process.send!(ready);
}

main().catch((err: unknown) => {
  process.stderr.write(`cooperative services failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
