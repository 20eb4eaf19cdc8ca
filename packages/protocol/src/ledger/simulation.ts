// A record set delivered as an event stream (the `exchange simulate` contract), driven into any
// ledger target: the machine over a MemoryStore here, the real exchange engine in @cocore/exchange.
// Records between two clock events form one delivery batch; the exchange clock is the latest `at`
// seen, and every clock event moves the watermark to it (a simulation's ingestion is always caught
// up), so records delivered in a different order within a batch are decided identically.
import { recordCid } from "../cid.ts";
import { fromJsonRecord } from "../lexicon/index.ts";
import type { AdmissionResult, Effects } from "./inputs.ts";
import { Ledger, type MachineEnv } from "./machine.ts";
import type { MemoryStore } from "./store.ts";
import { LedgerError } from "./types.ts";
import { isDid, parseTime } from "./util.ts";

export type SimEvent =
  | { type: "record"; uri: string; value: Record<string, unknown> }
  | { type: "delete"; uri: string }
  | { type: "admit"; job: string; at: number }
  | { type: "release"; job: string; at: number }
  | { type: "read"; did: string; at: number }
  | { type: "tick"; at: number };

export const SIM_EVENT_TYPES: ReadonlySet<string> = new Set(["record", "delete", "admit", "release", "read", "tick"]);

const AT_URI = /^at:\/\/(did:[a-z]+:[a-zA-Z0-9._:%-]+)\/([a-zA-Z0-9.-]+)\/([a-zA-Z0-9._:~-]{1,512})$/;

function fail(message: string): never {
  throw new LedgerError("invalid-event", message);
}

/** Checks one parsed JSON line of a simulation and returns it typed. */
export function parseSimEvent(v: unknown): SimEvent {
  if (v === null || typeof v !== "object" || Array.isArray(v)) fail("event must be an object");
  const o = v as Record<string, unknown>;
  const uri = (name: string) => {
    const u = o[name];
    if (typeof u !== "string" || !AT_URI.test(u)) fail(`${name} must be an at:// record uri`);
    return u;
  };
  const at = () => parseTime(o.at, "at");
  switch (o.type) {
    case "record": {
      const value = o.value;
      if (value === null || typeof value !== "object" || Array.isArray(value)) fail("value must be an object");
      return { type: "record", uri: uri("uri"), value: value as Record<string, unknown> };
    }
    case "delete":
      return { type: "delete", uri: uri("uri") };
    case "admit":
    case "release":
      return { type: o.type, job: uri("job"), at: at() };
    case "read":
      if (!isDid(o.did)) fail("did must be a DID");
      return { type: "read", did: o.did, at: at() };
    case "tick":
      return { type: "tick", at: at() };
  }
  return fail(`type must be one of ${[...SIM_EVENT_TYPES].join(", ")}`);
}

export interface SimOp {
  action: "create" | "delete";
  uri: string;
  /** Lex form, with its CID computed from it. */
  record?: Record<string, unknown>;
  cid?: string;
}

/** What a simulation drives: the exchange engine, or the machine over memory. */
export interface SimTarget {
  /** One delivery batch, seen at exchange time `seenAt`. */
  records(ops: SimOp[], seenAt: number): Promise<void>;
  admit(job: { uri: string; cid: string }, at: number): Promise<AdmissionResult>;
  release(job: string, at: number): Promise<void>;
  read(did: string, at: number): Promise<void>;
  tick(at: number): Promise<void>;
}

/** Runs a simulation; returns the admission answers in order. `genesis`: the policy's createdAt. */
export async function runSimulation(events: readonly SimEvent[], target: SimTarget, genesis: number): Promise<{ job: string; ok: boolean; code?: string }[]> {
  let clock = genesis;
  let batch: SimOp[] = [];
  // The version last delivered of each record (admissions name the job at that version).
  const cids = new Map<string, string>();
  const admissions: { job: string; ok: boolean; code?: string }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const ops = batch;
    batch = [];
    await target.records(ops, clock);
  };
  for (const e of events) {
    if (e.type === "record") {
      const record = fromJsonRecord(e.value) as Record<string, unknown>;
      const cid = recordCid(record);
      if (!cid) fail(`record ${e.uri} cannot be encoded as a record`);
      cids.set(e.uri, cid);
      batch.push({ action: "create", uri: e.uri, record, cid });
      continue;
    }
    if (e.type === "delete") {
      cids.delete(e.uri);
      batch.push({ action: "delete", uri: e.uri });
      continue;
    }
    await flush();
    clock = Math.max(clock, e.at);
    switch (e.type) {
      case "admit": {
        const r = await target.admit({ uri: e.job, cid: cids.get(e.job) ?? "" }, clock);
        admissions.push({ job: e.job, ok: r.admitted, ...(r.code ? { code: r.code } : {}) });
        break;
      }
      case "release":
        await target.release(e.job, clock);
        break;
      case "read":
        await target.read(e.did, clock);
        break;
      case "tick":
        await target.tick(clock);
        break;
    }
  }
  await flush();
  return admissions;
}

/** The machine itself over a MemoryStore, as a simulation target (`ledger replay`, tests). */
export class MemoryTarget implements SimTarget {
  readonly effects: Effects[] = [];

  constructor(
    readonly store: MemoryStore,
    readonly env: MachineEnv,
  ) {}

  private async run(fn: (l: Ledger) => Promise<Effects>): Promise<Effects> {
    const fx = await fn(new Ledger(this.store, this.env));
    this.effects.push(fx);
    return fx;
  }

  async records(ops: SimOp[], seenAt: number): Promise<void> {
    await this.run((l) =>
      l.apply({ type: "records", seenAt, ops: ops.map((op) => (op.action === "delete" ? { action: "delete" as const, uri: op.uri } : { action: "put" as const, uri: op.uri, cid: op.cid!, value: op.record! })) }),
    );
  }

  async admit(job: { uri: string; cid: string }, at: number): Promise<AdmissionResult> {
    await this.run((l) => l.apply({ type: "advance", to: at }));
    return (await this.run((l) => l.apply({ type: "admit", job, at }))).admission!;
  }

  async release(job: string, at: number): Promise<void> {
    await this.run((l) => l.apply({ type: "advance", to: at }));
    await this.run((l) => l.apply({ type: "release", job, at }));
  }

  async read(did: string, at: number): Promise<void> {
    await this.run((l) => l.apply({ type: "advance", to: at }));
    await this.run((l) => l.apply({ type: "read", did, at }));
  }

  async tick(at: number): Promise<void> {
    await this.run((l) => l.apply({ type: "expire", at }));
    await this.run((l) => l.apply({ type: "advance", to: at }));
  }
}
