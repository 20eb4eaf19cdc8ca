// An in-process AT Protocol network: one PLC directory (in-memory) and one PDS (SQLite + disk
// blobstore in a fresh temp dir). For tests and `cocore up`; nothing here is production config.
import { randomBytes } from "node:crypto";
import { statfsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AtpAgent } from "@atproto/api";
import type { Keypair } from "@atproto/crypto";
import type { PDS } from "@atproto/pds";
import type { PlcServer } from "@did-plc/server";
import { AtprotoError, describe, isXrpcError } from "./errors.ts";
import { makeIdResolver, type IdResolver } from "./identity.ts";

export interface LocalNetworkOptions {
  /** 0 (default) picks a free port. */
  plcPort?: number;
  /** 0 (default) picks a free port. */
  pdsPort?: number;
  /**
   * Parent directory for this network's temp data. Default: /dev/shm when it is a roomy tmpfs
   * (every PDS commit fsyncs SQLite; on disk that costs ~3x), else the OS temp dir.
   */
  dataDir?: string;
  /** Host name the PDS advertises (default "localhost"); URLs stay http://. */
  hostname?: string;
  /**
   * Default true. The @atproto loggers read LOG_ENABLED once, when first loaded, so `false` only
   * takes effect if no @atproto server module has been loaded in this process yet.
   */
  quiet?: boolean;
}

export interface Account {
  did: string;
  handle: string;
  password: string;
  /** Logged in as this account. */
  agent: AtpAgent;
}

export interface LocalNetwork {
  plcUrl: string;
  pdsUrl: string;
  /** The PDS's service DID (did:web of its host name). */
  pdsDid: string;
  /** Handle suffix accepted by the PDS (".test"). */
  handleDomain: string;
  /** The temp directory holding the PDS data; removed by close(). */
  dataDir: string;
  /** A resolver pointed at this network's PLC (plain fetch, in-memory DID cache). */
  idResolver: IdResolver;
  /**
   * Creates an account; `handle` without a dot gets the ".test" suffix; random password by default.
   * Names the PDS reserves at sign-up (e.g. "exchange") are assigned through its admin API.
   */
  createAccount(handle: string, password?: string): Promise<Account>;
  /** The repo signing key the PDS holds for a local account (tests: forge or sign as the account). */
  signingKeypair(did: string): Promise<Keypair>;
  /** The running PDS, for what the helpers do not cover. */
  pds: PDS;
  /** Stops both servers and deletes the temp data. Safe to call more than once. */
  close(): Promise<void>;
}

const HANDLE_DOMAIN = ".test";

export async function startLocalNetwork(opts: LocalNetworkOptions = {}): Promise<LocalNetwork> {
  const quiet = opts.quiet !== false;
  // Both servers' pino loggers read these when their modules first load, hence the dynamic imports.
  if (quiet) process.env.LOG_ENABLED = "false";
  else {
    process.env.LOG_ENABLED ??= "true";
    // pino writes to stdout by default, which belongs to the program embedding the network.
    if (process.platform !== "win32") process.env.LOG_DESTINATION ??= "/dev/stderr";
  }
  const [{ PlcServer, Database: PlcDatabase }, pdsMod, { Secp256k1Keypair }] = await Promise.all([
    import("@did-plc/server"),
    import("@atproto/pds"),
    import("@atproto/crypto"),
  ]);

  const parent = opts.dataDir ?? defaultDataParent();
  await mkdir(parent, { recursive: true });
  const dataDir = await mkdtemp(join(parent, "cocore-net-"));
  const hostname = opts.hostname ?? "localhost";
  let plc: PlcServer | undefined;
  let pds: PDS | undefined;

  const stop = async () => {
    const errors: unknown[] = [];
    await pds?.destroy().catch((e: unknown) => errors.push(e));
    await plc?.destroy().catch((e: unknown) => errors.push(e));
    await rm(dataDir, { recursive: true, force: true }).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw new AggregateError(errors, "local network did not close cleanly");
  };

  try {
    plc = PlcServer.create({ db: PlcDatabase.mock(), port: opts.plcPort ?? 0 });
    const plcServer = await listenOrExplain("PLC", opts.plcPort, () => plc!.start());
    const plcPort = (plcServer.address() as AddressInfo).port;
    const plcUrl = `http://localhost:${plcPort}`;

    const pdsPort = opts.pdsPort || (await freePort());
    const rotationKey = await Secp256k1Keypair.create({ exportable: true });
    const recoveryKey = await Secp256k1Keypair.create();
    const adminPassword = randomBytes(16).toString("hex");
    const env: import("@atproto/pds").ServerEnvironment = {
      port: pdsPort,
      hostname,
      devMode: true,
      dataDirectory: dataDir,
      blobstoreDiskLocation: join(dataDir, "blobs"),
      blobstoreDiskTmpLocation: join(dataDir, "blobs-tmp"),
      didPlcUrl: plcUrl,
      serviceHandleDomains: [HANDLE_DOMAIN],
      inviteRequired: false,
      disableSsrfProtection: true,
      rateLimitsEnabled: false,
      crawlers: [],
      recoveryDidKey: recoveryKey.did(),
      plcRotationKeyK256PrivateKeyHex: Buffer.from(await rotationKey.export()).toString("hex"),
      jwtSecret: randomBytes(16).toString("hex"),
      adminPassword,
      serviceName: "cocore local PDS",
    };
    const cfg = pdsMod.envToCfg(env);
    const pdsUrl = `http://${hostname}:${pdsPort}`;
    // envToCfg assumes https for any host name other than localhost; this network is plain http.
    cfg.service.publicUrl = pdsUrl;
    pds = await pdsMod.PDS.create(cfg, pdsMod.envToSecrets(env));
    await listenOrExplain("PDS", opts.pdsPort, () => pds!.start());

    const runningPds = pds;
    const idResolver = makeIdResolver(plcUrl);
    let closing: Promise<void> | undefined;

    return {
      plcUrl,
      pdsUrl,
      pdsDid: cfg.service.did,
      handleDomain: HANDLE_DOMAIN,
      dataDir,
      idResolver,
      pds: runningPds,
      async createAccount(handle, password) {
        const fullHandle = handle.includes(".") ? handle : `${handle}${HANDLE_DOMAIN}`;
        const pw = password ?? randomBytes(12).toString("base64url");
        const agent = new AtpAgent({ service: pdsUrl });
        const create = (h: string) => agent.createAccount({ handle: h, password: pw, email: `${h}@example.com` });
        try {
          try {
            const res = await create(fullHandle);
            return { did: res.data.did, handle: res.data.handle, password: pw, agent };
          } catch (err) {
            if (!(isXrpcError(err) && /reserved handle/i.test(err.message))) throw err;
          }
          // The PDS reserves names like "exchange" for sign-up, but an admin may assign them.
          const res = await create(`tmp${randomBytes(6).toString("hex")}${HANDLE_DOMAIN}`);
          await agent.com.atproto.admin.updateAccountHandle(
            { did: res.data.did, handle: fullHandle },
            { headers: { authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString("base64")}` } },
          );
          const renamed = new AtpAgent({ service: pdsUrl });
          await renamed.login({ identifier: res.data.did, password: pw });
          return { did: res.data.did, handle: fullHandle, password: pw, agent: renamed };
        } catch (err) {
          throw new AtprotoError("request_failed", `cannot create account ${fullHandle}: ${describe(err)}`, { cause: err });
        }
      },
      signingKeypair: (did) => runningPds.ctx.actorStore.keypair(did),
      close() {
        closing ??= stop();
        return closing;
      },
    };
  } catch (err) {
    await stop().catch(() => {});
    if (err instanceof AtprotoError) throw err;
    throw new AtprotoError("network_start_failed", `local network did not start: ${describe(err)}`, { cause: err });
  }
}

const SHM = "/dev/shm";
const SHM_MIN_FREE = 1 << 30; // containers often mount a 64 MB /dev/shm: too small to rely on

function defaultDataParent(): string {
  if (process.platform !== "linux") return tmpdir();
  try {
    const fs = statfsSync(SHM);
    if (fs.bavail * fs.bsize >= SHM_MIN_FREE) return SHM;
  } catch {
    // no /dev/shm
  }
  return tmpdir();
}

async function listenOrExplain<T>(what: string, port: number | undefined, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "EADDRINUSE") {
      throw new AtprotoError("network_start_failed", `${what} port ${port} is already in use`, { cause: err });
    }
    throw err;
  }
}

/** The PDS must know its port before it starts (it is part of its public URL), so ask the OS. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
