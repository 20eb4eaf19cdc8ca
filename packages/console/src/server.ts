// The console's server: the built app, the console's JSON API (thin handlers over the exchange,
// the matchmaker and the member's PDS, acting through the member's OAuth session) and the OAuth
// callback. Plain node:http, like the gateway.
import { mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Agent } from "@atproto/api";
import { makeIdResolver } from "@cocore/atproto";
import { CocoreClient } from "@cocore/client";
import type { KeyStore } from "@cocore/gateway";
import { DIST_DIR } from "./build.ts";
import type { ConsoleServices, Route, RouteContext } from "./context.ts";
import { openConsoleDb } from "./db.ts";
import { ConsoleError, notSignedIn } from "./errors.ts";
import { assertSameOrigin, readJson, sendError, sendJson } from "./http.ts";
import { createOAuthClient } from "./oauth.ts";
import { authRoutes } from "./routes/auth.ts";
import { homeRoutes } from "./routes/home.ts";
import { chatRoutes } from "./routes/chat.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { machineRoutes } from "./routes/machines.ts";
import { keyRoutes } from "./routes/keys.ts";
import { pairingRoutes } from "./routes/pairing.ts";
import { deviceProxyRoutes } from "./routes/device-proxy.ts";
import { docsRoutes } from "./routes/docs.ts";
import { explorerRoutes } from "./routes/explorer.ts";
import { DeviceStore } from "./devices.ts";
import { StaticFiles } from "./static.ts";
import { WebSessions } from "./web-session.ts";

export interface ConsoleConfig {
  exchangeUrl: string;
  /** Default: as the exchange's policy names it. */
  exchangeDid?: string;
  matchmakerUrl: string;
  plcUrl: string;
  /** Where handles resolve: a PDS URL (local networks); default DNS/HTTPS. */
  handleResolver?: string;
  /** The OpenAI-compatible API's base URL (…/v1), for the keys page's example. */
  gatewayUrl?: string;
  /** The gateway's key store (same files as `cocore apikey`). */
  keys?: KeyStore;
  /** Holds console.sqlite. */
  stateDir: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Accept http:// PDSes and authorization servers (local development). Default true. */
  allowHttp?: boolean;
  distDir?: string;
  /** More routes (the later pages' handlers). */
  routes?: Route[];
  log?: (line: string) => void;
}

export interface RunningConsole {
  url: string;
  services: ConsoleServices;
  close(): Promise<void>;
}

export async function startConsole(config: ConsoleConfig): Promise<RunningConsole> {
  const log = config.log ?? ((l: string) => process.stderr.write(`console: ${l}\n`));
  mkdirSync(config.stateDir, { recursive: true });
  const db = openConsoleDb(join(config.stateDir, "console.sqlite"));
  const files = new StaticFiles(config.distDir ?? DIST_DIR);
  const routes: Route[] = [...authRoutes, ...homeRoutes, ...chatRoutes, ...jobRoutes, ...machineRoutes, ...keyRoutes, ...pairingRoutes, ...deviceProxyRoutes, ...docsRoutes, ...explorerRoutes, ...(config.routes ?? [])];
  let services: ConsoleServices | undefined;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = err instanceof ConsoleError ? err : new ConsoleError(500, "internal_error", "The console failed on this request.");
      if (!(err instanceof ConsoleError)) log(`${req.method} ${req.url}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      if (!res.headersSent) sendError(res, e);
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = services;
    if (!s) throw new ConsoleError(503, "starting", "The console is starting.");
    const url = new URL(req.url ?? "/", s.origin);
    for (const r of routes) {
      if (r.method !== req.method) continue;
      const m = typeof r.path === "string" ? (r.path === url.pathname ? [url.pathname] : null) : r.path.exec(url.pathname);
      if (!m) continue;
      if (r.sameOrigin ?? r.method !== "GET") assertSameOrigin(req, s.origin);
      const session = s.sessions.of(req);
      let body: Promise<Record<string, unknown>> | undefined;
      const c: RouteContext = {
        req, res, url, session, s,
        params: m.slice(1).map((p) => decodeURIComponent(p ?? "")),
        member: () => session ?? (() => { throw notSignedIn(); })(),
        body: () => (body ??= readJson(req)),
      };
      const out = await r.handler(c);
      if (out !== undefined && !res.headersSent) sendJson(res, 200, out);
      return;
    }
    if (url.pathname.startsWith("/api/")) throw new ConsoleError(404, "not_found", `No route ${req.method} ${url.pathname}.`);
    if (req.method !== "GET" && req.method !== "HEAD") throw new ConsoleError(405, "method_not_allowed", `${req.method} is not allowed here.`);
    files.serve(url.pathname, res);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // 127.0.0.1, not localhost: the OAuth loopback redirect must be on an IP (RFC 8252).
    server.listen(config.port ?? 0, "127.0.0.1", () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const oauth = createOAuthClient({ db, origin, plcUrl: config.plcUrl, handleResolver: config.handleResolver, allowHttp: config.allowHttp ?? true });
  const agents = new Map<string, Promise<Agent>>();
  const clients = new Map<string, Promise<CocoreClient>>();
  const agentFor = (did: string): Promise<Agent> => {
    let a = agents.get(did);
    if (!a) {
      a = oauth.restore(did).then((session) => new Agent(session));
      agents.set(did, a);
      a.catch(() => agents.delete(did));
    }
    return a;
  };
  services = {
    db, oauth, origin, log,
    sessions: new WebSessions(db, origin),
    devices: new DeviceStore(db),
    keys: config.keys,
    exchangeUrl: config.exchangeUrl,
    matchmakerUrl: config.matchmakerUrl,
    plcUrl: config.plcUrl,
    idResolver: makeIdResolver(config.plcUrl),
    ...(config.handleResolver ? { handleResolver: config.handleResolver } : {}),
    gatewayUrl: config.gatewayUrl,
    agentFor,
    clientFor(did) {
      let c = clients.get(did);
      if (!c) {
        c = agentFor(did).then((agent) => new CocoreClient({ agent, matchmakerUrl: config.matchmakerUrl, exchangeUrl: config.exchangeUrl, exchangeDid: config.exchangeDid, plcUrl: config.plcUrl, userAgent: "cocore-console/0.1.0" }));
        clients.set(did, c);
        c.catch(() => clients.delete(did));
      }
      return c;
    },
    forget(did) {
      agents.delete(did);
      clients.delete(did);
    },
  };
  log(`console at ${origin}`);
  return {
    url: origin,
    services,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          db.close();
          resolve();
        });
      }),
  };
}
