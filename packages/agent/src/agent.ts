// The provider agent: keys and state, attestation, the provider record lifecycle (seed 003),
// the engine, the matchmaker connection and the receipts. `startAgent` returns once the machine
// is up (ready, or faulted onto the stub engine); `stop()` is the graceful shutdown that publishes
// serving:false.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalBytes, sign, base64Encode, timerDelay, type SigningKey, type TrustLevel } from "@cocore/protocol";
import { login, type Agent } from "@cocore/atproto";
import { attestationNeedsRenewal, publishAttestation, type PublishedAttestation } from "./attestation.ts";
import { deviceAgent, loadDeviceCredential, PairingError, type DeviceCredential } from "./device.ts";
import { EngineHost, type EngineLoader } from "./engine-host.ts";
import type { EngineKind } from "./engines/index.ts";
import { agentBinaryHash, clip64, collectHostFacts, type HostFacts } from "./host.ts";
import { JobSlots } from "./job-slots.ts";
import { errorMessage, runJob, type JobContext } from "./jobs.ts";
import { JobOutbox } from "./job-outbox.ts";
import { MatchmakerClient, type BackoffOptions } from "./matchmaker-client.ts";
import { AGENT_PROTOCOL_VERSION, type EngineState, type JobMessage, type ModelCapabilities, type RegisterMessage } from "./matchmaker-protocol.ts";
import { DEFAULT_TOKEN_RATE, PolicySource, type TokenRate } from "./policy.ts";
import { ProviderRecord, type Fault, type ProviderPatch } from "./provider-record.ts";
import { ReceiptQueue } from "./receipt-queue.ts";
import { SeenJobs } from "./seen-jobs.ts";
import { defaultStateDir, loadOrCreateState, RECEIPT_QUEUE_FILE, type AgentState } from "./state.ts";

export const AGENT_VERSION: string = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
// What the machine's file-held key can prove (protocol trustLevelOf); the matchmaker derives it
// from the attestation itself, so this is the agent's own view, used to refuse jobs it cannot meet.
export const TRUST_LEVEL: TrustLevel = "self-attested";

/**
 * How the agent writes its records: a password session on the provider's PDS, or the device
 * credential `cocore agent pair` stored in the state directory (writes go through the console's
 * proxy, signed by the machine key; no password on the machine).
 */
export type AgentAuth = { pds: string; handle: string; password: string; paired?: undefined } | { paired: true; pds?: string; handle?: undefined; password?: undefined };

export type AgentOptions = AgentAuth & AgentSettings;

export interface AgentSettings {
  stateDir?: string;
  engine?: EngineKind;
  /** GGUF path or URL (llama engine). Default: the bundled models/fortunes-char.gguf. */
  model?: string;
  /** Model id served for `model`. Default "fortunes-char". */
  modelId?: string;
  /** Directory of further GGUF files, each served as its file name without `.gguf` (desiredModels). */
  modelsDir?: string;
  threads?: number;
  /**
   * Jobs of each model run at once (default 1): llama gets that many context sequences per model,
   * an OpenAI-compatible upstream that many requests in flight. Advertised to the matchmaker,
   * which sends no more and queues the rest.
   */
  parallel?: number;
  openaiBase?: string;
  openaiApiKey?: string;
  matchmaker?: string;
  exchange?: string;
  plc?: string;
  machineLabel?: string;
  /** How often the provider record is read back for owner edits (desiredModels, proBono…). */
  pollMs?: number;
  receiptRetryMs?: number;
  attestationValidityMs?: number;
  advisorFaultAfter?: number;
  backoff?: BackoffOptions;
  /** Replaces the engine loader (tests, benchmarks). */
  engineLoader?: EngineLoader;
  /**
   * A paired machine whose pairing the owner revoked: the agent has stopped (it can write
   * nothing more); the caller decides what follows (the CLI exits 1).
   */
  onRevoked?: (err: Error) => void;
  log?: (line: string) => void;
}

export interface RunningAgent {
  did: string;
  agent: Agent;
  state: AgentState;
  /** The console pairing the agent writes through (undefined: a password session). */
  paired?: DeviceCredential;
  provider: ProviderRecord;
  queue: ReceiptQueue;
  host: HostFacts;
  readonly providerUri: string;
  readonly rkey: string;
  readonly attestation: PublishedAttestation;
  readonly supportedModels: string[];
  readonly engineState: EngineState;
  readonly matchmakerConnected: boolean;
  /** The owner set `active: false`: off the matchmaker, taking no jobs; the record stays. */
  readonly paused: boolean;
  /** Reads the provider record and reloads the engine if desiredModels changed. */
  syncWithRecord(): Promise<void>;
  flushReceipts(): Promise<void>;
  /** Runs one job as if the matchmaker had dispatched it (the bench's agent path). */
  handleJob(msg: JobMessage, send: (m: object) => void): Promise<void>;
  stop(): Promise<void>;
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

async function signIn(opts: AgentAuth, stateDir: string, key: SigningKey): Promise<{ agent: Agent; did: string; paired?: DeviceCredential }> {
  if (!opts.paired) {
    const agent = await login(opts.pds, opts.handle, opts.password);
    return { agent, did: agent.assertDid };
  }
  const paired = loadDeviceCredential(stateDir);
  if (!paired) throw new PairingError("not_paired", `no device credential in ${stateDir}: pair this machine first (cocore agent pair --console URL), or give a password`);
  return { agent: deviceAgent(paired, key), did: paired.owner, paired };
}

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`agent: ${line}\n`));
  const stateDir = opts.stateDir ?? defaultStateDir();
  const state = loadOrCreateState(stateDir);
  const queue = ReceiptQueue.open(join(stateDir, RECEIPT_QUEUE_FILE));
  const { agent, did, paired } = await signIn(opts, stateDir, state.signingKey);
  const host = collectHostFacts();
  const binaryHash = agentBinaryHash();
  const encryptionPubKey = base64Encode(state.encryption.publicKey);
  const policies = new PolicySource({ fallbackPds: opts.pds ?? paired?.pds, plcUrl: opts.plc });
  const engines = new EngineHost({
    kind: opts.engine ?? "llama",
    defaultModelId: opts.modelId ?? "fortunes-char",
    model: opts.model,
    modelsDir: opts.modelsDir,
    threads: opts.threads,
    parallel: opts.parallel,
    openaiBase: opts.openaiBase,
    openaiApiKey: opts.openaiApiKey,
    loader: opts.engineLoader,
    log,
  });
  if (paired) log(`paired through ${paired.console} as "${paired.label}" (no password on this machine)`);
  log(`provider ${did}; state ${stateDir}${state.created ? " (new keys)" : ""}; machine key ${state.signingKey.publicKey.slice(0, 16)}…`);

  let rate: TokenRate = await policies.rateFor(opts.exchange);
  let provisioning = true;
  let serving = true;
  let advisorFault: Fault | undefined;
  let stopping = false;
  const provider = new ProviderRecord(agent, did, state.signingKey.publicKey);
  const adopted = await provider.adopt();
  if (adopted.deleted.length > 0) log(`deleted duplicate provider records ${adopted.deleted.join(", ")}`);

  const desiredOf = (v: Record<string, unknown> | undefined): string[] | undefined => {
    const d = v?.desiredModels;
    return Array.isArray(d) && d.every((x) => typeof x === "string") && d.length > 0 ? (d as string[]) : undefined;
  };
  let lastDesired = desiredOf(provider.current?.value);
  // Owner intent: `active: false` pauses the machine (the lexicon's default is true).
  let paused = provider.current?.value.active === false;
  let intended = lastDesired ?? [engines.defaultModelId];

  const agentPatch = (): ProviderPatch => {
    const models = engines.state === "loading" && engines.supported.length === 0 ? intended : engines.supported;
    return {
      chip: clip64(host.chip),
      ramGB: host.ramGB,
      os: clip64(host.osVersion),
      cpuCores: host.cpuCores,
      supportedModels: models.length > 0 ? models : ["stub"],
      priceList: (models.length > 0 ? models : ["stub"]).map((modelId) => ({ modelId, ...rate })),
      encryptionPubKey,
      attestationPubKey: state.signingKey.publicKey,
      trustLevel: TRUST_LEVEL,
      provisioning,
      serving,
      binaryVersion: AGENT_VERSION,
      engineFault: engines.fault,
      advisorFault,
      contactEndpoint: opts.matchmaker,
    };
  };
  const createOnly = () => ({ machineLabel: (opts.machineLabel ?? paired?.label ?? host.hostname).slice(0, 128), createdAt: new Date().toISOString() });
  // Publishes are chained so our own writes never race each other (swapRecord guards the owner's).
  let publishChain: Promise<unknown> = Promise.resolve();
  const publish = (): Promise<void> => {
    const next = publishChain.then(() => provider.publish(agentPatch(), createOnly()));
    publishChain = next.catch(() => {});
    return next.then(() => {});
  };

  await publish();
  log(`provider record ${provider.uri} (provisioning)`);

  let attestation = await publishAttestation(agent, attestationInput());
  function attestationInput() {
    return {
      signingKey: state.signingKey as SigningKey,
      encryptionPublicKey: state.encryption.publicKey,
      host,
      serialSalt: state.serialSalt,
      binaryHash,
      now: new Date(),
      validityMs: opts.attestationValidityMs,
    };
  }
  let renewing: Promise<PublishedAttestation> | undefined;
  const renewAttestation = async (): Promise<PublishedAttestation> => {
    renewing ??= publishAttestation(agent, attestationInput()).finally(() => (renewing = undefined));
    attestation = await renewing;
    log(`attestation renewed ${attestation.uri} (until ${attestation.expiresAt})`);
    matchmaker?.heartbeat();
    return attestation;
  };

  await engines.reconcile(intended);
  await publish();

  // ---------------------------------------------------------------- jobs
  const active = new Map<string, AbortController>();
  // Jobs dispatched with admission pending: resolved true by `admitted`, false by a cancel, the
  // connection's loss or the job's deadline (then no receipt is written).
  const admissions = new Map<string, (admitted: boolean) => void>();
  const settleAdmission = (jobUri: string, admitted: boolean) => {
    admissions.get(jobUri)?.(admitted);
    admissions.delete(jobUri);
  };
  // The owner's say over tool calls (provider record, PROTOCOL.md §3): never written by the agent.
  const ownerAllowsTools = (v: Record<string, unknown> | undefined = provider.current?.value) => v?.toolCallsDisabled !== true && v?.toolCalls !== false;
  const capabilitiesOf = (modelId: string): ModelCapabilities | undefined => {
    const c = engines.runner(modelId)?.capabilities;
    return c ? { ...c, tools: c.tools && ownerAllowsTools() } : undefined;
  };
  const seen = new SeenJobs();
  const slots = new JobSlots((model) => engines.concurrency(model));
  const ctx: JobContext = {
    did,
    agent,
    signingKey: state.signingKey,
    encryptionSecretKey: state.encryption.secretKey,
    trustLevel: TRUST_LEVEL,
    queue,
    runner: (id) => engines.runner(id),
    capabilities: capabilitiesOf,
    attestation: async (until) => {
      const a = Date.parse(attestation.expiresAt) <= until.getTime() || attestationNeedsRenewal(attestation, new Date()) ? await renewAttestation() : attestation;
      return { uri: a.uri, cid: a.cid, expiresAt: a.expiresAt };
    },
    rate: (exchange) => policies.rateFor(exchange),
    providerValue: () => provider.current?.value ?? {},
    now: () => new Date(),
  };

  const handleJob = (msg: JobMessage, send: (m: object) => void): Promise<void> => {
    const jobUri = msg.job?.uri ?? "";
    if (stopping || paused) {
      send({ type: "error", jobUri, code: paused ? "provider_paused" : "shutting_down", message: paused ? "the owner paused this machine" : "this machine is shutting down" });
      return Promise.resolve();
    }
    if (!seen.add(jobUri, msg.jobRecord?.expiresAt, Date.now())) {
      send({ type: "error", jobUri, code: "duplicate_job", message: "this job was already dispatched to this machine" });
      return Promise.resolve();
    }
    const abort = new AbortController();
    active.set(jobUri, abort);
    let seq = 0;
    let admitted: Promise<boolean> | undefined;
    if (msg.admission === "pending") {
      const until = Date.parse(String(msg.jobRecord?.expiresAt)) - Date.now();
      admitted = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => settleAdmission(jobUri, false), Number.isFinite(until) ? timerDelay(until) : 0);
        timer.unref();
        admissions.set(jobUri, (ok) => {
          clearTimeout(timer);
          resolve(ok);
        });
      });
    }
    const model = typeof msg.jobRecord?.model === "string" ? msg.jobRecord.model : "";
    return slots.run(model, async () => {
      try {
        const sink = { accepted: () => send({ type: "accepted", jobUri }), chunk: (sealed: string) => send({ type: "chunk", jobUri, seq: seq++, sealed }) };
        const done = await runJob(ctx, msg, sink, abort.signal, admitted);
        send(done);
        if (!done.receipt.written) log(`receipt ${done.receipt.uri} queued (PDS write failed); will retry`);
      } catch (err) {
        send(errorMessage(jobUri, err));
      } finally {
        active.delete(jobUri);
        settleAdmission(jobUri, false);
      }
    });
  };

  // ---------------------------------------------------------------- matchmaker
  let matchmaker: MatchmakerClient | undefined;
  const engineState = (): EngineState => (provisioning && engines.state === "loading" ? "loading" : engines.state);
  const servedModels = () => (engines.supported.length > 0 ? engines.supported : ["stub"]);
  const capacityByModel = (): Record<string, number> => Object.fromEntries(servedModels().map((id) => [id, engines.concurrency(id)]));
  const capabilitiesByModel = (): Record<string, ModelCapabilities> =>
    Object.fromEntries(servedModels().flatMap((id) => {
      const c = capabilitiesOf(id);
      return c ? [[id, c] as const] : [];
    }));
  const signRegistration = async (challenge: string): Promise<RegisterMessage> => {
    const perModel = capacityByModel();
    const body: Omit<RegisterMessage, "sig"> = {
      type: "register",
      protocolVersion: AGENT_PROTOCOL_VERSION,
      providerDid: did,
      machineId: provider.rkey!,
      providerRecord: provider.uri!,
      models: engines.supported.length > 0 ? engines.supported : ["stub"],
      trustLevel: TRUST_LEVEL,
      engineState: engineState(),
      ...(engines.fault ? { engineFault: { code: engines.fault.code, message: engines.fault.message } } : {}),
      version: AGENT_VERSION,
      encryptionPubKey,
      attestationPubKey: state.signingKey.publicKey,
      attestation: { uri: attestation.uri, cid: attestation.cid },
      attestationExpiresAt: attestation.expiresAt,
      ...(Array.isArray(provider.current?.value.acceptedExchanges) ? { acceptedExchanges: provider.current.value.acceptedExchanges as string[] } : {}),
      capacity: Object.values(perModel).reduce((a, b) => a + b, 0),
      capacityByModel: perModel,
      capabilitiesByModel: capabilitiesByModel(),
      resumes: true,
      at: new Date().toISOString(),
      challenge,
    };
    return { ...body, sig: base64Encode(sign(state.signingKey, canonicalBytes(body))) };
  };
  const connectMatchmaker = (url: string) => {
    // A job's frames survive the socket: kept until acked, replayed on the next session (job-outbox.ts).
    const outbox = new JobOutbox({ send: (m) => mm.send(m) });
    const mm = new MatchmakerClient({
      url,
      register: signRegistration,
      status: () => ({
        models: engines.supported.length > 0 ? engines.supported : ["stub"],
        engineState: engineState(),
        activeJobs: active.size,
        capacityByModel: capacityByModel(),
        capabilitiesByModel: capabilitiesByModel(),
        attestation: { uri: attestation.uri, cid: attestation.cid },
        attestationExpiresAt: attestation.expiresAt,
      }),
      onJob: (msg) => void handleJob(msg, (m) => outbox.send(m as Parameters<JobOutbox["send"]>[0])),
      onAck: (jobUri, seq, final) => outbox.ack(jobUri, seq, final),
      onAdmitted: (jobUri) => settleAdmission(jobUri, true),
      onCancel: (jobUri) => {
        // Still pending here means never admitted (the matchmaker admits before any plain cancel).
        settleAdmission(jobUri, false);
        outbox.drop(jobUri);
        active.get(jobUri)?.abort();
      },
      onDisconnected: () => {
        const grace = mm.resumeGraceMs;
        outbox.disconnected(grace !== undefined);
        // A job that may be resumed may still be admitted on the next session; one that is not, never.
        for (const jobUri of [...admissions.keys()]) if (!outbox.resumable(jobUri)) settleAdmission(jobUri, false);
        if (grace !== undefined) {
          const late = setTimeout(() => {
            for (const jobUri of [...admissions.keys()]) if (outbox.resumable(jobUri)) settleAdmission(jobUri, false);
          }, 2 * grace);
          late.unref();
        }
      },
      onConnected: () => {
        const resumed = outbox.resumeAll();
        if (resumed.length > 0) log(`resumed ${resumed.length} job(s) on the new matchmaker session`);
        log(`registered with matchmaker ${opts.matchmaker}`);
        if (provisioning || advisorFault) {
          provisioning = false;
          advisorFault = undefined;
          publish().catch((err: unknown) => log(`provider record update failed: ${String(err)}`));
        }
      },
      onFault: (fault) => {
        log(`advisorFault: ${fault.message}`);
        advisorFault = { ...fault, at: new Date().toISOString() };
        publish().catch((err: unknown) => log(`provider record update failed: ${String(err)}`));
      },
      faultAfterFailures: opts.advisorFaultAfter,
      backoff: opts.backoff,
      log,
    });
    matchmaker = mm;
    mm.start();
  };
  if (opts.matchmaker && !paused) connectMatchmaker(opts.matchmaker);
  else {
    provisioning = false;
    await publish();
  }
  if (!provisioning) log(`ready: serving ${engines.supported.join(", ") || "stub"}`);

  // ---------------------------------------------------------------- background loops
  let lastToolsAllowed = ownerAllowsTools();
  const syncWithRecord = async (): Promise<void> => {
    const entry = await provider.read();
    if (!entry) {
      // The record vanished (deleted by the owner or an old agent): put ours back.
      await publish();
      return;
    }
    const nowPaused = entry.value.active === false;
    if (nowPaused !== paused && opts.matchmaker) {
      paused = nowPaused;
      // Leaving the matchmaker is what stops new jobs: it no longer lists the machine as live.
      if (paused) {
        log("the owner set active: false; leaving the matchmaker (the record stays)");
        const mm = matchmaker;
        matchmaker = undefined;
        await mm?.stop("paused by the owner");
      } else {
        log("the owner set active: true; rejoining the matchmaker");
        connectMatchmaker(opts.matchmaker);
      }
    }
    paused = nowPaused;
    const desired = desiredOf(entry.value);
    if (ownerAllowsTools(entry.value) !== lastToolsAllowed) {
      lastToolsAllowed = ownerAllowsTools(entry.value);
      log(`the owner turned tool calls ${lastToolsAllowed ? "on" : "off"}`);
      matchmaker?.heartbeat();
    }
    if (!sameList(desired, lastDesired)) {
      lastDesired = desired;
      intended = desired ?? [engines.defaultModelId];
      log(`desiredModels changed to ${JSON.stringify(desired ?? null)}; reloading`);
      const wasProvisioning = provisioning;
      provisioning = true;
      await publish();
      matchmaker?.heartbeat();
      await engines.reconcile(intended);
      provisioning = wasProvisioning;
      await publish();
      matchmaker?.heartbeat();
    }
  };
  let syncing = false;
  const pollTimer = setInterval(() => {
    if (syncing || stopping) return;
    syncing = true;
    syncWithRecord()
      .catch((err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        if (paired && /device_revoked/.test(message)) {
          log("the owner revoked this machine's pairing in the console: stopping (pair again with cocore agent pair)");
          void stop().then(() => opts.onRevoked?.(err instanceof Error ? err : new Error(message)));
          return;
        }
        log(`reading the provider record failed: ${message}`);
      })
      .finally(() => (syncing = false));
  }, opts.pollMs ?? 5000);
  const retryTimer = setInterval(() => {
    if (queue.size > 0) void queue.flush(agent);
  }, opts.receiptRetryMs ?? 15_000);
  const renewTimer = setInterval(
    () => {
      if (attestationNeedsRenewal(attestation, new Date())) renewAttestation().catch((err: unknown) => log(`attestation renewal failed: ${String(err)}`));
    },
    Math.min(3600_000, Math.max(1000, Math.floor((opts.attestationValidityMs ?? 24 * 3600_000) / 8))),
  );
  const rateTimer = opts.exchange
    ? setInterval(() => {
        void policies.rateFor(opts.exchange).then((r) => {
          if (JSON.stringify(r) !== JSON.stringify(rate)) {
            rate = r;
            void publish().catch(() => {});
          }
        });
      }, 10 * 60_000)
    : undefined;
  for (const t of [pollTimer, retryTimer, renewTimer, rateTimer]) t?.unref();
  if (queue.size > 0) void queue.flush(agent);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      for (const t of [pollTimer, retryTimer, renewTimer, rateTimer]) clearInterval(t);
      await matchmaker?.stop();
      // Let running jobs finish (their receipts are owed); cut them short after a grace period.
      const grace = setTimeout(() => {
        for (const a of active.values()) a.abort();
      }, 20_000);
      await slots.idle();
      clearTimeout(grace);
      await queue.flush(agent);
      if (queue.size > 0) log(`${queue.size} receipt(s) still queued in ${queue.path}; they are written on the next start`);
      serving = false;
      try {
        await publish();
        log("published serving: false");
      } catch (err) {
        log(`could not publish serving:false: ${err instanceof Error ? err.message : String(err)}`);
      }
      await engines.dispose();
    })();
    return stopped;
  };

  return {
    did,
    agent,
    state,
    ...(paired ? { paired } : {}),
    provider,
    queue,
    host,
    get providerUri() {
      return provider.uri!;
    },
    get rkey() {
      return provider.rkey!;
    },
    get attestation() {
      return attestation;
    },
    get supportedModels() {
      return engines.supported.length > 0 ? [...engines.supported] : ["stub"];
    },
    get engineState() {
      return engineState();
    },
    get matchmakerConnected() {
      return matchmaker?.connected ?? false;
    },
    get paused() {
      return paused;
    },
    syncWithRecord,
    flushReceipts: () => queue.flush(agent),
    handleJob,
    stop,
  };
}

export { DEFAULT_TOKEN_RATE };
