// Real signed records and a thin driver for the ledger machine, for the ledger tests. Every
// record here is schema-valid and verifies (signatures, strong-refs, the TOK token rate), so a
// test that expects a rejection breaks exactly the one thing it names.
import assert from "node:assert/strict";
import { recordCid } from "../src/cid.ts";
import { inputCommitment } from "../src/commitment.ts";
import { generateSigningKey, type SigningKey } from "../src/keys.ts";
import { NSID, toJsonRecord } from "../src/lexicon/index.ts";
import { generateEncryptionKeyPair } from "../src/seal.ts";
import { signRecord } from "../src/signature.ts";
import { base64Encode } from "../src/base64.ts";
import {
  decisionOf,
  Ledger,
  storeWithPolicy,
  type MemoryStore,
  type AdmissionResult,
  type Effects,
  type LedgerInput,
  type PublishedRow,
  type ReceiptStatus,
} from "../src/ledger/index.ts";
import { attestationValue, authorizationValue, jobValue, receiptValue } from "../../../test-support/records.ts";

export const EXCHANGE = "did:web:exchange.test";
export const T0 = Date.parse("2026-05-01T00:00:00.000Z");
export const SECOND = 1000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const iso = (ms: number) => new Date(ms).toISOString();

export type Value = Record<string, unknown>;
/** A record as stored in a repo: its uri, the CID of its value, and the value (lex form). */
export interface Rec {
  uri: string;
  cid: string;
  value: Value;
}

export function rec(uri: string, value: Value): Rec {
  const cid = recordCid(value);
  assert.ok(cid, `no cid for ${uri}`);
  return { uri, cid, value };
}

export const ref = (r: Rec) => ({ uri: r.uri, cid: r.cid });

// ---------------------------------------------------------------------------------------------
// The policy

export interface PolicyOptions {
  createdAt?: number;
  feeBps?: number;
  feeMinMinor?: number;
  tokenGrant?: number;
  tokenFloor?: number;
  refresh?: { amountPerDid: number; cadenceMinutes: number } | null;
  patronage?: { fractionBps: number; cadenceDays: number } | null;
  selfLoop?: { feeWaived: boolean; minMinor?: number };
  treasuryDid?: string;
}

/**
 * An exchangePolicy value in the shape packages/exchange/src/policy.ts buildPolicyRecord writes.
 * Defaults: 5% fee, a 1,000-token grant, no floor, no refresh, 80% patronage every day.
 */
export function policyValue(o: PolicyOptions = {}): Value {
  const v: Value = {
    $type: NSID.exchangePolicy,
    exchange: EXCHANGE,
    fee: { bps: o.feeBps ?? 500, minMinor: o.feeMinMinor ?? 0, currency: "TOK" },
    supportedCurrencies: ["TOK"],
    selfLoop: o.selfLoop ?? { feeWaived: true },
    tokenRate: { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" },
    tokenGrant: o.tokenGrant ?? 1000,
    tokenFloor: o.tokenFloor ?? 0,
    treasuryDid: o.treasuryDid ?? EXCHANGE,
    active: true,
    createdAt: iso(o.createdAt ?? T0),
  };
  if (o.refresh) v.weeklyRefresh = { ...o.refresh };
  if (o.patronage !== null) v.patronageDistribution = { ...(o.patronage ?? { fractionBps: 8000, cadenceDays: 1 }) };
  return v;
}

/** A later policy record of the exchange, published in its repo under `rkey`. */
export function policyRecord(rkey: string, o: PolicyOptions): Rec {
  return rec(`at://${EXCHANGE}/${NSID.exchangePolicy}/${rkey}`, policyValue(o));
}

// ---------------------------------------------------------------------------------------------
// Hosts and work

/** A provider's machine: its DID, signing key and signed attestation (valid for months). */
export interface Host {
  did: string;
  key: SigningKey;
  attestation: Rec;
}

export function host(did: string, o: { from?: number; to?: number } = {}): Host {
  const key = generateSigningKey();
  const value = attestationValue({
    publicKey: key.publicKey,
    encryptionPubKey: base64Encode(generateEncryptionKeyPair().publicKey),
    attestedAt: o.from ?? T0 - DAY,
    expiresAt: o.to ?? T0 + 120 * DAY,
  });
  return { did, key, attestation: rec(`at://${did}/${NSID.attestation}/att`, signRecord(value, "selfSignature", key)) };
}

export const COMMITMENT = inputCommitment(new TextEncoder().encode("sealed prompt bytes"));

export interface AuthOptions {
  /** Default: the job's creation minus 10 s. */
  createdAt?: number;
  /** Default: a day after createdAt. */
  expiresAt?: number;
  ceiling?: number;
  exchange?: string;
  scope?: "singleJob" | "session";
  sessionBudget?: number;
  nonce?: string;
}

export function authorization(requester: string, id: string, o: AuthOptions & { createdAt: number }): Rec {
  const value: Value = {
    ...authorizationValue({ exchange: o.exchange ?? EXCHANGE, ceiling: o.ceiling ?? 1_000_000, at: o.createdAt, ...(o.nonce ? { nonce: o.nonce } : {}) }),
    scope: o.scope ?? "singleJob",
  };
  if (o.expiresAt !== undefined) value.expiresAt = iso(o.expiresAt);
  if (o.sessionBudget !== undefined) value.sessionBudget = { amount: o.sessionBudget, currency: "TOK" };
  return rec(`at://${requester}/${NSID.paymentAuthorization}/auth-${id}`, value);
}

export interface WorkOptions {
  /** Unique per job: names the job, its receipt and (unless shared) its authorization. */
  id: string;
  requester: string;
  host: Host;
  /** Tokens in (out 0) at the TOK rate; or give `tokens`. */
  price?: number;
  tokens?: { in: number; out: number };
  completedAt: number;
  /** Default: completedAt − 10 s. */
  startedAt?: number;
  /** Default: startedAt − 10 s (a job lives an hour). */
  jobCreatedAt?: number;
  maxTokensOut?: number;
  /** The job's priceCeiling; default the price (at least 1). */
  ceiling?: number;
  /** An authorization shared with other jobs; default a fresh singleJob one. */
  auth?: Rec;
  authOptions?: AuthOptions;
  proBono?: boolean;
}

export interface Work {
  auth: Rec;
  job: Rec;
  receipt: Rec;
  /** Everything the receipt needs, attestation included, in repo order. */
  records: Rec[];
}

/** An authorization, a job and the host's signed receipt for it. */
export function work(o: WorkOptions): Work {
  const tokens = o.tokens ?? { in: o.price ?? 0, out: 0 };
  const price = tokens.in + tokens.out;
  const startedAt = o.startedAt ?? o.completedAt - 10 * SECOND;
  const jobCreatedAt = o.jobCreatedAt ?? Math.min(startedAt, o.completedAt) - 10 * SECOND;
  const ceiling = o.ceiling ?? Math.max(price, 1);
  const auth = o.auth ?? authorization(o.requester, o.id, { ceiling, ...o.authOptions, createdAt: o.authOptions?.createdAt ?? jobCreatedAt - 10 * SECOND });
  const job = rec(
    `at://${o.requester}/${NSID.job}/job-${o.id}`,
    jobValue({
      exchange: EXCHANGE,
      ceiling,
      at: jobCreatedAt,
      inputCommitment: COMMITMENT,
      paymentAuthorization: ref(auth),
      maxTokensOut: o.maxTokensOut ?? Math.max(1000, tokens.out),
    }),
  );
  const unsigned = receiptValue({
    job: ref(job),
    requester: o.requester,
    inputCommitment: COMMITMENT,
    tokens,
    startedAt,
    completedAt: o.completedAt,
    attestation: ref(o.host.attestation),
    ...(o.proBono ? { proBono: true } : {}),
  });
  const receipt = rec(`at://${o.host.did}/${NSID.receipt}/r-${o.id}`, signRecord(unsigned, "enclaveSignature", o.host.key));
  return { auth, job, receipt, records: [auth, job, o.host.attestation, receipt] };
}

// ---------------------------------------------------------------------------------------------
// The machine

/** The machine over a MemoryStore holding `policy` as the exchange's first policy. */
export class World {
  readonly store: MemoryStore;
  readonly ledger: Ledger;
  readonly policyUri: string;
  readonly policyCid: string;
  readonly effects: Effects[] = [];
  /** A fresh Ledger over the same store for every input, as the exchange runs it (a restart each time). */
  private readonly restart: boolean;

  constructor(policy: Value = policyValue(), opts: { restart?: boolean } = {}) {
    this.restart = opts.restart ?? false;
    const { store, uri } = storeWithPolicy({ value: policy });
    this.store = store;
    this.policyUri = uri;
    // storeWithPolicy's own computation: the CID of the value with its $type.
    this.policyCid = recordCid({ $type: NSID.exchangePolicy, ...policy })!;
    this.ledger = new Ledger(store, { exchange: EXCHANGE });
  }

  async apply(input: LedgerInput): Promise<Effects> {
    const ledger = this.restart ? new Ledger(this.store, { exchange: EXCHANGE }) : this.ledger;
    const fx = await ledger.apply(input);
    this.effects.push(fx);
    return fx;
  }

  /** One delivery batch. */
  deliver(records: readonly Rec[], seenAt: number): Promise<Effects> {
    return this.apply({ type: "records", seenAt, ops: records.map((r) => ({ action: "put" as const, uri: r.uri, cid: r.cid, value: r.value })) });
  }

  advance(to: number): Promise<Effects> {
    return this.apply({ type: "advance", to });
  }

  /** As the exchange does: the watermark reaches `at`, then the matchmaker asks. */
  async admit(job: Rec, at: number): Promise<AdmissionResult> {
    await this.advance(at);
    return (await this.apply({ type: "admit", job: ref(job), at })).admission!;
  }

  async release(job: Rec, at: number): Promise<Effects> {
    await this.advance(at);
    return this.apply({ type: "release", job: job.uri, at });
  }

  async read(did: string, at: number): Promise<Effects> {
    await this.advance(at);
    return this.apply({ type: "read", did, at });
  }

  status(r: Rec | string): ReceiptStatus | undefined {
    return this.store.receipts.get(typeof r === "string" ? r : r.uri)?.status;
  }

  codes(r: Rec): string[] {
    return (this.store.receipts.get(r.uri)?.findings ?? []).map((f) => f.code);
  }

  balance(did: string): number {
    return this.store.accounts.get(did)?.balance ?? 0;
  }

  held(did: string): number {
    return this.store.accounts.get(did)?.held ?? 0;
  }

  /** Published rows in publication order, optionally of one collection. */
  published(collection?: string): PublishedRow[] {
    return this.store.publishOrder.map((k) => this.store.publishedRows.get(k)!).filter((p) => !collection || p.collection === collection);
  }

  /** The settlement record published for a receipt. */
  settlement(r: Rec): Value {
    const row = this.store.publishedRows.get(`settlement:${r.uri}`);
    assert.ok(row, `no settlement published for ${r.uri}`);
    return row.value;
  }

  settledAt(r: Rec): string {
    return this.settlement(r).settledAt as string;
  }

  /** Patronage scores recorded for the period starting at `start`. */
  scores(start: number): Record<string, number> {
    return Object.fromEntries([...(this.store.scoreRows.get(start) ?? new Map<string, number>())].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** Every row of the store, for "this changed nothing" comparisons. */
  snapshot(): unknown {
    return structuredClone({ ...this.store });
  }

  /** The statuses of every receipt, by uri. */
  statuses(): Record<string, string> {
    return Object.fromEntries([...this.store.receipts.values()].map((r) => [r.uri, r.status]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
  }
}

/** The published log as one string per record: key, rkey and value bytes (JSON) — for equality. */
export function logBytes(store: MemoryStore): string[] {
  return [...store.publishedRows.values()].map((p) => JSON.stringify([p.key, p.collection, p.rkey, p.value])).sort();
}

/** The time a published record states: settledAt, a period's end, or createdAt. */
export function statedTime(p: PublishedRow): number {
  const v = p.value;
  if (p.collection === NSID.settlement) return Date.parse(v.settledAt as string);
  if (p.collection === NSID.tokenPatronage) return Date.parse((v.period as { end: string }).end);
  return Date.parse(v.createdAt as string);
}

/** README "The log is public": record keys sort in publication order and carry each decision's time. */
export function assertMonotoneLog(store: MemoryStore): void {
  const rows = store.publishOrder.map((k) => store.publishedRows.get(k)!);
  const rkeys = rows.map((r) => r.rkey);
  assert.equal(new Set(rkeys).size, rkeys.length, "record keys are unique");
  assert.deepEqual([...rkeys].sort(), rkeys, "record keys sort in publication order");
  for (const r of rows) assert.equal(decisionOf(r.rkey)?.ms, statedTime(r), `${r.key}: the record key's time is the record's own time`);
}

/** A record as a simulation `record` event (atproto JSON form). */
export function simRecord(r: Rec): Value {
  return { type: "record", uri: r.uri, value: toJsonRecord(r.value) as Value };
}
