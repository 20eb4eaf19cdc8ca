// Test doubles for the matchmaker's neighbours: an exchange answering admitJob/releaseHold and a
// provider agent speaking the real wire protocol, each scriptable per job.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  base64Encode,
  canonicalBytes,
  fromJsonRecord,
  generateEncryptionKeyPair,
  generateSigningKey,
  inputCommitment,
  open,
  outputCipherCommitment,
  recordCid,
  replyKey,
  seal,
  sealReply,
  sign,
  type EncryptionKeyPair,
  type SigningKey,
} from "@cocore/protocol";
import WebSocket from "ws";
import { AGENT_PROTOCOL_VERSION, type JobInput, type JobMessage } from "../../agent/src/matchmaker-protocol.ts";
import type { DispatchEvent, DispatchRequest } from "../src/wire.ts";
import { startMatchmaker, type Matchmaker } from "../src/index.ts";

export const TEST_MATCHMAKER_DID = "did:plc:matchmaker0000000000000";

/** A matchmaker admitting through `fx`, quiet, with a stand-in service token; `config` adds or overrides. */
export function startTestMatchmaker(fx: Pick<FakeExchange, "did" | "url">, config: Partial<Parameters<typeof startMatchmaker>[0]> = {}): Promise<Matchmaker> {
  return startMatchmaker({
    did: TEST_MATCHMAKER_DID,
    serviceAuth: async (aud, lxm) => `token-for-${aud}-${lxm}`,
    exchange: { did: fx.did, url: fx.url },
    log: () => {},
    ...config,
  });
}

export interface FakeExchange {
  url: string;
  did: string;
  admits: Array<Record<string, unknown>>;
  releases: Array<Record<string, unknown>>;
  /** Decide each admission; default admits. */
  decide: (input: Record<string, unknown>) => { status: number; body: Record<string, unknown> };
  close(): Promise<void>;
}

export async function fakeExchange(did = "did:plc:exchange0000000000000000"): Promise<FakeExchange> {
  const fx: FakeExchange = {
    url: "",
    did,
    admits: [],
    releases: [],
    decide: () => ({ status: 200, body: { admitted: true, holdKey: `hold-${randomBytes(4).toString("hex")}`, balance: 1_000_000, available: 999_000 } }),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const input = JSON.parse(body || "{}") as Record<string, unknown>;
      if (!String(req.headers.authorization ?? "").startsWith("Bearer ")) {
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "AuthRequired", message: "no token" }));
        return;
      }
      if (req.url === "/xrpc/dev.cocore.exchange.admitJob") {
        fx.admits.push(input);
        const { status, body: out } = fx.decide(input);
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(out));
      } else if (req.url === "/xrpc/dev.cocore.exchange.releaseHold") {
        fx.releases.push(input);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } else res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fx.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fx.close = () => new Promise((r) => server.close(() => r()));
  return fx;
}

/** `hold`: accepts, then serves only when the test calls `serve(jobUri)` (a long prefill). */
export type AgentBehaviour = "serve" | "hold" | "drop-before-output" | "drop-mid-output" | "refuse" | "silent" | "plaintext";

/** What a serving fake agent streams (space, comma and "!" never occur in base64). */
export const SERVED_PIECES = ["Hello, ", "sealed world!"];

export interface FakeAgent {
  machineId: string;
  provider: string;
  encryption: EncryptionKeyPair;
  jobs: JobMessage[];
  /** `admitted` and `cancel` messages the matchmaker sent, in order. */
  control: Array<{ type: string; jobUri: string; discard?: boolean }>;
  /** Plaintext pieces this agent sealed, per job uri (what must never show up in the relay). */
  plaintext: Map<string, string[]>;
  behaviour: AgentBehaviour;
  /** Every register this agent sent, as sent (what an eavesdropper could capture). */
  registers: Array<Record<string, unknown>>;
  ws: WebSocket;
  registered: Promise<void>;
  /** Serves a job held by the `hold` behaviour. */
  serve(jobUri: string): void;
  close(): void;
}

export interface FakeAgentOptions {
  provider?: string;
  machineId?: string;
  models?: string[];
  trustLevel?: string;
  acceptedExchanges?: string[];
  encryption?: EncryptionKeyPair;
  behaviour?: AgentBehaviour;
  engineState?: "ready" | "loading" | "fault";
  /** The machine key and its published attestation (for a matchmaker that verifies registrations). */
  signingKey?: SigningKey;
  attestation?: { uri: string; cid: string };
  /** Further machine ids to register on the same socket right after the first (a misbehaving agent). */
  alsoRegister?: string[];
  /** false: never answer the matchmaker's pings (a peer that hung without closing its socket). */
  answerPings?: boolean;
  /** Say in the register that this agent resumes its jobs after a reconnect. */
  resumes?: boolean;
}

export function fakeAgent(matchmakerUrl: string, opts: FakeAgentOptions = {}): FakeAgent {
  const key = opts.signingKey ?? generateSigningKey();
  const encryption = opts.encryption ?? generateEncryptionKeyPair();
  const provider = opts.provider ?? "did:plc:provider000000000000000";
  const machineId = opts.machineId ?? randomBytes(6).toString("hex");
  const ws = new WebSocket(matchmakerUrl.replace(/^http/, "ws") + "/v1/agent", { autoPong: opts.answerPings ?? true });
  const held = new Map<string, () => void>();
  const agent: FakeAgent = {
    machineId,
    provider,
    encryption,
    jobs: [],
    control: [],
    plaintext: new Map(),
    behaviour: opts.behaviour ?? "serve",
    registers: [],
    ws,
    registered: new Promise((resolve, reject) => {
      ws.on("message", (data) => {
        const msg = JSON.parse(data.toString()) as { type: string; code?: string };
        if (msg.type === "registered") resolve();
        if (msg.type === "rejected") reject(new Error(`rejected: ${msg.code}`));
      });
      ws.on("error", reject);
    }),
    serve: (jobUri) => {
      const f = held.get(jobUri);
      held.delete(jobUri);
      f?.();
    },
    close: () => ws.terminate(),
  };
  let challenge = "";
  const register = (machineId: string) => {
    const unsigned = {
      type: "register",
      protocolVersion: AGENT_PROTOCOL_VERSION,
      providerDid: provider,
      machineId,
      providerRecord: `at://${provider}/dev.cocore.compute.provider/${machineId}`,
      models: opts.models ?? ["fortunes-char"],
      trustLevel: opts.trustLevel ?? "self-attested",
      engineState: opts.engineState ?? "ready",
      version: "test",
      encryptionPubKey: base64Encode(encryption.publicKey),
      attestationPubKey: key.publicKey,
      attestation: opts.attestation ?? { uri: `at://${provider}/dev.cocore.compute.attestation/3aaaaaaaaaaaa`, cid: "bafyreitest" },
      attestationExpiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      acceptedExchanges: opts.acceptedExchanges ?? [],
      capacity: 2,
      ...(opts.resumes && { resumes: true }),
      at: new Date().toISOString(),
      challenge,
    };
    agent.registers.push({ ...unsigned, sig: base64Encode(sign(key, canonicalBytes(unsigned))) });
    ws.send(JSON.stringify(agent.registers.at(-1)));
  };
  // Registration answers the matchmaker's challenge, as the real agent's does.
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString()) as { type: string; nonce?: string };
    if (msg.type !== "challenge") return;
    challenge = msg.nonce ?? "";
    register(machineId);
    for (const id of opts.alsoRegister ?? []) register(id);
  });
  const admittedWaiters = new Map<string, () => void>();
  // A held job may be served after its `admitted` came.
  const admittedJobs = new Set<string>();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString()) as { type: string; jobUri?: string; discard?: boolean };
    if (msg.type === "admitted" || msg.type === "cancel") {
      agent.control.push({ type: msg.type, jobUri: msg.jobUri!, ...(msg.discard !== undefined && { discard: msg.discard }) });
      if (msg.type === "admitted") {
        admittedJobs.add(msg.jobUri!);
        admittedWaiters.get(msg.jobUri!)?.();
      }
      return;
    }
    if (msg.type !== "job") return;
    const job = msg as JobMessage;
    agent.jobs.push(job);
    const jobUri = job.job.uri;
    const send = (m: Record<string, unknown>) => ws.send(JSON.stringify(m));
    // Like the real agent: open the input, seal every output piece to the requester's reply key.
    const opened = open(Buffer.from(job.sealedInput, "base64"), Buffer.from(job.senderPublicKey, "base64"), encryption.secretKey);
    const input = opened ? (JSON.parse(Buffer.from(opened).toString("utf8")) as JobInput) : {};
    const key = input.replyPublicKey ? replyKey(Buffer.from(input.replyPublicKey, "base64"), encryption.secretKey) : undefined;
    const frames: Uint8Array[] = [];
    let seq = 0;
    const chunk = (text: string) => {
      const frame = sealReply(new TextEncoder().encode(text), key!);
      frames.push(frame);
      agent.plaintext.set(jobUri, [...(agent.plaintext.get(jobUri) ?? []), text]);
      send({ type: "chunk", jobUri, seq: seq++, sealed: base64Encode(frame) });
    };
    // The receipt (here: `done`) waits for admission when the job came with it pending.
    const whenAdmitted = (f: () => void) => {
      if (job.admission !== "pending" || admittedJobs.has(jobUri)) return f();
      admittedWaiters.set(jobUri, f);
    };
    switch (agent.behaviour) {
      case "silent":
        return;
      case "plaintext":
        // An agent that does not seal its output (e.g. protocol v1): the matchmaker must not relay it.
        send({ type: "accepted", jobUri });
        return send({ type: "chunk", jobUri, seq: 0, text: "Hello, in the clear" });
      case "refuse":
        return send({ type: "error", jobUri, code: "decrypt_failed", message: "cannot open" });
      case "drop-before-output":
        send({ type: "accepted", jobUri });
        return void setTimeout(() => ws.terminate(), 10);
      case "drop-mid-output":
        send({ type: "accepted", jobUri });
        chunk("Hel");
        return void setTimeout(() => ws.terminate(), 10);
      case "hold":
        send({ type: "accepted", jobUri });
        held.set(jobUri, () => serveJob());
        return;
      case "serve":
        send({ type: "accepted", jobUri });
        return serveJob();
    }
    function serveJob() {
      for (const piece of SERVED_PIECES) chunk(piece);
      const at = new Date().toISOString();
      whenAdmitted(() =>
        send({
          type: "done", jobUri, receipt: { uri: `at://${provider}/dev.cocore.compute.receipt/3bbbbbbbbbbbb`, cid: "bafyreireceipt", written: true },
          tokens: { in: 5, out: 2 }, price: { amount: 7, currency: "TOK" }, proBono: false, outputCommitment: "0".repeat(64),
          outputCipherCommitment: outputCipherCommitment(frames), finishReason: "stop", startedAt: at, completedAt: at,
        }),
      );
    }
  });
  return agent;
}

export interface JobOptions {
  requester?: string;
  model?: string;
  acceptedTrustLevel?: string;
  acceptedExchanges?: string[];
  acceptedProviders?: string[];
  expiresInMs?: number;
  priceCeiling?: number;
}

/** Reply keys (crypto_box key machine ↔ requester) of the requests makeDispatch built, by job uri. */
export const replyKeys = new Map<string, Uint8Array>();

/** A dispatch request sealed to `to`, with a job record whose CID matches its strong-ref. */
export function makeDispatch(to: Uint8Array, opts: JobOptions = {}): DispatchRequest {
  const requester = opts.requester ?? "did:plc:requester00000000000000";
  const reply = generateEncryptionKeyPair();
  const input: JobInput = { prompt: "hi", replyPublicKey: base64Encode(reply.publicKey) };
  const { sealed, senderPublicKey } = seal(new TextEncoder().encode(JSON.stringify(input)), to);
  const now = Date.now();
  const jobRecord: Record<string, unknown> = {
    $type: "dev.cocore.compute.job",
    model: opts.model ?? "fortunes-char",
    inputCommitment: inputCommitment(sealed),
    maxTokensOut: 16,
    priceCeiling: { amount: opts.priceCeiling ?? 1000, currency: "TOK" },
    acceptedTrustLevel: opts.acceptedTrustLevel ?? "self-attested",
    paymentAuthorization: { uri: `at://${requester}/dev.cocore.compute.paymentAuthorization/3cccccccccccc`, cid: recordCid({ fake: "authorization" })! },
    nonce: randomBytes(16).toString("hex"),
    expiresAt: new Date(now + (opts.expiresInMs ?? 60_000)).toISOString(),
    createdAt: new Date(now).toISOString(),
  };
  if (opts.acceptedExchanges) jobRecord.acceptedExchanges = opts.acceptedExchanges;
  if (opts.acceptedProviders) jobRecord.acceptedProviders = opts.acceptedProviders;
  const rkey = `3${randomBytes(6).toString("hex")}`.slice(0, 13);
  const uri = `at://${requester}/dev.cocore.compute.job/${rkey}`;
  replyKeys.set(uri, replyKey(to, reply.secretKey));
  return {
    job: { uri, cid: recordCid(fromJsonRecord(jobRecord))! },
    jobRecord,
    sealedInput: base64Encode(sealed),
    senderPublicKey: base64Encode(senderPublicKey),
    encryptionPubKey: base64Encode(to),
  };
}

export interface DispatchResult {
  status: number;
  events: DispatchEvent[];
  /** The NDJSON body exactly as relayed. */
  raw?: string;
  error?: { code: string; message: string };
}

export async function postDispatch(matchmakerUrl: string, req: DispatchRequest): Promise<DispatchResult> {
  const res = await fetch(`${matchmakerUrl}/v1/dispatch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(req) });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, events: [], error: (JSON.parse(text) as { error: { code: string; message: string } }).error };
  return { status: 200, raw: text, events: text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as DispatchEvent) };
}

export async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
