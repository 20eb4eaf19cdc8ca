// The live machine registry and the routing decision. Time is passed in so the rules can be
// tested without a clock.
import type { ModelCapabilities } from "@cocore/agent/matchmaker-protocol";
import { meetsTrustLevel } from "@cocore/protocol";
import { DispatchError } from "./codes.ts";
import { Cooldowns, type CooldownPolicy } from "./cooldown.ts";

export interface MachineInfo {
  /** Stable machine identity: the attestation public key (base64 P-256 X‖Y). */
  machineId: string;
  /** The provider DID that gets paid. */
  provider: string;
  models: string[];
  /** Derived from the machine's attestation record (never the agent's own claim). */
  trustLevel: string;
  /** Base64 X25519 key prompts for this machine are sealed to. */
  encryptionPubKey: string;
  /** Base64 raw P-256 point of the machine's attestation key. */
  attestationPubKey: string;
  /** Exchanges whose settlement the provider accepts; empty means any. */
  acceptedExchanges: string[];
  provisioning: boolean;
  faulted: boolean;
  /** Concurrent jobs the machine takes, per model it serves (the agent's advertisement). */
  capacity: number;
  /** Per-model concurrency; a model missing here gets `capacity`. */
  capacityByModel?: Record<string, number>;
  /** What the machine serves per model beyond text; a model missing here serves text only. */
  capabilitiesByModel?: Record<string, ModelCapabilities>;
  version?: string;
  machineLabel?: string;
  attestation?: { uri: string; cid: string };
  /** at:// URI of the machine's provider record. */
  providerRecord?: string;
}

export interface MachineEntry extends MachineInfo {
  connectionId: string;
  connectedAt: number;
  lastSeen: number;
  /** Jobs this matchmaker has on the machine, in all and per model. */
  active: number;
  activeByModel: Map<string, number>;
}

export interface RouteRequest {
  model: string;
  acceptedTrustLevel: string;
  acceptedProviders?: string[];
  exchange: string;
  /** When the prompt is already sealed to a machine, only machines with this key can open it. */
  encryptionPubKey?: string;
  /** Connections already tried for this job (a machine that reconnected may be tried again). */
  excludeConnections?: ReadonlySet<string>;
  /** What the job needs beyond text: tool calls, an answer under a JSON schema. */
  needs?: JobNeeds;
}

export interface JobNeeds {
  tools?: boolean;
  structuredOutput?: boolean;
}

/** Whether `m` serves `needs` for `model`. */
export function serves(m: MachineInfo, model: string, needs: JobNeeds | undefined): boolean {
  const c = m.capabilitiesByModel?.[model];
  return (!needs?.tools || c?.tools === true) && (!needs?.structuredOutput || c?.structuredOutput === true);
}

export interface RegistryOptions {
  /** A machine silent for this long is dropped. */
  staleAfterMs: number;
  /** When machines (and providers) that keep failing are cooled down (cooldown.ts). */
  cooldown: CooldownPolicy;
  /** The cool-down's clock (default Date.now): separate so that tests can move it without making machines stale. */
  clock?: () => number;
}

/** What a machine's cool-down is keyed by. */
export type CooledMachine = Pick<MachineInfo, "machineId" | "provider" | "attestationPubKey">;

function machineKey(m: CooledMachine): string {
  return JSON.stringify([m.provider, m.attestationPubKey]);
}

/** A machine (machineKey set) or a provider as a whole with failures in a row on record (GET /v1/status). */
export interface CooldownEntry {
  provider: string;
  /** The machine's attestation key; absent for the provider's own entry. */
  machineKey?: string;
  /** The machine's id, while it is registered. */
  machineId?: string;
  failures: number;
  /** Not routed to before this, when cooling now. */
  coolingUntil?: number;
}

/**
 * A machine's level (derived from its attestation at registration, registration.ts) against a
 * job's acceptedTrustLevel: the rule receipt verification applies, so routing never sends a job
 * where its receipt would be refused. An unknown level meets nothing (fail closed).
 */
export function meetsTrust(machineLevel: string, accepted: string): boolean {
  return (machineLevel === "self-attested" || machineLevel === "hardware-attested") && meetsTrustLevel(machineLevel, accepted);
}

/** Slots the machine has for `model` (at least 1: a machine that serves a model runs one of its jobs). */
export function capacityFor(m: MachineInfo, model: string): number {
  const c = m.capacityByModel?.[model] ?? m.capacity;
  return Number.isInteger(c) && c > 0 ? c : 1;
}

export function activeFor(m: MachineEntry, model: string): number {
  return m.activeByModel.get(model) ?? 0;
}

export function hasSlot(m: MachineEntry, model: string): boolean {
  return activeFor(m, model) < capacityFor(m, model);
}

/** A job of `model` starts on `m`. */
export function occupy(m: MachineEntry, model: string): void {
  m.active += 1;
  m.activeByModel.set(model, activeFor(m, model) + 1);
}

/** A job of `model` on `m` ended. */
export function vacate(m: MachineEntry, model: string): void {
  m.active = Math.max(0, m.active - 1);
  const n = activeFor(m, model) - 1;
  if (n > 0) m.activeByModel.set(model, n);
  else m.activeByModel.delete(model);
}

export class Registry {
  private readonly machines = new Map<string, MachineEntry>();
  private readonly listeners: Array<() => void> = [];
  private readonly machineCooldowns: Cooldowns;
  private readonly providerCooldowns: Cooldowns;

  private readonly clock: () => number;

  constructor(private readonly opts: RegistryOptions) {
    this.clock = opts.clock ?? Date.now;
    this.machineCooldowns = new Cooldowns(opts.cooldown, this.clock);
    this.providerCooldowns = new Cooldowns({ ...opts.cooldown, threshold: opts.cooldown.providerThreshold }, this.clock);
  }

  /** Called after anything that may have given a model more room (a machine registered or became ready). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Registers (or re-registers) a machine; a newer connection replaces an older one. */
  upsert(info: MachineInfo, connectionId: string, now: number): MachineEntry {
    const prev = this.machines.get(info.machineId);
    const entry: MachineEntry = {
      ...info,
      connectionId,
      connectedAt: prev?.connectionId === connectionId ? prev.connectedAt : now,
      lastSeen: now,
      active: prev?.connectionId === connectionId ? prev.active : 0,
      activeByModel: prev?.connectionId === connectionId ? prev.activeByModel : new Map(),
    };
    this.machines.set(info.machineId, entry);
    this.changed();
    return entry;
  }

  get(machineId: string): MachineEntry | undefined {
    return this.machines.get(machineId);
  }

  /** Removes a machine only if it is still bound to this connection (a reconnect may have replaced it). */
  remove(machineId: string, connectionId?: string): boolean {
    const m = this.machines.get(machineId);
    if (!m || (connectionId !== undefined && m.connectionId !== connectionId)) return false;
    return this.machines.delete(machineId);
  }

  touch(machineId: string, now: number, update: Partial<Pick<MachineInfo, "provisioning" | "faulted" | "models" | "capacityByModel" | "capabilitiesByModel">> = {}): void {
    const m = this.machines.get(machineId);
    if (!m) return;
    m.lastSeen = now;
    const before = JSON.stringify([m.provisioning, m.faulted, m.models, m.capacityByModel, m.capabilitiesByModel]);
    if (update.provisioning !== undefined) m.provisioning = update.provisioning;
    if (update.faulted !== undefined) m.faulted = update.faulted;
    if (update.models !== undefined) m.models = update.models;
    if (update.capacityByModel !== undefined) m.capacityByModel = update.capacityByModel;
    if (update.capabilitiesByModel !== undefined) m.capabilitiesByModel = update.capabilitiesByModel;
    if (JSON.stringify([m.provisioning, m.faulted, m.models, m.capacityByModel, m.capabilitiesByModel]) !== before) this.changed();
  }

  /** Drops machines that stopped heartbeating; returns them so their connections can be closed. */
  sweep(now: number): MachineEntry[] {
    const dropped: MachineEntry[] = [];
    for (const m of this.machines.values()) {
      if (now - m.lastSeen > this.opts.staleAfterMs) {
        this.machines.delete(m.machineId);
        dropped.push(m);
      }
    }
    return dropped;
  }

  /** `m` served a job: its failures, and its provider's, are forgotten. */
  recordSuccess(m: CooledMachine): void {
    this.machineCooldowns.succeed(machineKey(m));
    this.providerCooldowns.succeed(m.provider);
  }

  /**
   * A failure pinned on `m` (it may have left the registry already: a drop is recorded after it).
   * Keyed by the provider and the machine's attestation key, which its register signed: a
   * machineId is public, so keying by it would let anyone cool someone else's machine.
   */
  recordFailure(m: CooledMachine, why: string, log?: (msg: string) => void): void {
    const s = this.machineCooldowns.fail(machineKey(m));
    const p = this.providerCooldowns.fail(m.provider);
    const now = this.clock();
    if (log && s.coolingUntil > now) log(`machine ${m.machineId} cooling down for ${Math.round((s.coolingUntil - now) / 1000)} s after ${s.failures} failures in a row (last: ${why})`);
    if (log && p.coolingUntil > now) log(`provider ${m.provider} cooling down for ${Math.round((p.coolingUntil - now) / 1000)} s after ${p.failures} failures in a row across its machines`);
  }

  /** Until when `m` is kept out of routing (its own cool-down or its provider's), undefined when it is not. */
  coolingUntil(m: CooledMachine): number | undefined {
    const a = this.machineCooldowns.until(machineKey(m));
    const b = this.providerCooldowns.until(m.provider);
    return a === undefined ? b : b === undefined ? a : Math.max(a, b);
  }

  /** Machines and providers with failures on record, cooling or not. */
  cooldowns(): CooldownEntry[] {
    const now = this.clock();
    const entry = (s: { failures: number; coolingUntil: number }) => ({ failures: s.failures, ...(s.coolingUntil > now && { coolingUntil: s.coolingUntil }) });
    const byKey = new Map([...this.machines.values()].map((m) => [machineKey(m), m.machineId]));
    return [
      ...this.machineCooldowns.entries().map(([key, s]) => {
        const [provider, attestationPubKey] = JSON.parse(key) as [string, string];
        const machineId = byKey.get(key);
        return { provider, machineKey: attestationPubKey, ...(machineId !== undefined && { machineId }), ...entry(s) };
      }),
      ...this.providerCooldowns.entries().map(([provider, s]) => ({ provider, ...entry(s) })),
    ];
  }

  /** Machines fit to be offered work at all (live, ready, not cooling down). */
  live(now: number): MachineEntry[] {
    return [...this.machines.values()].filter(
      (m) => now - m.lastSeen <= this.opts.staleAfterMs && !m.provisioning && !m.faulted && this.coolingUntil(m) === undefined,
    );
  }

  all(): MachineEntry[] {
    return [...this.machines.values()];
  }

  /**
   * Machines that could serve a job, busy or not, best first: least loaded (by share of the
   * model's slots in use), then freshest heartbeat. Throws a DispatchError naming the first filter
   * that left nothing, so the requester learns *why* (no machine has the model, vs. none is
   * trusted enough…). Whether one has a free slot is the dispatcher's business: a job that finds
   * them all busy waits in the model's queue.
   */
  candidates(req: RouteRequest, now: number): MachineEntry[] {
    const live = this.live(now);
    let pool = live.filter((m) => m.models.includes(req.model));
    if (pool.length === 0) throw new DispatchError("no_providers_for_model", `No live provider serves the model "${req.model}" right now.`);
    // Fail closed on what the job needs: a tools job sent to a text-only machine would be answered
    // with text (or refused after its hold), never with the calls it asked for.
    if (req.needs?.tools) {
      pool = pool.filter((m) => serves(m, req.model, { tools: true }));
      if (pool.length === 0) throw new DispatchError("tool_calls_not_supported", `No live provider serves tool calls for "${req.model}" right now.`);
    }
    if (req.needs?.structuredOutput) {
      pool = pool.filter((m) => serves(m, req.model, { structuredOutput: true }));
      if (pool.length === 0) throw new DispatchError("structured_output_not_supported", `No live provider enforces JSON-schema answers for "${req.model}" right now.`);
    }
    pool = pool.filter((m) => meetsTrust(m.trustLevel, req.acceptedTrustLevel));
    if (pool.length === 0) {
      throw new DispatchError(
        "no_providers_for_trust",
        `Providers serve "${req.model}", but none at trust level "${req.acceptedTrustLevel}" or stronger.`,
      );
    }
    if (req.acceptedProviders && req.acceptedProviders.length > 0) {
      const allowed = new Set(req.acceptedProviders);
      pool = pool.filter((m) => allowed.has(m.provider));
      if (pool.length === 0) throw new DispatchError("no_accepted_providers", "None of the providers this job accepts is live for the model.");
    }
    pool = pool.filter((m) => m.acceptedExchanges.length === 0 || m.acceptedExchanges.includes(req.exchange));
    if (pool.length === 0) {
      throw new DispatchError("no_providers_for_exchange", `No live provider for "${req.model}" accepts settlement through exchange ${req.exchange}.`);
    }
    if (req.encryptionPubKey !== undefined) {
      pool = pool.filter((m) => m.encryptionPubKey === req.encryptionPubKey);
      if (pool.length === 0) {
        throw new DispatchError(
          "provider_unavailable",
          "The provider the prompt was sealed to is not connected (or no longer fits the job); ask for a new offer and seal again.",
        );
      }
    }
    if (req.excludeConnections) {
      pool = pool.filter((m) => !req.excludeConnections!.has(m.connectionId));
      if (pool.length === 0) throw new DispatchError("provider_lost", "The provider serving this job was lost and no other machine can open its sealed prompt.");
    }
    const load = (m: MachineEntry) => activeFor(m, req.model) / capacityFor(m, req.model);
    return pool.sort((a, b) => load(a) - load(b) || b.lastSeen - a.lastSeen || a.machineId.localeCompare(b.machineId));
  }
}
