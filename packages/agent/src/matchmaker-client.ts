// The agent's side of the matchmaker WebSocket (matchmaker-protocol.ts): register, heartbeat,
// liveness via ping/pong, and reconnect with full-jitter exponential backoff. After
// `faultAfterFailures` consecutive failed attempts it reports a fault (the agent records it as
// advisorFault on the provider record) and keeps trying; a later registration clears it.
import WebSocket from "ws";
import {
  AGENT_PROTOCOL_VERSION,
  AGENT_WS_PATH,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  decodeMessage,
  encodeMessage,
  type AgentToMatchmaker,
  type HeartbeatMessage,
  type JobMessage,
  type MatchmakerToAgent,
  type RegisterMessage,
} from "./matchmaker-protocol.ts";

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

/** How long a connection waits for the matchmaker's challenge before it gives up on it. */
const CHALLENGE_WAIT_MS = 10_000;

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2 };

/** Full jitter: uniform in [0, min(max, initial·factor^attempt)] — spreads a fleet's reconnects. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const cap = Math.min(opts.maxMs, opts.initialMs * opts.factor ** attempt);
  return Math.round(random() * cap);
}

export interface MatchmakerClientOptions {
  /** Base URL (http(s):// or ws(s)://); `/v1/agent` is appended unless the URL already has a path. */
  url: string;
  /** Builds a fresh register message answering this connection's challenge `nonce`, signed. */
  register(challenge: string): Promise<RegisterMessage>;
  /** Current status for heartbeats. */
  status(): Omit<HeartbeatMessage, "type" | "at">;
  onJob(msg: JobMessage): void;
  onCancel(jobUri: string): void;
  /** The matchmaker relayed a job's chunks up to `seq` (`final`: and its terminal message). */
  onAck?(jobUri: string, seq: number, final: boolean): void;
  /** The exchange admitted a job dispatched with admission pending. */
  onAdmitted?(jobUri: string): void;
  /** The session ended (jobs still awaiting admission will never get it). */
  onDisconnected?(): void;
  onConnected(): void;
  onFault(fault: { code: string; message: string }): void;
  faultAfterFailures?: number;
  backoff?: BackoffOptions;
  log?: (line: string) => void;
}

export function agentSocketUrl(base: string): string {
  const u = new URL(base);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.pathname === "/" || u.pathname === "") u.pathname = AGENT_WS_PATH;
  return u.toString();
}

export class MatchmakerClient {
  private ws: WebSocket | undefined;
  private stopped = false;
  private failures = 0;
  private registered = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private missedPongs = 0;
  private faulted = false;
  private readonly readyWaiters: Array<() => void> = [];
  private graceMs: number | undefined;

  constructor(private readonly opts: MatchmakerClientOptions) {}

  get connected(): boolean {
    return this.registered && this.ws?.readyState === WebSocket.OPEN;
  }

  /** How long the matchmaker of the last session holds a job after a drop (undefined: it does not resume jobs). */
  get resumeGraceMs(): number | undefined {
    return this.graceMs;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  start(): void {
    this.connect();
  }

  /** Resolves at the first successful registration. */
  whenRegistered(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  send(msg: AgentToMatchmaker): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encodeMessage(msg));
    return true;
  }

  /** Sends a heartbeat now (status changed). */
  heartbeat(): void {
    if (this.registered) this.send({ type: "heartbeat", at: new Date().toISOString(), ...this.opts.status() });
  }

  async stop(reason = "shutting down"): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeatTimer);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    if (ws.readyState === WebSocket.OPEN) this.send({ type: "bye", reason });
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once("close", () => {
        clearTimeout(t);
        resolve();
      });
      ws.close(1000, reason);
    });
  }

  private connect(): void {
    if (this.stopped) return;
    const url = agentSocketUrl(this.opts.url);
    // ws's default maxPayload is 100 MiB; a job message (sealed input included) is far smaller.
    const ws = new WebSocket(url, { handshakeTimeout: 10_000, maxPayload: 16 * 1024 * 1024 });
    this.ws = ws;
    this.registered = false;
    let opened = false;

    // The matchmaker speaks first (a challenge); one that does not is not one we can register with.
    let challengeTimer: NodeJS.Timeout | undefined;
    ws.on("open", () => {
      opened = true;
      challengeTimer = setTimeout(() => {
        this.opts.log?.(`matchmaker ${url}: no challenge within ${CHALLENGE_WAIT_MS / 1000} s (an agent protocol ${AGENT_PROTOCOL_VERSION} matchmaker sends one at once); reconnecting`);
        ws.terminate();
      }, CHALLENGE_WAIT_MS);
    });
    const answer = (nonce: string) => {
      clearTimeout(challengeTimer);
      this.opts
        .register(nonce)
        .then((reg) => {
          if (this.ws === ws) this.send(reg);
        })
        .catch((err: unknown) => {
          this.opts.log?.(`matchmaker: cannot build registration: ${String(err)}`);
          ws.terminate();
        });
    };
    ws.on("pong", () => {
      this.missedPongs = 0;
    });
    ws.on("message", (data) => {
      const msg = decodeMessage<MatchmakerToAgent>(data.toString());
      if (!msg) return;
      switch (msg.type) {
        case "challenge":
          if (!this.registered && typeof msg.nonce === "string") answer(msg.nonce);
          break;
        case "registered":
          this.graceMs = typeof msg.resumeGraceMs === "number" && msg.resumeGraceMs > 0 ? msg.resumeGraceMs : undefined;
          this.onRegistered(msg.heartbeatIntervalMs);
          break;
        case "rejected":
          this.opts.log?.(`matchmaker rejected the registration: ${msg.code}: ${msg.message}`);
          this.noteFailure(`rejected: ${msg.code}: ${msg.message}`);
          break;
        case "job":
          if (this.registered) this.opts.onJob(msg);
          break;
        case "ack":
          if (typeof msg.jobUri === "string" && Number.isSafeInteger(msg.seq)) this.opts.onAck?.(msg.jobUri, msg.seq, msg.final === true);
          break;
        case "admitted":
          this.opts.onAdmitted?.(msg.jobUri);
          break;
        case "cancel":
          this.opts.onCancel(msg.jobUri);
          break;
        case "ignored":
          // The matchmaker did not act on a frame we sent: a bug on one side or the other.
          this.opts.log?.(`matchmaker ignored a message: ${msg.code}: ${msg.message}`);
          break;
      }
    });
    ws.on("error", (err) => {
      this.opts.log?.(`matchmaker ${url}: ${err.message}`);
    });
    ws.on("close", () => {
      clearTimeout(challengeTimer);
      clearInterval(this.heartbeatTimer);
      const wasRegistered = this.registered;
      this.registered = false;
      if (wasRegistered) this.opts.onDisconnected?.();
      if (this.stopped) return;
      // A session that registered and later dropped starts the count afresh.
      if (!wasRegistered) this.noteFailure(opened ? "connection closed before registration" : `cannot connect to ${url}`);
      this.scheduleReconnect();
    });
  }

  private noteFailure(reason: string): void {
    this.failures++;
    const threshold = this.opts.faultAfterFailures ?? 5;
    if (this.failures >= threshold && !this.faulted) {
      this.faulted = true;
      this.opts.onFault({ code: "advisor-unreachable", message: `${this.failures} consecutive attempts to reach the matchmaker ${this.opts.url} failed (last: ${reason}); retrying with backoff. Check the --matchmaker URL and the network.` });
    }
  }

  private scheduleReconnect(): void {
    const attempt = Math.max(0, this.failures - 1);
    const delay = backoffDelay(attempt, this.opts.backoff ?? DEFAULT_BACKOFF);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private onRegistered(intervalMs: number | undefined): void {
    this.registered = true;
    this.failures = 0;
    this.faulted = false;
    this.missedPongs = 0;
    const every = intervalMs && intervalMs > 0 ? intervalMs : DEFAULT_HEARTBEAT_INTERVAL_MS;
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      if (this.missedPongs >= 3) {
        this.opts.log?.("matchmaker: no pong for 3 heartbeats; reconnecting");
        this.ws?.terminate();
        return;
      }
      this.missedPongs++;
      this.ws?.ping();
      this.heartbeat();
    }, every);
    this.heartbeatTimer.unref();
    this.opts.onConnected();
    for (const w of this.readyWaiters.splice(0)) w();
  }
}
