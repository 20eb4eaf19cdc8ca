// The replay driver: events in ledger-time order through the rules. Sorting by (time, type,
// subject, payload) and dropping exact duplicates makes the result a function of the event
// multiset alone, which is what lets two exchanges or an auditor agree whatever order they read in.
import type { LedgerPolicy } from "./policy.ts";
import { distributeDueInState } from "./patronage.ts";
import { applyFactInState, canPay, touchInState, trySettleInState } from "./rules.ts";
import { applyMovement, cloneState, emptyState, parkReceipt, type LedgerState, type ReceiptEntry } from "./state.ts";
import {
  LedgerError,
  type LedgerEvent,
  type Movement,
  type ParkedReceipt,
  type PeriodResult,
  type RejectedReceipt,
  type Settlement,
} from "./types.ts";
import { compareBytes, iso, isDid, isNonNegativeInt, parseTime } from "./util.ts";

/** An event checked and reduced to its canonical form, with its time in ms. */
export type NormalizedEvent = LedgerEvent & { atMs: number; fingerprint: string };

// Published facts after the rules' own events at the same instant, so a fact restating a derived
// grant or refresh meets it under the same key: identical → absorbed, different → conflict.
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

/**
 * Checks an untrusted value (e.g. one JSON line) and returns its canonical form: times rewritten
 * as UTC milliseconds ISO strings, `proBono` only when true. Unknown fields are dropped.
 */
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
      bad(`type must be one of touch, receipt, tick, grant, refresh`);
  }
  return { ...event, atMs, fingerprint: JSON.stringify(event) };
}

function subject(e: LedgerEvent): string {
  return e.type === "receipt" ? e.uri : e.type === "tick" ? "" : e.did;
}

/** The canonical application order, with exact duplicates removed. */
export function orderEvents(events: readonly unknown[]): NormalizedEvent[] {
  const normalized = events.map(normalizeEvent);
  normalized.sort(
    (a, b) =>
      a.atMs - b.atMs ||
      TYPE_ORDER[a.type] - TYPE_ORDER[b.type] ||
      compareBytes(subject(a), subject(b)) ||
      compareBytes(a.fingerprint, b.fingerprint),
  );
  return normalized.filter((e, i) => i === 0 || e.fingerprint !== normalized[i - 1]!.fingerprint);
}

/** What applying a batch of events did. */
export interface EventOutcome {
  /** Movements that changed a balance, in the order applied. */
  movements: Movement[];
  settlements: Settlement[];
  /** The batch's receipts that could not be paid and now wait (retried on later events). */
  parked: ParkedReceipt[];
  rejected: RejectedReceipt[];
  patronage: PeriodResult[];
}

function parkedOrder(a: ReceiptEntry, b: ReceiptEntry): number {
  return a.completedAt - b.completedAt || compareBytes(a.uri, b.uri);
}

function settlementOf(r: ReceiptEntry): Settlement {
  const s = r.settlement!;
  return {
    uri: r.uri,
    requester: r.requester,
    provider: r.provider,
    kind: s.kind,
    charged: s.charged,
    payout: s.payout,
    fee: s.fee,
    settledAt: iso(s.settledAt),
  };
}

/**
 * The effects of one normalized event on `state`, IN PLACE, without settling anything: facts and
 * touches credit, a tick distributes patronage, a receipt is registered (parked until the
 * instant's settlement pass) after touching both parties.
 */
function applyEffects(state: LedgerState, event: NormalizedEvent, policy: LedgerPolicy, out: EventOutcome): void {
  const t = event.atMs;
  switch (event.type) {
    case "grant":
    case "refresh":
      out.movements.push(...applyFactInState(state, event, t));
      return;
    case "touch":
      out.movements.push(...touchInState(state, event.did, t, policy));
      return;
    case "tick": {
      const { periods, movements } = distributeDueInState(state, policy, t, (m, at) => applyMovement(state, m, at));
      out.patronage.push(...periods);
      out.movements.push(...movements);
      return;
    }
    case "receipt": {
      const prior = state.receipts.get(event.uri);
      if (prior) {
        if (prior.fingerprint !== event.fingerprint) {
          throw new LedgerError("idempotency-conflict", `receipt ${event.uri} was already seen with a different payload`);
        }
        return;
      }
      const entry: ReceiptEntry = {
        uri: event.uri,
        fingerprint: event.fingerprint,
        requester: event.requester,
        provider: event.provider,
        price: event.price.amount,
        proBono: event.proBono === true,
        completedAt: t,
        status: "rejected",
      };
      state.receipts.set(event.uri, entry);
      if (event.price.currency !== policy.currency) {
        // Refused like a receipt that fails verification: it touches nobody and moves nothing.
        entry.reason = "currency-mismatch";
        const message = `price currency ${event.price.currency} is not the ledger currency ${policy.currency}`;
        out.rejected.push({ uri: event.uri, reason: "currency-mismatch", message });
        return;
      }
      parkReceipt(state, entry);
      out.movements.push(...touchInState(state, event.requester, t, policy));
      if (event.provider !== event.requester) out.movements.push(...touchInState(state, event.provider, t, policy));
      return;
    }
  }
}

function parkedOf(r: ReceiptEntry): ParkedReceipt {
  return { uri: r.uri, reason: "insufficient-balance", requester: r.requester, price: r.price, at: iso(r.completedAt) };
}

/** Every receipt still waiting, in (completedAt, uri) order. */
export function parkedReceipts(state: LedgerState): ParkedReceipt[] {
  return [...state.parked.values()]
    .flat()
    .map((u) => state.receipts.get(u)!)
    .sort(parkedOrder)
    .map(parkedOf);
}

/**
 * The settlement pass at the end of instant `t`: of the waiting receipts (new ones and earlier
 * parked ones), settle at `t` the first in (completedAt, uri) order whose requester can pay, and
 * repeat — a payout can fund an earlier receipt — until none can. So a parked receipt is retried
 * exactly when its requester's balance rose. Only dirty requesters can have a payable receipt.
 */
function settlePass(state: LedgerState, policy: LedgerPolicy, t: number, out: EventOutcome): void {
  for (;;) {
    let best: ReceiptEntry | undefined;
    for (const did of [...state.dirty]) {
      let first: ReceiptEntry | undefined;
      for (const uri of state.parked.get(did) ?? []) {
        const r = state.receipts.get(uri)!;
        if (canPay(state, r, policy)) {
          first = r;
          break;
        }
      }
      if (!first) state.dirty.delete(did);
      else if (!best || parkedOrder(first, best) < 0) best = first;
    }
    if (!best) break;
    const moved = trySettleInState(state, best, policy, t);
    if (moved === null) throw new LedgerError("invariant", `receipt ${best.uri} was payable and then not`);
    out.movements.push(...moved);
    out.settlements.push(settlementOf(best));
  }
  state.dirty.clear();
}

function emptyOutcome(): EventOutcome {
  return { movements: [], settlements: [], parked: [], rejected: [], patronage: [] };
}

/**
 * Applies events IN PLACE, in canonical order. Events sharing one instant (same ms) are
 * simultaneous: all their effects first, then one settlement pass — so the order in which
 * same-instant events arrive, or whether a derived grant/refresh was also fed back as a published
 * fact, cannot change which receipts settle. Events must not be earlier than events already
 * applied to `state` (replay guarantees this by sorting).
 */
export function applyEventsInPlace(state: LedgerState, events: readonly unknown[], policy: LedgerPolicy): EventOutcome {
  const out = emptyOutcome();
  const ordered = orderEvents(events);
  const receiptUris: string[] = [];
  for (let i = 0; i < ordered.length; ) {
    const t = ordered[i]!.atMs;
    for (; i < ordered.length && ordered[i]!.atMs === t; i++) {
      const e = ordered[i]!;
      applyEffects(state, e, policy, out);
      if (e.type === "receipt") receiptUris.push(e.uri);
    }
    settlePass(state, policy, t, out);
  }
  for (const uri of receiptUris) {
    const r = state.receipts.get(uri)!;
    if (r.status === "parked") out.parked.push(parkedOf(r));
  }
  return out;
}

/** Non-mutating form of applyEventsInPlace: returns the next state and leaves `state` untouched. */
export function applyEvents(state: LedgerState, events: readonly unknown[], policy: LedgerPolicy): EventOutcome & { state: LedgerState } {
  const next = cloneState(state);
  const outcome = applyEventsInPlace(next, events, policy);
  return { ...outcome, state: next };
}

export interface ReplayResult {
  /** Every account the ledger knows, the treasury included, keys in byte order. */
  balances: Record<string, number>;
  treasury: number;
  /** Every movement that changed a balance, in the order applied. */
  movements: Movement[];
  /** Receipts still waiting for their requester's balance at the end. */
  parked: ParkedReceipt[];
  rejected: RejectedReceipt[];
  settlements: Settlement[];
  patronage: PeriodResult[];
}

export function balancesOf(state: LedgerState, policy: LedgerPolicy): Record<string, number> {
  const balances: Record<string, number> = {};
  for (const d of [...state.accounts.keys(), policy.treasury].sort(compareBytes)) balances[d] = state.accounts.get(d)?.balance ?? 0;
  return balances;
}

/** The whole ledger from an event multiset (any order, duplicates allowed). */
export function replay(events: readonly unknown[], policy: LedgerPolicy): ReplayResult {
  const state = emptyState();
  const o = applyEventsInPlace(state, events, policy);
  const balances = balancesOf(state, policy);
  return {
    balances,
    treasury: balances[policy.treasury] ?? 0,
    movements: o.movements,
    parked: parkedReceipts(state),
    rejected: o.rejected,
    settlements: o.settlements,
    patronage: o.patronage,
  };
}
