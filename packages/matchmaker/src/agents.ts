// Provider agents' WebSocket connections (GET /v1/agent), speaking the agent's wire protocol
// (packages/agent/src/matchmaker-protocol.ts). A connection becomes a routable machine only after
// its signed `register` checks out. A job on a connection that drops is told so at once — unless
// it had relayed output: then it is held for the resume grace (job-holds.ts) and goes on if the
// same machine registers again and resumes it.
import { randomBytes, randomUUID } from "node:crypto";
import type { IdResolver } from "@cocore/atproto";
import type { WebSocket } from "ws";
import {
  ACK_INTERVAL_MS,
  AGENT_PROTOCOL_VERSION,
  encodeMessage,
  type AgentToMatchmaker,
  type ChunkMessage,
  type DoneMessage,
  type ErrorMessage,
  type MatchmakerToAgent,
  type ModelCapabilities,
  type RegisterMessage,
  type ResumeMessage,
} from "@cocore/agent/matchmaker-protocol";
import { parseAgentFrame, type AgentInput, type IgnoredCode } from "./agent-input.ts";
import { frameVerdict, JobHolds, type MachineOwner, type RelayedJob } from "./job-holds.ts";
import { attestedLevel, checkRegistration } from "./registration.ts";
import type { MachineInfo, Registry } from "./registry.ts";

export interface JobListener {
  onAccepted(): void;
  onChunk(msg: ChunkMessage): void;
  onDone(msg: DoneMessage): void;
  onError(msg: ErrorMessage): void;
  /** The connection closed before a terminal message. */
  onLost(reason: string): void;
  /** The agent sent a malformed message about this job (agent-input.ts); the job cannot go on. */
  onBadMessage(message: string): void;
}

interface Connection {
  id: string;
  ws: WebSocket;
  machineId?: string;
  /** A register is being checked: a connection registers once, so later ones are ignored. */
  registering?: boolean;
  /** The CID of a renewed attestation being checked. */
  renewing?: string;
  /** Who registered on this connection: only the same provider and attestation key may take its machineId over. */
  owner?: MachineOwner;
  /** The register said the agent resumes its jobs after a reconnect. */
  resumes?: boolean;
  jobs: Map<string, RelayedJob>;
  /** Jobs with chunks relayed since their last `ack`; flushed together (acks stay off the output path). */
  acks: Set<string>;
  ackTimer?: NodeJS.Timeout;
  closing: boolean;
  /** The nonce sent in this connection's `challenge`. */
  challenge: string;
  /** When its register was taken (register churn is a drop soon after it). */
  registeredAt?: number;
  /** Dropped for going silent (no heartbeat or pong within the stale bound). */
  silent?: boolean;
}

export interface AgentHubOptions {
  registry: Registry;
  heartbeatIntervalMs: number;
  /** Check the attestation a register names in the provider's repo, and derive the machine's trust level from it. */
  verifyAttestations: boolean;
  idResolver?: IdResolver;
  /** Registrations signed further in the past (or future) than this are refused. */
  maxClockSkewMs: number;
  /** A registered connection dropping sooner than this after its register is a failure (register churn, cooldown.ts). */
  churnMs: number;
  /** How long a job whose connection dropped mid-answer waits for its machine to resume it (0: not at all). */
  resumeGraceMs: number;
  log: (msg: string) => void;
  now: () => number;
}

export class AgentHub {
  private readonly connections = new Map<string, Connection>();
  private readonly byMachine = new Map<string, Connection>();
  private readonly holds: JobHolds;

  constructor(private readonly opts: AgentHubOptions) {
    this.holds = new JobHolds(opts.resumeGraceMs);
  }

  accept(ws: WebSocket): void {
    const conn: Connection = { id: randomUUID(), ws, jobs: new Map(), acks: new Set(), closing: false, challenge: randomBytes(16).toString("hex") };
    this.connections.set(conn.id, conn);
    // The register must sign this: a register captured from another connection cannot answer it.
    ws.send(encodeMessage({ type: "challenge", nonce: conn.challenge }));
    const registerTimer = setTimeout(() => {
      if (!conn.machineId) this.reject(conn, "register_timeout", "No register message arrived within 15 s.");
    }, 15_000);
    registerTimer.unref();
    ws.on("message", (data, isBinary) => {
      if (isBinary) return this.ignore(conn, "bad_message", "Binary frames are not part of the agent protocol; send JSON text frames.");
      const input = parseAgentFrame(data.toString());
      if (!input.ok) return this.onBadFrame(conn, input);
      this.onMessage(conn, input.msg).catch((err) => this.opts.log(`agent message failed: ${err instanceof Error ? err.message : String(err)}`));
    });
    ws.on("pong", () => {
      if (conn.machineId) this.opts.registry.touch(conn.machineId, this.opts.now());
    });
    ws.on("close", () => {
      clearTimeout(registerTimer);
      this.dropConnection(conn, "the provider's connection closed");
    });
    ws.on("error", () => ws.terminate());
  }

  /** Pings every connection (liveness in both directions) and drops machines gone silent. */
  tick(): void {
    for (const conn of this.connections.values()) if (conn.ws.readyState === conn.ws.OPEN) conn.ws.ping();
    for (const m of this.opts.registry.sweep(this.opts.now())) {
      const conn = this.byMachine.get(m.machineId);
      if (conn) {
        this.opts.log(`machine ${m.machineId} went silent; dropping it`);
        conn.silent = true;
        conn.ws.terminate();
      }
    }
  }

  /** Sends a job to a machine; the listener hears everything about it until a terminal event. */
  sendJob(machineId: string, msg: Extract<MatchmakerToAgent, { type: "job" }>, listener: JobListener): boolean {
    const conn = this.byMachine.get(machineId);
    if (!conn || conn.closing || conn.ws.readyState !== conn.ws.OPEN) return false;
    conn.jobs.set(msg.job.uri, { listener, relayed: -1, admitted: msg.admission !== "pending" });
    conn.ws.send(encodeMessage(msg));
    return true;
  }

  /** Cuts a machine's socket as a network fault would (no close handshake): for fault tests and operators. */
  disconnect(machineId: string): boolean {
    const conn = this.byMachine.get(machineId);
    if (!conn) return false;
    conn.ws.terminate();
    return true;
  }

  /** `discard`: the job was never admitted, so the agent must write no receipt for it. */
  cancel(machineId: string, jobUri: string, reason: string, discard = false): void {
    // A held job has no socket to tell: the agent's resume will be refused.
    this.holds.drop(machineId, jobUri);
    const conn = this.byMachine.get(machineId);
    if (!conn) return;
    if (conn.jobs.delete(jobUri) && conn.ws.readyState === conn.ws.OPEN) {
      conn.ws.send(encodeMessage({ type: "cancel", jobUri, reason, ...(discard && { discard: true }) }));
    }
  }

  /** Tells the agent that a job sent with admission pending was admitted (its receipt may be written). */
  admit(machineId: string, jobUri: string): void {
    const held = this.holds.get(machineId, jobUri);
    if (held) held.admitted = true;
    const conn = this.byMachine.get(machineId);
    const job = conn?.jobs.get(jobUri);
    if (!conn || !job) return;
    job.admitted = true;
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(encodeMessage({ type: "admitted", jobUri }));
  }

  /** Forget a job's listener (it ended) without telling the agent anything. */
  release(machineId: string, jobUri: string): void {
    this.holds.drop(machineId, jobUri);
    this.byMachine.get(machineId)?.jobs.delete(jobUri);
  }

  closeAll(): void {
    this.holds.clear();
    for (const conn of this.connections.values()) conn.ws.terminate();
  }

  /** Tells the agent a frame was not acted on, and why (protocol `ignored`). */
  private ignore(conn: Connection, code: IgnoredCode, message: string, jobUri?: string): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(encodeMessage({ type: "ignored", code, message, ...(jobUri !== undefined && { jobUri: jobUri.slice(0, 2048) }) }));
  }

  /**
   * A frame that failed its check changes nothing, except that a malformed register ends the
   * registration (as any bad register does) and a malformed message about a job running on this
   * connection fails that job: its output can no longer be trusted to be relayed whole.
   */
  private onBadFrame(conn: Connection, input: Extract<AgentInput, { ok: false }>): void {
    if (input.type === "register" && !conn.machineId && !conn.registering) {
      conn.registering = true;
      return this.reject(conn, "invalid_register", input.message);
    }
    const job = input.jobUri !== undefined && input.type !== undefined && JOB_MESSAGES.has(input.type) ? conn.jobs.get(input.jobUri) : undefined;
    if (job) {
      conn.jobs.delete(input.jobUri!);
      job.listener.onBadMessage(input.message);
    }
    this.ignore(conn, input.code, input.message, input.jobUri);
  }

  private async onMessage(conn: Connection, msg: AgentToMatchmaker): Promise<void> {
    const now = this.opts.now();
    if (msg.type === "register") {
      if (conn.machineId || conn.registering) return this.ignore(conn, "already_registered", "This connection has registered already; a connection registers one machine, once.");
      return this.onRegister(conn, msg);
    }
    if (msg.type === "bye") {
      // Finish what is running, take nothing new: out of routing now (also said before registering).
      conn.closing = true;
      if (conn.machineId) this.opts.registry.remove(conn.machineId, conn.id);
      return;
    }
    if (!conn.machineId) return this.ignore(conn, "not_registered", `A ${msg.type} message before \`registered\` is not acted on; answer the challenge with a register first.`);
    switch (msg.type) {
      case "heartbeat":
        this.opts.registry.touch(conn.machineId, now, {
          models: Array.isArray(msg.models) ? msg.models.filter((m) => typeof m === "string") : undefined,
          provisioning: msg.engineState === "loading",
          faulted: msg.engineState === "fault",
          capacityByModel: capacityMap(msg.capacityByModel),
          capabilitiesByModel: capabilitiesMap(msg.capabilitiesByModel) ?? {},
        });
        if (msg.attestation && typeof msg.attestation.uri === "string") this.onRenewedAttestation(conn, msg.attestation);
        return;
      case "accepted":
        if (conn.machineId) this.opts.registry.touch(conn.machineId, now);
        conn.jobs.get(msg.jobUri)?.listener.onAccepted();
        return;
      case "chunk":
        return this.onChunk(conn, msg);
      case "done":
      case "error": {
        const job = conn.jobs.get(msg.jobUri);
        if (!job) return;
        conn.jobs.delete(msg.jobUri);
        conn.acks.delete(msg.jobUri);
        // Nothing of the job needs replaying any more (only an agent that keeps a replay buffer is told).
        if (conn.resumes) conn.ws.send(encodeMessage({ type: "ack", jobUri: msg.jobUri, seq: job.relayed, final: true }));
        if (msg.type === "done") job.listener.onDone(msg);
        else job.listener.onError(msg);
        return;
      }
      case "resume":
        return this.onResume(conn, msg);
    }
  }

  /** Relays the next chunk of a job once: a replay's duplicates are dropped, a hole fails the job. */
  private onChunk(conn: Connection, msg: ChunkMessage): void {
    const job = conn.jobs.get(msg.jobUri);
    if (!job) return;
    const verdict = frameVerdict(job.relayed, msg.seq);
    if (verdict === "duplicate") return;
    if (verdict === "gap") {
      conn.jobs.delete(msg.jobUri);
      job.listener.onBadMessage(`chunk seq ${msg.seq} after ${job.relayed}: output is missing`);
      return;
    }
    job.relayed = msg.seq;
    job.listener.onChunk(msg);
    // Acks only free an agent's replay buffer: one that does not resume keeps none.
    if (!conn.resumes) return;
    conn.acks.add(msg.jobUri);
    conn.ackTimer ??= setTimeout(() => this.flushAcks(conn), ACK_INTERVAL_MS);
  }

  private flushAcks(conn: Connection): void {
    conn.ackTimer = undefined;
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    for (const jobUri of conn.acks) {
      const job = conn.jobs.get(jobUri);
      if (job) conn.ws.send(encodeMessage({ type: "ack", jobUri, seq: job.relayed }));
    }
    conn.acks.clear();
  }

  /**
   * A job held since the machine's last connection dropped goes on here: the agent replays from
   * `next` and the relay skips what the requester already has. Only the machine that ran it —
   * same provider and machine key, proven by this connection's challenge-signed register — may.
   */
  private onResume(conn: Connection, msg: ResumeMessage): void {
    const taken = this.holds.take(conn.machineId!, msg.jobUri, conn.owner!);
    if (typeof taken === "string") {
      const why = taken === "resume_wrong_machine" ? "another machine key runs this job" : "no job of this machine waits for a resume (its grace passed, or it ended)";
      this.opts.log(`machine ${conn.machineId}: resume of ${msg.jobUri} refused: ${taken}`);
      conn.ws.send(encodeMessage({ type: "cancel", jobUri: msg.jobUri, reason: `resume_refused: ${why}` }));
      return;
    }
    conn.jobs.set(msg.jobUri, taken);
    this.opts.log(`machine ${conn.machineId}: job ${msg.jobUri} resumed after seq ${taken.relayed} (agent replays from ${msg.next})`);
    if (taken.admitted) conn.ws.send(encodeMessage({ type: "admitted", jobUri: msg.jobUri }));
    // The agent's buffer may start after what was relayed (an ack it got) but never beyond it.
    if (msg.next > taken.relayed + 1) {
      conn.jobs.delete(msg.jobUri);
      taken.listener.onBadMessage(`resume from seq ${msg.next} after ${taken.relayed}: output is missing`);
    }
  }

  private async onRegister(conn: Connection, msg: RegisterMessage): Promise<void> {
    conn.registering = true;
    if (msg.protocolVersion !== AGENT_PROTOCOL_VERSION) {
      return this.reject(conn, "protocol_version", `This matchmaker speaks agent protocol ${AGENT_PROTOCOL_VERSION}, not ${String(msg.protocolVersion)}.`);
    }
    const verdict = await checkRegistration(msg, conn.challenge, this.opts);
    if (!verdict.ok) return this.reject(conn, verdict.refusal.code, verdict.refusal.message);
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    if (msg.trustLevel !== verdict.trustLevel) {
      this.opts.log(`machine ${msg.machineId} of ${msg.providerDid} claims ${String(msg.trustLevel)}; its attestation establishes ${verdict.trustLevel}, which is what it is routed as`);
    }
    const info: MachineInfo = {
      machineId: msg.machineId,
      provider: msg.providerDid,
      models: msg.models,
      trustLevel: verdict.trustLevel,
      encryptionPubKey: msg.encryptionPubKey,
      attestationPubKey: msg.attestationPubKey,
      acceptedExchanges: msg.acceptedExchanges ?? [],
      provisioning: msg.engineState === "loading",
      faulted: msg.engineState === "fault",
      capacity: Number.isInteger(msg.capacity) && msg.capacity > 0 ? msg.capacity : 1,
      capacityByModel: capacityMap(msg.capacityByModel),
      capabilitiesByModel: capabilitiesMap(msg.capabilitiesByModel),
      version: msg.version,
      attestation: msg.attestation,
      providerRecord: msg.providerRecord,
    };
    // A machine reconnecting replaces its old connection; jobs on the old one are lost with it.
    // Only the same machine may do that (same provider, same attestation key): anyone can read a
    // machineId off /v1/providers, and must not be able to push the machine out with it.
    const old = this.byMachine.get(msg.machineId);
    if (old && old !== conn && (old.owner?.provider !== msg.providerDid || old.owner.attestationPubKey !== msg.attestationPubKey)) {
      return this.reject(conn, "machine_id_taken", `Machine id ${msg.machineId} is already registered by another machine; register under your own id.`);
    }
    conn.machineId = msg.machineId;
    conn.owner = { provider: msg.providerDid, attestationPubKey: msg.attestationPubKey };
    conn.registeredAt = this.opts.now();
    conn.resumes = msg.resumes === true;
    this.byMachine.set(msg.machineId, conn);
    this.opts.registry.upsert(info, conn.id, this.opts.now());
    if (old && old !== conn) {
      // Its jobs are held now, before this connection's resumes can arrive.
      this.dropConnection(old, "the machine registered again on a new connection");
      old.ws.terminate();
    }
    conn.ws.send(encodeMessage({
      type: "registered", machineId: msg.machineId, heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      ...(this.holds.enabled && msg.resumes === true && { resumeGraceMs: this.opts.resumeGraceMs }),
    }));
    this.opts.log(`machine ${msg.machineId} of ${msg.providerDid} registered (${msg.models.join(", ")}; ${msg.engineState})`);
  }

  /**
   * A renewed attestation is taken only once it checks out like the first, and the machine's trust
   * level is derived anew from it; one that does not hold ends the session (the machine must
   * register again), while an unreachable PDS leaves the machine on the attestation it had.
   */
  private onRenewedAttestation(conn: Connection, ref: { uri: string; cid: string }): void {
    const m = conn.machineId ? this.opts.registry.get(conn.machineId) : undefined;
    if (!m || m.connectionId !== conn.id || (m.attestation?.uri === ref.uri && m.attestation.cid === ref.cid) || conn.renewing === ref.cid) return;
    if (!this.opts.verifyAttestations) {
      m.attestation = { uri: ref.uri, cid: ref.cid };
      return;
    }
    conn.renewing = ref.cid;
    void attestedLevel(m.provider, ref, { encryptionPubKey: m.encryptionPubKey, publicKey: m.attestationPubKey }, this.opts).then((v) => {
      conn.renewing = undefined;
      const live = this.opts.registry.get(m.machineId);
      if (live !== m) return;
      if (v.ok) {
        m.attestation = { uri: ref.uri, cid: ref.cid };
        m.trustLevel = v.trustLevel;
      } else if (v.refusal.code === "attestation_unreachable") {
        this.opts.log(`machine ${m.machineId}: renewed attestation not checked yet (${v.refusal.message})`);
      } else {
        this.reject(conn, v.refusal.code, v.refusal.message);
      }
    });
  }

  private reject(conn: Connection, code: string, message: string): void {
    this.opts.log(`agent registration refused: ${code}: ${message}`);
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(encodeMessage({ type: "rejected", code, message }));
    conn.ws.close(4000 + 3, code.slice(0, 100));
  }

  private dropConnection(conn: Connection, reason: string): void {
    this.connections.delete(conn.id);
    if (conn.machineId && this.byMachine.get(conn.machineId) === conn) {
      this.byMachine.delete(conn.machineId);
      this.opts.registry.remove(conn.machineId, conn.id);
      this.countDrop(conn);
    }
    clearTimeout(conn.ackTimer);
    const jobs = [...conn.jobs];
    conn.jobs.clear();
    for (const [jobUri, job] of jobs) {
      // Before any output the job is better re-dispatched at once (attempt.ts) than held; after a
      // `bye` the agent is going away, not coming back for it.
      if (this.holds.enabled && conn.resumes && !conn.closing && job.relayed >= 0 && conn.machineId && conn.owner) {
        const grace = this.opts.resumeGraceMs;
        this.holds.hold(conn.machineId, jobUri, conn.owner, job, () => job.listener.onLost(`${reason}, and it did not resume the job within ${Math.round(grace / 1000)} s`));
      } else job.listener.onLost(reason);
    }
  }

  /**
   * A machine that went silent, or dropped (without `bye`) soon after registering, failed: a
   * crash loop shows up as register churn before any job reaches it. Jobs lost with the
   * connection are counted by their attempts instead, and a connection replaced by the same
   * machine's newer one is a reconnect, not a drop.
   */
  private countDrop(conn: Connection): void {
    if (!conn.owner || conn.closing || conn.jobs.size > 0) return;
    const churn = conn.registeredAt !== undefined && this.opts.now() - conn.registeredAt < this.opts.churnMs;
    if (!conn.silent && !churn) return;
    this.opts.registry.recordFailure({ machineId: conn.machineId!, ...conn.owner }, conn.silent ? "went silent" : "dropped soon after registering", this.opts.log);
  }
}

/** Messages about one job: a malformed one fails the job it names. */
const JOB_MESSAGES = new Set(["accepted", "chunk", "done", "error", "resume"]);

/** The agent's per-model concurrency, keeping only positive integer counts (undefined when absent or empty). */
function capacityMap(v: unknown): Record<string, number> | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const out: Record<string, number> = {};
  for (const [model, n] of Object.entries(v as Record<string, unknown>)) if (Number.isInteger(n) && (n as number) > 0) out[model] = n as number;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The agent's per-model capabilities, keeping only well-formed entries (anything else: text only). */
function capabilitiesMap(v: unknown): Record<string, ModelCapabilities> | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const out: Record<string, ModelCapabilities> = {};
  for (const [model, c] of Object.entries(v as Record<string, unknown>)) {
    const x = c as Partial<ModelCapabilities> | null;
    if (x && typeof x === "object") out[model] = { tools: x.tools === true, structuredOutput: x.structuredOutput === true, contextLength: Number.isSafeInteger(x.contextLength) && x.contextLength! > 0 ? x.contextLength! : 0 };
  }
  return out;
}
