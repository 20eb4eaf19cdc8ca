// `cocore ledger replay`: the machine over a MemoryStore, fed either the short event forms (touch,
// receipt, tick, and published grant/refresh facts; applied in ledger-time order whatever their
// order in the file, duplicates dropped) or a simulation's record stream (simulation.ts; delivery
// order). Both run the same transition function the exchange runs.
import { recordCid } from "../cid.ts";
import { NSID } from "../lexicon/index.ts";
import type { ReceiptFacts } from "./facts.ts";
import { LOG_COLLECTIONS, applyLogRecord } from "./log.ts";
import { decisionTid } from "./publish.ts";
import { Ledger } from "./machine.ts";
import { policyFromRecord, type LedgerPolicy } from "./policy.ts";
import { MemoryTarget, parseSimEvent, runSimulation, SIM_EVENT_TYPES } from "./simulation.ts";
import { MemoryStore, type PublishedRow } from "./store.ts";
import { LedgerError, type LedgerEvent, type Movement, type ParkedReceipt, type PeriodResult, type RejectedReceipt, type Settlement } from "./types.ts";
import { compareBytes, iso, isDid, isNonNegativeInt, parseTime } from "./util.ts";

/** An event checked and reduced to its canonical form, with its time in ms. */
export type NormalizedEvent = LedgerEvent & { atMs: number; fingerprint: string };

// At one instant: touches, then receipts, then published facts, then ticks.
const TYPE_ORDER: Record<LedgerEvent["type"], number> = { touch: 0, receipt: 1, grant: 2, refresh: 3, tick: 4 };

function bad(message: string): never {
  throw new LedgerError("invalid-event", message);
}

function field(o: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, name) ? o[name] : undefined;
}

function did(o: Record<string, unknown>, name: string): string {
  const v = field(o, name);
  if (!isDid(v)) bad(`${name} must be a DID`);
  return v;
}

function int(o: Record<string, unknown>, name: string, label = name): number {
  const v = field(o, name);
  if (!isNonNegativeInt(v)) bad(`${label} must be a non-negative safe integer`);
  return v;
}

function object(v: unknown, name: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) bad(`${name} must be an object`);
  return v as Record<string, unknown>;
}

/** Checks one short-form event and returns its canonical form. */
export function normalizeEvent(value: unknown): NormalizedEvent {
  const o = object(value, "event");
  const type = field(o, "type");
  const atMs = parseTime(field(o, "at"), "at");
  const at = iso(atMs);
  let event: LedgerEvent;
  switch (type) {
    case "touch":
      event = { type, did: did(o, "did"), at };
      break;
    case "tick":
      event = { type, at };
      break;
    case "grant":
    case "refresh":
      event = { type, did: did(o, "did"), amount: int(o, "amount"), at };
      break;
    case "receipt": {
      const uri = field(o, "uri");
      if (typeof uri !== "string" || uri.length === 0 || uri.length > 8192) bad("uri must be a non-empty string");
      const tokens = object(field(o, "tokens"), "tokens");
      const price = object(field(o, "price"), "price");
      const currency = field(price, "currency");
      if (typeof currency !== "string" || currency.length === 0 || currency.length > 64) bad("price.currency must be a string");
      const proBono = field(o, "proBono");
      if (proBono !== undefined && typeof proBono !== "boolean") bad("proBono must be a boolean");
      event = {
        type,
        uri,
        requester: did(o, "requester"),
        provider: did(o, "provider"),
        tokens: { in: int(tokens, "in", "tokens.in"), out: int(tokens, "out", "tokens.out") },
        price: { amount: int(price, "amount", "price.amount"), currency },
        ...(proBono ? { proBono: true } : {}),
        at,
      };
      break;
    }
    default:
      bad(`type must be one of touch, receipt, tick, grant, refresh, ${[...SIM_EVENT_TYPES].join(", ")}`);
  }
  return { ...event, atMs, fingerprint: JSON.stringify(event) };
}

function subject(e: LedgerEvent): string {
  return e.type === "receipt" ? e.uri : e.type === "tick" ? "" : e.did;
}

/** The canonical application order of short-form events, exact duplicates removed. */
export function orderEvents(events: readonly unknown[]): NormalizedEvent[] {
  const normalized = events.map(normalizeEvent);
  normalized.sort((a, b) => a.atMs - b.atMs || TYPE_ORDER[a.type] - TYPE_ORDER[b.type] || compareBytes(subject(a), subject(b)) || compareBytes(a.fingerprint, b.fingerprint));
  return normalized.filter((e, i) => i === 0 || e.fingerprint !== normalized[i - 1]!.fingerprint);
}

export interface ReplayResult {
  /** Every account the ledger knows, the treasury included, keys in byte order. */
  balances: Record<string, number>;
  treasury: number;
  /** Every movement that changed a balance, in the order applied. */
  movements: Movement[];
  /** Receipts waiting for their requester's balance at the end. */
  parked: ParkedReceipt[];
  rejected: RejectedReceipt[];
  settlements: Settlement[];
  patronage: PeriodResult[];
  /** Every receipt's final status and finding codes (a simulation stream). */
  receipts: { uri: string; status: string; codes: string[] }[];
  admissions: { job: string; ok: boolean; code?: string }[];
  /** Records the exchange would publish, in log order (uri under the policy's exchange). */
  published: { uri: string; value: Record<string, unknown> }[];
}

export interface PolicyInput {
  uri?: string;
  cid?: string;
  value: Record<string, unknown>;
}

/** A MemoryStore holding just the exchange's first policy. */
export function storeWithPolicy(policy: PolicyInput): { store: MemoryStore; ledger: LedgerPolicy; uri: string } {
  const ledger = policyFromRecord(policy.value);
  const store = new MemoryStore();
  const cid = policy.cid ?? recordCid({ $type: NSID.exchangePolicy, ...policy.value }) ?? "";
  // As `exchange simulate` names it: a TID record key at the policy's createdAt.
  const uri = policy.uri ?? `at://${ledger.exchange}/${NSID.exchangePolicy}/${decisionTid(ledger.createdAt, 0)}`;
  store.putPolicy({ uri, cid, createdAt: ledger.createdAt, value: policy.value });
  return { store, ledger, uri };
}

/** The result shape from a store's final state. */
export function resultOf(store: MemoryStore, policy: LedgerPolicy, extra: { movements: Movement[]; patronage: PeriodResult[]; admissions?: ReplayResult["admissions"] }): ReplayResult {
  const balances: Record<string, number> = {};
  for (const d of [...new Set([...store.accounts.keys(), policy.treasury])].sort(compareBytes)) balances[d] = store.accounts.get(d)?.balance ?? 0;
  const receipts = [...store.receipts.values()].sort((a, b) => compareBytes(a.uri, b.uri));
  const settlements: Settlement[] = receipts
    .filter((r) => r.status === "settled" && r.settlement)
    .map((r) => ({ uri: r.uri, requester: r.requester!, provider: r.provider, kind: r.settlement!.kind, charged: r.settlement!.charged, payout: r.settlement!.payout, fee: r.settlement!.fee, settledAt: iso(r.settlement!.settledAt) }))
    .sort((a, b) => compareBytes(a.settledAt, b.settledAt) || compareBytes(a.uri, b.uri));
  const published = store.publishOrder
    .map((k) => store.publishedRows.get(k)!)
    .sort((a: PublishedRow, b: PublishedRow) => (a.rkey < b.rkey ? -1 : a.rkey > b.rkey ? 1 : 0))
    .map((p) => ({ uri: `at://${policy.exchange}/${p.collection}/${p.rkey}`, value: p.value }));
  return {
    balances,
    treasury: balances[policy.treasury] ?? 0,
    movements: extra.movements,
    parked: receipts
      .filter((r) => r.status === "parked")
      .map((r) => ({ uri: r.uri, reason: "insufficient-balance" as const, requester: r.requester!, price: r.facts?.price ?? 0, at: iso(r.completedAt ?? 0) })),
    rejected: receipts
      .filter((r) => r.status === "rejected" && r.findings?.some((f) => f.code === "currency-mismatch") && r.facts)
      .map((r) => ({ uri: r.uri, reason: "currency-mismatch" as const, message: r.findings![0]!.message })),
    settlements,
    patronage: extra.patronage,
    receipts: receipts.map((r) => ({ uri: r.uri, status: r.status, codes: (r.findings ?? []).map((f) => f.code) })),
    admissions: extra.admissions ?? [],
    published,
  };
}

function factsOf(e: Extract<NormalizedEvent, { type: "receipt" }>): ReceiptFacts {
  return {
    uri: e.uri,
    cid: "",
    requester: e.requester,
    provider: e.provider,
    // A short-form receipt stands for its own job: each settles once.
    jobUri: e.uri,
    price: e.price.amount,
    currency: e.price.currency,
    tokens: e.tokens,
    proBono: e.proBono === true,
    completedAt: e.atMs,
    auth: null,
  };
}

/** The short-form replay: events in canonical order through the machine. */
async function replayShort(events: readonly unknown[], policy: PolicyInput): Promise<ReplayResult> {
  const { store, ledger: lp } = storeWithPolicy(policy);
  const ledger = new Ledger(store, { exchange: lp.exchange });
  const movements: Movement[] = [];
  const patronage: PeriodResult[] = [];
  const take = (fx: { movements: Movement[]; periods: PeriodResult[] }) => {
    movements.push(...fx.movements);
    patronage.push(...fx.periods);
  };
  const ordered = orderEvents(events);
  for (const e of ordered) {
    take(await ledger.apply({ type: "advance", to: e.atMs }));
    if (e.type === "touch") take(await ledger.apply({ type: "touch", did: e.did }));
    else if (e.type === "receipt") take(await ledger.apply({ type: "receipt", facts: factsOf(e) }));
    else if (e.type === "grant" || e.type === "refresh") {
      const collection = e.type === "grant" ? NSID.tokenGrant : NSID.tokenRefresh;
      const value = { exchange: lp.exchange, recipient: e.did, amount: e.amount, createdAt: e.at };
      const before = store.movements.length;
      await applyLogRecord(ledger, { uri: "", cid: "", collection, rkey: "", value }, { overdraw: false });
      movements.push(...store.movements.slice(before));
    }
  }
  const last = ordered[ordered.length - 1];
  // Everything at the last instant is decided; periods ending after it are not.
  if (last) take(await ledger.apply({ type: "advance", to: last.atMs + 1, periodsTo: last.atMs }));
  return resultOf(store, lp, { movements, patronage });
}

/** A simulation stream (record/delete/admit/release/read/tick) through the machine over memory. */
export async function replaySimulation(events: readonly unknown[], policy: PolicyInput): Promise<ReplayResult & { store: MemoryStore }> {
  const { store, ledger: lp } = storeWithPolicy(policy);
  const target = new MemoryTarget(store, { exchange: lp.exchange });
  const admissions = await runSimulation(events.map(parseSimEvent), target, lp.createdAt);
  const movements = target.effects.flatMap((f) => f.movements);
  const patronage = target.effects.flatMap((f) => f.periods);
  return { ...resultOf(store, lp, { movements, patronage, admissions }), store };
}

/** Whether a stream uses the simulation vocabulary (any record/delete/admit/release/read event). */
export function isSimulationStream(events: readonly unknown[]): boolean {
  return events.some((e) => {
    const t = (e as { type?: unknown } | null)?.type;
    return typeof t === "string" && SIM_EVENT_TYPES.has(t) && t !== "tick";
  });
}

/** The whole ledger from an event list. */
export async function replay(events: readonly unknown[], policy: PolicyInput | Record<string, unknown>): Promise<ReplayResult> {
  const p: PolicyInput = "value" in policy && typeof policy.value === "object" && policy.value !== null ? (policy as PolicyInput) : { value: policy as Record<string, unknown> };
  if (isSimulationStream(events)) {
    const { store: _s, ...result } = await replaySimulation(events, p);
    return result;
  }
  return replayShort(events, p);
}

export { LOG_COLLECTIONS };
