// Child-process half of startSplitCooperative (cooperative-split.ts): the PLC + PDS and the
// exchange, which in a deployment run on other processes or machines than the matchmaker and the
// provider's agent. Started with fork(); options arrive as JSON in argv[2]; it answers with one
// `ready` message (URLs, DIDs, account credentials) and stops on a `close` message or when the
// parent goes away.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalNetwork } from "@cocore/atproto";
import type { PolicyParams } from "@cocore/exchange";
import { seedCooperative } from "./cooperative-seed.ts";

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
  const { accounts, exchange } = await seedCooperative(network, { providerHandle: opts.providerHandle, requesters: opts.requesters, stateDir, log: () => {} });
  // Over IPC only what a login needs: the accounts' agents stay here.
  const creds = ({ did, handle, password }: Credentials): Credentials => ({ did, handle, password });
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
    accounts: { exchange: creds(accounts.exchange), matchmaker: creds(accounts.matchmaker), provider: creds(accounts.provider), requesters: accounts.requesters.map(creds) },
  };
  process.send!(ready);
}

main().catch((err: unknown) => {
  process.stderr.write(`cooperative services failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
