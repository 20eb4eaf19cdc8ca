// `engine` benchmark: generated tokens/s through the whole agent path vs. the raw node-llama-cpp
// loop (bench/engine-raw.ts), same model, same thread count, same prompt tokens, greedy, same
// process, same run.
//
// Agent path = a job dispatched over the matchmaker WebSocket to a running `cocore agent serve` (real
// local PDS, real job record, NaCl-sealed prompt): the agent checks the job, opens the input, runs
// the engine, seals and streams chunks back. The clock runs from sending the `job` message to
// receiving the last chunk — what a requester's stream experiences; the receipt (signed and
// written to the PDS after the stream) is timed separately as receiptMsP50 since it does not delay
// any token. Raw runs and agent jobs alternate (raw→agent, then agent→raw) so that drift in the
// machine's load hits both alike; the job records are written before the timed loop.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";
import { createRecord, getRecord, lexToJson, startLocalNetwork } from "@cocore/atproto";
import { base64Decode, base64Encode, generateEncryptionKeyPair, inputCommitment, seal } from "@cocore/protocol";
import { defaultThreads, type JobMessage } from "@cocore/agent";
import { openRawEngine, type RawEngine } from "./engine-raw.ts";

const CLI = fileURLToPath(new URL("../packages/cli/bin/cocore.mjs", import.meta.url));

export interface EngineBenchOptions {
  modelPath?: string;
  threads?: number;
  /** Timed jobs / raw runs. */
  runs?: number;
  tokensPerRun?: number;
  prompt?: string;
}

export interface EngineBenchResult {
  rawTokensPerSec: number;
  agentTokensPerSec: number;
  /** agentTokensPerSec / rawTokensPerSec, pooled over all runs (target ≥ 0.97). */
  agentToRawRatio: number;
  /** Median over pairs (one raw run, one agent job, back to back) of agent tokens/s ÷ raw tokens/s. */
  agentToRawRatioP50: number;
  rawRunTokensPerSecP50: number;
  runs: number;
  agentTokens: number;
  rawTokens: number;
  receiptMsP50: number;
  /** Median over jobs of one job's streamed tokens/s (robust to load spikes on shared machines). */
  agentRunTokensPerSecP50: number;
  /**
   * Median per job of (stream time − the agent's own engine time from startedAt to completedAt):
   * what the agent adds around generation (checks, opening the input, relaying chunks).
   */
  agentOverheadMsP50: number;
  threads: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
}

export async function benchEngine(opts: EngineBenchOptions = {}): Promise<EngineBenchResult> {
  const threads = opts.threads ?? defaultThreads();
  const runs = opts.runs ?? 30;
  const tokensPerRun = opts.tokensPerRun ?? 200;
  const prompt = opts.prompt ?? "The";
  const rawOpts = { threads, tokensPerRun, prompt, ...(opts.modelPath && { modelPath: opts.modelPath }) };
  let raw: RawEngine | undefined = await openRawEngine(rawOpts);

  const net = await startLocalNetwork();
  const stateDir = mkdtempSync(join(tmpdir(), "cocore-bench-engine-"));
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", path: "/v1/agent" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  let socket: WebSocket | undefined;
  const listeners = new Set<(m: Record<string, unknown>) => void>();
  wss.on("connection", (ws) => {
    ws.send(JSON.stringify({ type: "challenge", nonce: "bench" }));
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString()) as Record<string, unknown>;
      if (msg.type === "register") {
        socket = ws;
        ws.send(JSON.stringify({ type: "registered", machineId: msg.machineId, heartbeatIntervalMs: 60_000 }));
      }
      for (const l of listeners) l(msg);
    });
  });
  let registered!: (m: Record<string, unknown>) => void;
  const registration = new Promise<Record<string, unknown>>((r) => (registered = r));
  listeners.add((m) => {
    if (m.type === "register") registered(m);
  });
  // The agent runs as its own process, as a provider deploys it: the bench's stand-in matchmaker
  // (and the PDS) then cost the agent's event loop nothing, as a real remote matchmaker would not.
  let agent: ChildProcess | undefined;
  try {
    const provider = await net.createAccount("bench-provider");
    const requester = await net.createAccount("bench-requester");
    const exchange = "did:plc:benchexchangeaaaaaaaaaaa";
    agent = spawn(
      process.execPath,
      [
        CLI,
        "agent",
        "serve",
        "--pds", net.pdsUrl,
        "--handle", provider.handle,
        `--password=${provider.password}`,
        "--state-dir", stateDir,
        "--threads", String(threads),
        ...(opts.modelPath ? ["--model", opts.modelPath] : []),
        "--matchmaker", `http://127.0.0.1:${(wss.address() as { port: number }).port}`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let agentLog = "";
    agent.stderr!.on("data", (d: Buffer) => (agentLog = (agentLog + d.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) => agent!.once("exit", (code) => reject(new Error(`agent exited (${code}) before registering:\n${agentLog}`))));
    const reg = await Promise.race([registration, exited]);
    const modelId = (reg.models as string[])[0]!;
    const encKey = base64Decode(String(reg.encryptionPubKey));

    const makeJob = async (): Promise<JobMessage> => {
      // The agent seals its output to a reply key the requester puts inside the input.
      const replyPublicKey = base64Encode(generateEncryptionKeyPair().publicKey);
      const sealed = seal(Buffer.from(JSON.stringify({ prompt, maxTokens: tokensPerRun, replyPublicKey })), encKey);
      const now = Date.now();
      const pa = await createRecord(requester.agent, "dev.cocore.compute.paymentAuthorization", {
        exchange,
        ceiling: { amount: 1_000_000, currency: "TOK" },
        scope: "singleJob",
        nonce: randomBytes(16).toString("hex"),
        expiresAt: new Date(now + 3600_000).toISOString(),
        createdAt: new Date(now).toISOString(),
      });
      const ref = await createRecord(requester.agent, "dev.cocore.compute.job", {
        model: modelId,
        inputCommitment: inputCommitment(sealed.sealed),
        maxTokensOut: tokensPerRun,
        priceCeiling: { amount: 1_000_000, currency: "TOK" },
        acceptedTrustLevel: "self-attested",
        acceptedExchanges: [exchange],
        paymentAuthorization: pa,
        nonce: randomBytes(16).toString("hex"),
        expiresAt: new Date(now + 3600_000).toISOString(),
        createdAt: new Date(now).toISOString(),
      });
      const job = (await getRecord(requester.agent, requester.did, "dev.cocore.compute.job", ref.uri.split("/").pop()!))!;
      return {
        type: "job",
        job: { uri: job.uri, cid: job.cid },
        jobRecord: lexToJson(job.value) as Record<string, unknown>,
        sealedInput: base64Encode(sealed.sealed),
        senderPublicKey: base64Encode(sealed.senderPublicKey),
        requester: requester.did,
        exchange,
      };
    };

    const runOne = (msg: JobMessage) =>
      new Promise<{ tokens: number; streamMs: number; receiptMs: number; overheadMs: number }>((resolve, reject) => {
        let lastChunk = 0;
        const t0 = performance.now();
        const l = (m: Record<string, unknown>) => {
          if (m.jobUri !== msg.job.uri) return;
          if (m.type === "chunk") lastChunk = performance.now();
          else if (m.type === "done") {
            listeners.delete(l);
            const end = performance.now();
            const streamMs = (lastChunk || end) - t0;
            const engineMs = Date.parse(String(m.completedAt)) - Date.parse(String(m.startedAt));
            resolve({ tokens: (m.tokens as { out: number }).out, streamMs, receiptMs: end - (lastChunk || end), overheadMs: streamMs - engineMs });
          } else if (m.type === "error") {
            listeners.delete(l);
            reject(new Error(`${String(m.code)}: ${String(m.message)}`));
          }
        };
        listeners.add(l);
        socket!.send(JSON.stringify(msg));
      });

    const jobs: JobMessage[] = [];
    for (let i = 0; i <= runs; i++) jobs.push(await makeJob());
    await raw.once(); // warm-ups
    await runOne(jobs[0]!);
    let tokens = 0;
    let ms = 0;
    let rawTokens = 0;
    let rawMs = 0;
    const receiptMs: number[] = [];
    const overheadMs: number[] = [];
    const perRun: number[] = [];
    const rawPerRun: number[] = [];
    const ratios: number[] = [];
    for (let i = 1; i <= runs; i++) {
      const rawRun = async () => {
        const r = await raw!.once();
        rawTokens += r.tokens;
        rawMs += r.ms;
        rawPerRun.push(r.tokens / (r.ms / 1000));
        return r.tokens / (r.ms / 1000);
      };
      const agentRun = async () => {
        const r = await runOne(jobs[i]!);
        tokens += r.tokens;
        ms += r.streamMs;
        receiptMs.push(r.receiptMs);
        overheadMs.push(r.overheadMs);
        perRun.push(r.tokens / (r.streamMs / 1000));
        return r.tokens / (r.streamMs / 1000);
      };
      let rawTps: number;
      let agentTps: number;
      if (i % 2 === 1) {
        rawTps = await rawRun();
        agentTps = await agentRun();
      } else {
        agentTps = await agentRun();
        rawTps = await rawRun();
      }
      ratios.push(agentTps / rawTps);
    }
    const agentTokensPerSec = tokens / (ms / 1000);
    const rawTokensPerSec = rawTokens / (rawMs / 1000);
    return {
      rawTokensPerSec,
      agentTokensPerSec,
      agentToRawRatio: agentTokensPerSec / rawTokensPerSec,
      agentToRawRatioP50: median(ratios),
      rawRunTokensPerSecP50: median(rawPerRun),
      runs,
      agentTokens: tokens,
      rawTokens,
      receiptMsP50: median(receiptMs),
      agentRunTokensPerSecP50: median(perRun),
      agentOverheadMsP50: median(overheadMs),
      threads,
    };
  } finally {
    await raw?.dispose();
    raw = undefined;
    if (agent && agent.exitCode === null) {
      const gone = new Promise((r) => agent!.once("exit", r));
      agent.kill("SIGTERM");
      await gone;
    }
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await net.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchEngine()));
}
