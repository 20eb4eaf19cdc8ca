// Shared helpers for the agent tests: a local network, fresh state dirs, waiting for a record
// condition, a fake matchmaker WebSocket server and a toggleable TCP proxy (to take a PDS "down").
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import { randomBytes } from "node:crypto";
import { createRecord, getRecord, lexToJson, listRecords, type Agent, type RecordEntry } from "@cocore/atproto";
import { base64Decode, base64Encode, generateEncryptionKeyPair, inputCommitment, openReply, replyKey, seal } from "@cocore/protocol";
import { PROVIDER_COLLECTION } from "@cocore/agent";
import type { EngineLoader, JobInput, JobMessage, LoadedModel } from "@cocore/agent";

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls until `check` returns a value (not undefined); fails after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function providerRecords(source: Agent | string, did: string): Promise<RecordEntry[]> {
  return listRecords(source, did, PROVIDER_COLLECTION);
}

export async function providerRecord(source: Agent | string, did: string, rkey: string): Promise<Record<string, unknown> | undefined> {
  return (await getRecord(source, did, PROVIDER_COLLECTION, rkey))?.value;
}

/** A loader whose models are named in `ok`; any other id fails to load. Counts loads. */
export function fakeLoader(ok: string[]): EngineLoader & { loads: string[] } {
  const loads: string[] = [];
  const model = (modelId: string): LoadedModel => ({
    modelId,
    countPromptTokens: async (req) => (req.prompt ?? "").length,
    run: async (req) => {
      const text = "ok".slice(0, req.maxTokens);
      req.onText?.(text);
      return { text, tokens: { in: (req.prompt ?? "").length, out: text.length }, finishReason: "stop" };
    },
    dispose: async () => {},
  });
  return {
    loads,
    async load(id) {
      loads.push(id);
      if (!ok.includes(id)) throw new Error(`no such model file for ${id}`);
      return model(id);
    },
    async stub() {
      return model("stub");
    },
  };
}

export interface FakeMatchmaker {
  url: string;
  sockets: WebSocket[];
  messages: Array<Record<string, unknown>>;
  /** When false, register messages get no answer (the agent stays provisioning). */
  acceptRegistrations: boolean;
  /** Registers every socket that already sent `register`. */
  acceptPending(): void;
  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(msg: object): void;
  close(): Promise<void>;
}

export async function startFakeMatchmaker(opts: { acceptRegistrations?: boolean } = {}): Promise<FakeMatchmaker> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", path: "/v1/agent" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const port = (wss.address() as { port: number }).port;
  const pending: WebSocket[] = [];
  const fm: FakeMatchmaker = {
    url: `http://127.0.0.1:${port}`,
    sockets: [],
    messages: [],
    acceptRegistrations: opts.acceptRegistrations ?? true,
    acceptPending() {
      for (const ws of pending.splice(0)) ws.send(JSON.stringify({ type: "registered", machineId: "m", heartbeatIntervalMs: 60_000 }));
    },
    async next(pred, timeoutMs = 60_000) {
      return waitFor("a matchmaker message", () => fm.messages.find(pred), timeoutMs);
    },
    send(msg) {
      for (const ws of fm.sockets) if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    },
    async close() {
      for (const ws of fm.sockets) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
  wss.on("connection", (ws) => {
    fm.sockets.push(ws);
    ws.send(JSON.stringify({ type: "challenge", nonce: randomBytes(16).toString("hex") }));
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString()) as Record<string, unknown>;
      fm.messages.push(msg);
      if (msg.type === "register") {
        if (fm.acceptRegistrations) ws.send(JSON.stringify({ type: "registered", machineId: msg.machineId, heartbeatIntervalMs: 60_000 }));
        else pending.push(ws);
      }
    });
  });
  return fm;
}

/** A TCP proxy to `targetPort` that can be taken down (refusing connections) and brought back. */
export interface Proxy {
  url: string;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((client) => {
        const conn = connect(targetPort, "127.0.0.1");
        sockets.add(client);
        sockets.add(conn);
        client.pipe(conn).pipe(client);
        const drop = () => {
          client.destroy();
          conn.destroy();
          sockets.delete(client);
          sockets.delete(conn);
        };
        client.on("error", drop).on("close", drop);
        conn.on("error", drop).on("close", drop);
      });
      srv.once("error", reject);
      srv.listen(port, "127.0.0.1", () => {
        port = (srv.address() as { port: number }).port;
        server = srv;
        resolve();
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await listen();
  return { url: `http://127.0.0.1:${port}`, down, up: listen, close: down };
}

// ------------------------------------------------------------------ requester-side fixtures

export const POLICY_NSID = "dev.cocore.compute.exchangePolicy";

export function policyValue(exchange: string, rate = { inputPricePerMTok: 1_000_000, outputPricePerMTok: 2_000_000, currency: "TOK" }) {
  return {
    $type: POLICY_NSID,
    exchange,
    active: true,
    fee: { bps: 500, minMinor: 0, currency: "TOK" },
    supportedCurrencies: ["TOK"],
    selfLoop: { feeWaived: true },
    tokenRate: rate,
    tokenGrant: 1_000_000,
    tokenFloor: 100_000,
    createdAt: new Date().toISOString(),
  };
}

export interface JobFixture {
  msg: JobMessage;
  /** The requester's crypto_box key for opening the sealed output (reply key ↔ machine key). */
  reply: Uint8Array;
  job: RecordEntry;
  paymentAuthorization: RecordEntry;
}

/** Writes a paymentAuthorization and a job to the requester's PDS and builds the dispatch message. */
export async function makeJob(
  requester: { agent: Agent; did: string },
  opts: {
    exchange: string;
    encryptionPubKey: string;
    input: JobInput | string;
    model?: string;
    maxTokensOut?: number;
    ceiling?: number;
    acceptedProviders?: string[];
    expiresAt?: string;
    /** Seal this instead (commitment still over the original): a tampered input. */
    tamper?: boolean;
    /** Leave replyPublicKey out of an object input (a job the agent must refuse). */
    noReplyKey?: boolean;
  },
): Promise<JobFixture> {
  const replyPair = generateEncryptionKeyPair();
  const input = typeof opts.input === "string" || opts.noReplyKey ? opts.input : { ...opts.input, replyPublicKey: base64Encode(replyPair.publicKey) };
  const reply = replyKey(base64Decode(opts.encryptionPubKey), replyPair.secretKey);
  const plaintext = Buffer.from(typeof input === "string" ? input : JSON.stringify(input), "utf8");
  const sealed = seal(plaintext, base64Decode(opts.encryptionPubKey));
  const now = Date.now();
  const paRef = await createRecord(requester.agent, "dev.cocore.compute.paymentAuthorization", {
    $type: "dev.cocore.compute.paymentAuthorization",
    exchange: opts.exchange,
    ceiling: { amount: opts.ceiling ?? 5000, currency: "TOK" },
    scope: "singleJob",
    nonce: randomBytes(16).toString("hex"),
    expiresAt: new Date(now + 3600_000).toISOString(),
    createdAt: new Date(now).toISOString(),
  });
  const jobRef = await createRecord(requester.agent, "dev.cocore.compute.job", {
    $type: "dev.cocore.compute.job",
    model: opts.model ?? "fortunes-char",
    inputCommitment: inputCommitment(sealed.sealed),
    maxTokensOut: opts.maxTokensOut ?? 24,
    priceCeiling: { amount: opts.ceiling ?? 5000, currency: "TOK" },
    acceptedTrustLevel: "self-attested",
    acceptedExchanges: [opts.exchange],
    ...(opts.acceptedProviders && { acceptedProviders: opts.acceptedProviders }),
    paymentAuthorization: paRef,
    nonce: randomBytes(16).toString("hex"),
    expiresAt: opts.expiresAt ?? new Date(now + 600_000).toISOString(),
    createdAt: new Date(now).toISOString(),
  });
  const job = (await getRecord(requester.agent, requester.did, "dev.cocore.compute.job", jobRef.uri.split("/").pop()!))!;
  const paymentAuthorization = (await getRecord(requester.agent, requester.did, "dev.cocore.compute.paymentAuthorization", paRef.uri.split("/").pop()!))!;
  let sealedBytes = sealed.sealed;
  if (opts.tamper) {
    sealedBytes = Uint8Array.from(sealed.sealed);
    sealedBytes[sealedBytes.length - 1]! ^= 1;
  }
  const msg: JobMessage = {
    type: "job",
    job: { uri: job.uri, cid: job.cid },
    jobRecord: lexToJson(job.value) as Record<string, unknown>,
    sealedInput: base64Encode(sealedBytes),
    senderPublicKey: base64Encode(sealed.senderPublicKey),
    requester: requester.did,
    exchange: opts.exchange,
  };
  return { msg, job, paymentAuthorization, reply };
}

/** Opens one `chunk` message's sealed frame with a fixture's reply key. */
export function openChunk(reply: Uint8Array, m: Record<string, unknown>): string {
  const piece = openReply(base64Decode(String(m.sealed)), reply);
  if (!piece) throw new Error(`chunk ${String(m.seq)} does not open with the reply key`);
  return Buffer.from(piece).toString("utf8");
}
