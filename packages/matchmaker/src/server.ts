// The matchmaker service: agents on a WebSocket, requesters over HTTP (see wire.ts).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getRecord, makeIdResolver, resolvePds, type Agent, type IdResolver } from "@cocore/atproto";
import { generateSigningKey, type SigningKey } from "@cocore/protocol";
import { WebSocketServer, type WebSocket } from "ws";
import { AGENT_WS_PATH, DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_RESUME_GRACE_MS } from "@cocore/agent/matchmaker-protocol";
import { AgentHub } from "./agents.ts";
import { publishBrokerageKey } from "./brokerage-key.ts";
import { DispatchError } from "./codes.ts";
import { Dispatcher, type DispatchTimeouts } from "./dispatch.ts";
import { ExchangeClient, type ServiceAuth } from "./exchange-client.ts";
import { idleKeepalive, type IdleKeepalive } from "./stream-keepalive.ts";
import { DEFAULT_COOLDOWN_POLICY, type CooldownPolicy } from "./cooldown.ts";
import { DEFAULT_MATCHMAKER_LIMITS, DispatchGuard, type MatchmakerLimits } from "./limits.ts";
import { BodyTimeoutError, BodyTooLargeError, readCappedBody } from "@cocore/limits";
import { DEFAULT_QUEUE_LIMITS, JobQueues, type QueueLimits } from "./queues.ts";
import { activeFor, capacityFor, Registry, type MachineEntry } from "./registry.ts";
import type { CooldownStatus, DispatchEvent, DispatchRequest, MatchmakerIdentity, MatchmakerStatus, ModelInfo, ProviderOffer } from "./wire.ts";

export interface MatchmakerConfig {
  /** The matchmaker's own DID: it calls the exchange as this identity and signs countersignatures as it. */
  did: string;
  /** Mints service JWTs as `did` (serviceAuthFromKeypair / serviceAuthFromAgent). */
  serviceAuth: ServiceAuth;
  exchange: { did: string; url: string };
  /** Signs brokerageCountersignatures; a fresh key per process when not given. */
  brokerageKey?: SigningKey;
  /**
   * A session of the matchmaker's own account: the brokerage key is published there (a
   * dev.cocore.compute.brokerageKey record, brokerage-key.ts) before the matchmaker serves, so that
   * exchanges and clients can check its countersignatures. Without it nothing is published, and an
   * exchange that binds dispatched jobs keeps their receipts waiting for the key.
   */
  repo?: Agent;
  port?: number;
  host?: string;
  /** Resolves provider and requester DIDs (attestation checks, job confirmation). */
  plcUrl?: string;
  idResolver?: IdResolver;
  /** Check agent registrations against their attestation record and derive trust from it (default: when a resolver is given; without it every machine is self-attested). */
  verifyRegistrations?: boolean;
  /** Confirm each job record exists in the requester's repo, in parallel with admission (default: when a resolver is given). */
  confirmJobs?: boolean;
  /** How long the job-record check may take before the job counts as not confirmed (default 5 s). */
  confirmTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Bounds of each model's queue (default DEFAULT_QUEUE_LIMITS: 256 jobs, 180 s). */
  queue?: Partial<QueueLimits>;
  /** Abuse limits (default DEFAULT_MATCHMAKER_LIMITS, limits.ts). */
  limits?: Partial<MatchmakerLimits>;
  /** Silence after which a machine is dropped (default 3 heartbeat intervals). */
  staleAfterMs?: number;
  /** How often every agent connection is pinged (its pong, like a heartbeat, keeps it live; default the heartbeat interval, 250 ms to 5 s). */
  keepaliveIntervalMs?: number;
  /** A dispatch stream silent this long gets a `keepalive` event, so that proxies keep it open through a long prefill (default 15 s). */
  streamKeepaliveMs?: number;
  /** When machines and providers that keep failing are cooled down (default DEFAULT_COOLDOWN_POLICY, cooldown.ts). */
  cooldown?: Partial<CooldownPolicy>;
  /** The cool-down's clock (default Date.now); tests move it to end a cooling without waiting. */
  cooldownClock?: () => number;
  timeouts?: Partial<DispatchTimeouts>;
  log?: (msg: string) => void;
}

export interface Matchmaker {
  url: string;
  did: string;
  brokerageKey: string;
  registry: Registry;
  /** What GET /v1/status answers. */
  status(): MatchmakerStatus;
  /** Cuts a machine's agent socket without a close handshake, as a network fault would (fault tests); false: no such connection. */
  disconnectMachine(machineId: string): boolean;
  close(): Promise<void>;
}

export async function startMatchmaker(config: MatchmakerConfig): Promise<Matchmaker> {
  const log = config.log ?? ((m: string) => process.stderr.write(`matchmaker: ${m}\n`));
  const now = () => Date.now();
  const heartbeatIntervalMs = config.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const idResolver = config.idResolver ?? (config.plcUrl ? makeIdResolver(config.plcUrl) : undefined);
  const brokerageKey = config.brokerageKey ?? generateSigningKey();
  const streamKeepaliveMs = config.streamKeepaliveMs ?? 15_000;
  if (!Number.isSafeInteger(streamKeepaliveMs) || streamKeepaliveMs < 1) throw new RangeError(`streamKeepaliveMs must be a positive integer (got ${streamKeepaliveMs})`);
  const cooldown = checkedCooldown({ ...DEFAULT_COOLDOWN_POLICY, ...config.cooldown });
  const registry = new Registry({ staleAfterMs: config.staleAfterMs ?? 3 * heartbeatIntervalMs, cooldown, clock: config.cooldownClock });
  const timeouts: DispatchTimeouts = { acceptMs: 15_000, firstChunkMs: 120_000, idleMs: 60_000, reconnectGraceMs: 5_000, resumeGraceMs: DEFAULT_RESUME_GRACE_MS, ...config.timeouts };
  const limits: MatchmakerLimits = { ...DEFAULT_MATCHMAKER_LIMITS, ...config.limits };
  const guard = new DispatchGuard(limits);
  const queues = new JobQueues({ registry, limits: { ...DEFAULT_QUEUE_LIMITS, ...config.queue }, orphanGraceMs: timeouts.reconnectGraceMs, now });
  const status = (): MatchmakerStatus => ({ at: new Date(now()).toISOString(), models: queues.status(), cooldowns: cooldownStatus(registry) });
  const hub = new AgentHub({
    registry,
    heartbeatIntervalMs,
    verifyAttestations: config.verifyRegistrations ?? idResolver !== undefined,
    idResolver,
    maxClockSkewMs: 5 * 60_000,
    churnMs: cooldown.churnMs,
    resumeGraceMs: timeouts.resumeGraceMs,
    log,
    now,
  });
  const exchange = new ExchangeClient({ did: config.exchange.did, url: config.exchange.url, auth: config.serviceAuth });
  const confirmJob =
    (config.confirmJobs ?? idResolver !== undefined) && idResolver
      ? (job: { uri: string; cid: string }) =>
          // A requester's PDS that never answers must not hold the dispatch (and the hold) open.
          orFalseAfter(config.confirmTimeoutMs ?? 5_000, async () => {
            const [, , did, collection, rkey] = job.uri.split("/");
            const rec = await getRecord(await resolvePds(idResolver, did!), did!, collection!, rkey!);
            return rec?.cid === job.cid;
          })
      : undefined;
  const dispatcher = new Dispatcher({
    did: config.did,
    brokerageKey,
    registry,
    hub,
    queues,
    exchange,
    confirmJob,
    guard,
    log,
    now,
    timeouts,
  });
  if (config.repo && config.repo.assertDid !== config.did) throw new Error(`the matchmaker's repo session is ${config.repo.assertDid}, not its DID ${config.did}`);
  const published = config.repo ? await publishBrokerageKey(config.repo, brokerageKey.publicKey, new Date(now()).toISOString()) : undefined;
  const identity: MatchmakerIdentity = {
    did: config.did,
    exchange: config.exchange.did,
    brokerageKey: brokerageKey.publicKey,
    ...(published ? { brokerageKeyRecord: published.uri } : {}),
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log(`request failed: ${err instanceof Error ? err.stack : String(err)}`);
      if (!res.headersSent) sendError(res, new DispatchError("internal_error", "The matchmaker failed on this request."));
      else res.end();
    });
  });
  // ws refuses a frame over maxPayload from its header, before reading it, and closes 1009.
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxAgentMessageBytes });
  server.on("upgrade", (req, socket, head) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path !== AGENT_WS_PATH) {
      socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => hub.accept(withCloseReasons(ws, limits.maxAgentMessageBytes)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "GET /v1/health":
        return sendJson(res, 200, { ok: true, machines: registry.live(now()).length });
      case "GET /v1/identity":
        return sendJson(res, 200, identity);
      case "GET /v1/status":
        return sendJson(res, 200, status());
      case "GET /v1/providers": {
        const model = url.searchParams.get("model");
        const list = registry.live(now()).filter((m) => !model || m.models.includes(model));
        return sendJson(res, 200, { providers: list.map(offer) });
      }
      case "GET /v1/models":
        return sendJson(res, 200, { models: modelList(registry.live(now())) });
      case "GET /v1/offer": {
        const model = url.searchParams.get("model");
        if (!model) return sendError(res, new DispatchError("invalid_request", "GET /v1/offer needs ?model=."));
        try {
          const fitting = registry.candidates(
            {
              model,
              acceptedTrustLevel: url.searchParams.get("trust") ?? "self-attested",
              acceptedProviders: url.searchParams.getAll("provider"),
              exchange: config.exchange.did,
              needs: { tools: url.searchParams.get("tools") === "1", structuredOutput: url.searchParams.get("structuredOutput") === "1" },
            },
            now(),
          );
          // A requester re-sealing a job whose machine produced nothing names the machines it tried.
          const exclude = new Set(url.searchParams.getAll("exclude"));
          const open = fitting.filter((m) => !exclude.has(m.machineId));
          if (open.length === 0) throw new DispatchError("no_other_providers", `No live machine other than the ${exclude.size} already tried serves "${model}" for this job right now.`);
          // Busy machines are offered too (the job then waits in line): the one whose slots have
          // the fewest jobs running or waiting for them, since a job sealed to it can run only there.
          const load = (m: MachineEntry) => (activeFor(m, model) + queues.waitingFor(m)) / capacityFor(m, model);
          const best = open.map((m) => ({ m, load: load(m) })).sort((a, b) => a.load - b.load)[0]!.m;
          return sendJson(res, 200, { offer: offer(best), exchange: config.exchange.did, matchmaker: config.did });
        } catch (err) {
          if (err instanceof DispatchError) return sendError(res, err);
          throw err;
        }
      }
      case "POST /v1/dispatch":
        return dispatch(req, res);
      default:
        return sendJson(res, 404, { error: { code: "not_found", message: `No route ${route}.` } });
    }
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The address's budget first: it costs nothing, and nothing else is done for a refused dispatch.
    const refused = guard.door(req.socket.remoteAddress ?? "unknown", now());
    if (refused) {
      req.resume();
      return sendError(res, refused);
    }
    let body: DispatchRequest;
    try {
      body = JSON.parse(await readBody(req, limits.maxBodyBytes)) as DispatchRequest;
    } catch (err) {
      return sendError(res, err instanceof DispatchError ? err : new DispatchError("invalid_request", "The dispatch body is not JSON."));
    }
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    req.socket.setNoDelay(true);
    const write = (e: DispatchEvent) => {
      if (!res.writableEnded) res.write(JSON.stringify(e) + "\n");
    };
    // Armed once streaming starts: from then on nothing else tells a proxy the stream is alive.
    let keepalive: IdleKeepalive | undefined;
    try {
      await dispatcher.run(body, {
        signal: abort.signal,
        start: () => {
          res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
          keepalive = idleKeepalive(streamKeepaliveMs, () => write({ type: "keepalive" }));
        },
        event: (e: DispatchEvent) => {
          keepalive?.touch();
          write(e);
        },
      });
      res.end();
    } catch (err) {
      if (!(err instanceof DispatchError)) throw err;
      sendError(res, err);
    } finally {
      keepalive?.stop();
    }
  }

  const ticker = setInterval(() => hub.tick(), config.keepaliveIntervalMs ?? Math.max(250, Math.min(heartbeatIntervalMs, 5_000)));
  ticker.unref();

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port ?? 0, config.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.address.includes(":") ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host === "127.0.0.1" ? "localhost" : host}:${addr.port}`,
    did: config.did,
    brokerageKey: brokerageKey.publicKey,
    registry,
    status,
    disconnectMachine: (machineId) => hub.disconnect(machineId),
    close() {
      closing ??= (async () => {
        clearInterval(ticker);
        queues.close();
        hub.closeAll();
        wss.close();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      })();
      return closing;
    },
  };

  function offer(m: MachineEntry): ProviderOffer {
    return {
      machineId: m.machineId,
      provider: m.provider,
      providerRecord: m.providerRecord,
      machineLabel: m.machineLabel,
      models: m.models,
      trustLevel: m.trustLevel,
      encryptionPubKey: m.encryptionPubKey,
      attestationPubKey: m.attestationPubKey,
      attestation: m.attestation,
      acceptedExchanges: m.acceptedExchanges,
      capacity: m.capacity,
      active: m.active,
      ...(m.capacityByModel ? { capacityByModel: m.capacityByModel } : {}),
      ...(m.capabilitiesByModel ? { capabilitiesByModel: m.capabilitiesByModel } : {}),
      activeByModel: Object.fromEntries(m.models.map((id) => [id, activeFor(m, id)])),
      version: m.version,
      lastSeenMsAgo: Math.max(0, now() - m.lastSeen),
    };
  }
}

/** The registry's cool-downs as GET /v1/status shows them (times as ISO strings). */
function cooldownStatus(registry: Registry): CooldownStatus[] {
  return registry.cooldowns().map(({ coolingUntil, ...c }) => ({ ...c, ...(coolingUntil !== undefined && { coolingUntil: new Date(coolingUntil).toISOString() }) }));
}

/** A cool-down policy whose numbers make sense (a zero threshold would cool every machine at once). */
function checkedCooldown(p: CooldownPolicy): CooldownPolicy {
  for (const k of ["threshold", "providerThreshold", "baseMs", "maxMs"] as const) {
    if (!Number.isSafeInteger(p[k]) || p[k] < 1) throw new RangeError(`cooldown.${k} must be a positive integer (got ${p[k]})`);
  }
  for (const k of ["quietMs", "churnMs"] as const) {
    if (!Number.isSafeInteger(p[k]) || p[k] < 0) throw new RangeError(`cooldown.${k} must be a non-negative integer (got ${p[k]})`);
  }
  if (p.maxMs < p.baseMs) throw new RangeError(`cooldown.maxMs (${p.maxMs}) must be at least cooldown.baseMs (${p.baseMs})`);
  return p;
}

/**
 * Per model: distinct providers, and what the live machines serving it can do (tools and
 * structured output when at least one machine serves them; the largest context any offers).
 */
export function modelList(machines: MachineEntry[]): ModelInfo[] {
  const models = new Map<string, { providers: Set<string>; tools: boolean; structuredOutput: boolean; contextLength: number }>();
  for (const m of machines) {
    for (const id of m.models) {
      let e = models.get(id);
      if (!e) models.set(id, (e = { providers: new Set(), tools: false, structuredOutput: false, contextLength: 0 }));
      e.providers.add(m.provider);
      const c = m.capabilitiesByModel?.[id];
      e.tools ||= c?.tools === true;
      e.structuredOutput ||= c?.structuredOutput === true;
      e.contextLength = Math.max(e.contextLength, c?.contextLength ?? 0);
    }
  }
  return [...models].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, e]) => ({
    id,
    providers: e.providers.size,
    capabilities: { tools: e.tools, structuredOutput: e.structuredOutput, contextLength: e.contextLength },
  }));
}

/**
 * ws closes a socket that breaks the protocol (a message over maxPayload: 1009; bad framing: 1002;
 * text that is not UTF-8: 1007) with the bare code. This gives each close a reason the agent's
 * operator can act on; a close with its own reason is left as it is.
 */
function withCloseReasons(ws: WebSocket, maxBytes: number): WebSocket {
  const reasons: Record<number, string> = {
    1002: "protocol_error: malformed WebSocket frame",
    1007: "bad_message: text frame is not UTF-8",
    1009: `message_too_large: at most ${maxBytes} bytes per message`,
  };
  const close = ws.close.bind(ws);
  ws.close = (code?: number, reason?: string | Buffer) => close(code, reason ?? (code !== undefined ? reasons[code] : undefined));
  return ws;
}

/** `check()`'s answer, or false when it fails or takes longer than `ms`. */
function orFalseAfter(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    check().then(
      (ok) => {
        clearTimeout(timer);
        resolve(ok);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  try {
    return await readCappedBody(req, maxBytes, { timeoutMs: 30_000 });
  } catch (e) {
    if (e instanceof BodyTooLargeError) throw new DispatchError("body_too_large", e.message);
    if (e instanceof BodyTimeoutError) throw new DispatchError("invalid_request", e.message);
    throw e;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, err: DispatchError): void {
  // A refusal that says when to come back (queue_full) says it in HTTP's own terms too.
  const retryAfterMs = Number(err.details.retryAfterMs);
  const headers: Record<string, string> = retryAfterMs > 0 ? { "retry-after": String(Math.ceil(retryAfterMs / 1000)) } : {};
  sendJson(res, err.status, { error: err.toJSON() }, headers);
}
