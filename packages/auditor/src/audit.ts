// The auditor (ARCHITECTURE.md step 10): fetch the exchange's public repo and every member repo
// it references (verified CARs), re-verify every settled receipt, re-derive every balance,
// settlement amount and patronage share with the pure ledger rules, and report each difference
// from what the exchange published. Nothing here trusts the exchange beyond its signed repo.
import { makeIdResolver, type ExportedRecord, type IdResolver } from "@cocore/atproto";
import {
  compareBytes,
  LedgerError,
  NSID,
  policyFromRecord,
  replay,
  splitLedgerReceipt,
  validateRecord,
  verifyReceipt,
  type LedgerEvent,
  type LedgerPolicy,
  type ReplayResult,
} from "@cocore/protocol";
import type { Discrepancy } from "./codes.ts";
import { checkMints, checkPublishedPeriods, comparePatronage, parsePatronage } from "./facts.ts";
import { int, obj, parseAtUri, ref, str, time, type Value } from "./fields.ts";
import { fetchRepo, mapLimit, RepoUnavailable, type FetchedRepo, type RepoSource } from "./repos.ts";
import { bundleFor, checkSettlements, type SettledReceipt } from "./settlements.ts";

export interface AuditOptions {
  exchangeDid: string;
  /** Resolves DIDs (PDS endpoints, repo signing keys). Give this or plcUrl. */
  idResolver?: IdResolver;
  plcUrl?: string;
  /** PDSes to fetch repos from first; each DID document's PDS is tried after them. */
  pdsUrls?: string[];
  /** The exchange's XRPC base URL: when given, its public balances are compared too. */
  exchangeUrl?: string;
  /**
   * The exchange's settlement-signing public key (standard base64 of X‖Y). The exchange does not
   * publish it in a record yet, so settlement signatures are checked only when it is given.
   */
  exchangePublicKey?: string;
  /** More member DIDs to fetch (e.g. providers whose receipts the exchange may have ignored). */
  extraDids?: string[];
  /** Audit time in ms (default: the clock). */
  now?: number;
  /**
   * How long the exchange may take to settle a receipt or distribute an ended patronage period
   * before its absence is a discrepancy (default 10 minutes).
   */
  graceMs?: number;
  /** Repos fetched at once (default 4). */
  concurrency?: number;
}

export interface AuditStats {
  /** Settled receipts re-verified. */
  receipts: number;
  /** Settlement records in the exchange's repo. */
  settlements: number;
  grants: number;
  refreshes: number;
  /** tokenPatronage records. */
  patronage: number;
  /** Member repos fetched (the exchange's own not counted). */
  members: number;
  seconds: number;
}

export interface AuditReport {
  ok: boolean;
  exchange: string;
  /** The exchangePolicy record the ledger was re-derived under. */
  policy: string;
  discrepancies: Discrepancy[];
  stats: AuditStats;
  /** Every balance as re-derived from public records (treasury included). */
  balances: Record<string, number>;
  /** Whether settlement signatures were checked (an exchange public key was given). */
  signaturesChecked: boolean;
  /** Whether the exchange's own balances were compared (an exchange URL was given). */
  balancesCompared: boolean;
}

/** The audit could not run: unreadable input or an unreachable exchange (CLI exit 2). */
export class AuditInputError extends Error {
  override readonly name = "AuditInputError";
}

const EXCHANGE_COLLECTIONS = [NSID.settlement, NSID.tokenGrant, NSID.tokenRefresh, NSID.tokenPatronage] as const;

export async function audit(opts: AuditOptions): Promise<AuditReport> {
  const started = performance.now();
  const now = opts.now ?? Date.now();
  const graceMs = opts.graceMs ?? 10 * 60_000;
  const idResolver = opts.idResolver ?? (opts.plcUrl ? makeIdResolver(opts.plcUrl) : undefined);
  if (!idResolver) throw new AuditInputError("an idResolver or a PLC URL is needed to resolve and verify repos");
  const source: RepoSource = { idResolver, pdsUrls: opts.pdsUrls ?? [] };
  const discrepancies: Discrepancy[] = [];
  const report = (d: Discrepancy) => discrepancies.push(d);
  const exchangeDid = opts.exchangeDid;

  let exRepo: FetchedRepo;
  try {
    exRepo = await fetchRepo(source, exchangeDid);
  } catch (err) {
    throw new AuditInputError(err instanceof Error ? err.message : String(err));
  }
  const { policyRec, policy } = activePolicy(exRepo, exchangeDid);

  // The exchange's own records: schema-checked, then grouped by collection.
  const own = new Map<string, ExportedRecord[]>(EXCHANGE_COLLECTIONS.map((c) => [c, []]));
  for (const r of exRepo.records) {
    const list = own.get(r.collection);
    if (!list) continue;
    const valid = validateRecord(r.collection, r.value);
    if (!valid.ok) {
      report({ code: "record-invalid", subject: r.uri, expected: r.collection, actual: valid.message, message: `${r.collection} record does not match its lexicon: ${valid.message}` });
      continue;
    }
    if (r.collection !== NSID.settlement && str(r.value, "exchange") !== exchangeDid) {
      report({ code: "record-invalid", subject: r.uri, expected: exchangeDid, actual: str(r.value, "exchange") ?? null, message: "the record names another exchange" });
      continue;
    }
    list.push(r);
  }
  const settlements = own.get(NSID.settlement)!;
  const grants = own.get(NSID.tokenGrant)!;
  const refreshes = own.get(NSID.tokenRefresh)!;
  const patronageRecs = own.get(NSID.tokenPatronage)!;

  // Members: everyone the exchange's records name, then whoever their receipts name.
  const repos = new Map<string, FetchedRepo>([[exchangeDid, exRepo]]);
  const unavailable = new Set<string>();
  const fetchAll = async (dids: Iterable<string>) => {
    const todo = [...new Set(dids)].filter((d) => d.startsWith("did:") && !repos.has(d) && !unavailable.has(d)).sort(compareBytes);
    await mapLimit(todo, opts.concurrency ?? 4, async (did) => {
      try {
        repos.set(did, await fetchRepo(source, did));
      } catch (err) {
        if (!(err instanceof RepoUnavailable)) throw err;
        unavailable.add(did);
        report({ code: "repo-unavailable", subject: did, expected: "a verified repo", actual: null, message: err.message });
      }
    });
  };
  const firstRound = new Set<string>(opts.extraDids ?? []);
  for (const r of [...grants, ...refreshes, ...patronageRecs]) {
    const d = str(r.value, "recipient");
    if (d) firstRound.add(d);
  }
  for (const s of settlements) {
    for (const field of ["receipt", "requesterAuthorization"]) {
      const d = parseAtUri(ref(s.value, field).uri)?.repo;
      if (d) firstRound.add(d);
    }
  }
  await fetchAll(firstRound);
  const lookup = (uri: string): ExportedRecord | undefined => {
    const d = parseAtUri(uri)?.repo;
    return d === undefined ? undefined : repos.get(d)?.byUri.get(uri);
  };
  const secondRound = new Set<string>();
  for (const s of settlements) {
    const receipt = lookup(ref(s.value, "receipt").uri ?? "");
    if (!receipt) continue;
    const requester = str(receipt.value, "requester");
    if (requester) secondRound.add(requester);
    for (const field of ["job", "attestation"]) {
      const d = parseAtUri(ref(receipt.value, field).uri)?.repo;
      if (d) secondRound.add(d);
    }
  }
  await fetchAll(secondRound);

  // The policy publishes the key that signs settlements (cocore's additive settlementPublicKey);
  // a key given by the caller wins, for exchanges that do not publish one.
  const published = (policyRec.value as { settlementPublicKey?: unknown }).settlementPublicKey;
  const exchangePublicKey = opts.exchangePublicKey ?? (typeof published === "string" ? published : undefined);
  const checked = checkSettlements(settlements, { exchangeDid, lookup, unavailable, policy: policyRec, exchangePublicKey }, report);
  const firstTouch = new Map<string, number>();
  for (const r of checked.settled) {
    const t = Date.parse(r.completedAt);
    for (const d of [r.requester, r.provider]) firstTouch.set(d, Math.min(firstTouch.get(d) ?? t, t));
  }
  const mints = checkMints(grants, refreshes, policy, firstTouch, report);
  const patronage = parsePatronage(patronageRecs, report);

  // The ledger, re-derived from public records alone.
  const events: LedgerEvent[] = [...mints.events];
  for (const r of checked.settled) {
    events.push({
      type: "receipt",
      uri: r.receipt.uri,
      requester: r.requester,
      provider: r.provider,
      tokens: r.tokens,
      price: r.price,
      ...(r.proBono ? { proBono: true } : {}),
      at: r.completedAt,
    });
  }
  // Periods that ended a grace period ago must have been distributed; later ones may have been.
  if (policy.patronage) events.push({ type: "tick", at: new Date(Math.max(now - graceMs, patronage.lastEnd ?? 0, policy.createdAt)).toISOString() });
  let ledger: ReplayResult | undefined;
  try {
    ledger = replay(events, policy);
  } catch (err) {
    if (!(err instanceof LedgerError)) throw err;
    report({ code: "ledger-conflict", subject: exchangeDid, expected: "published grants/refreshes consistent with the rules", actual: err.code, message: `the ledger cannot be re-derived: ${err.message}` });
  }

  if (ledger) {
    compareSettlements(checked.settled, ledger, policy, report);
    for (const m of ledger.movements) {
      if ((m.kind === "grant" || m.kind === "refresh") && !mints.keys.has(m.key)) {
        report({
          code: m.kind === "grant" ? "grant-missing" : "refresh-missing",
          subject: m.to,
          expected: { amount: m.amount, at: m.at },
          actual: null,
          message: `the rules ${m.kind} ${m.to} ${m.amount} at ${m.at}; no token${m.kind === "grant" ? "Grant" : "Refresh"} record says so`,
        });
      }
    }
    const derivedPeriods = new Map(ledger.patronage.map((p) => [p.start, p]));
    checkPublishedPeriods(patronage.shares, policy, derivedPeriods, report);
    comparePatronage(patronage.shares, ledger.patronage, report);
    checkUnsettled(repos, checked, ledger, policyRec, policy, { exchangeDid, lookup, now, graceMs }, report);
    if (opts.exchangeUrl) await compareBalances(opts.exchangeUrl, ledger.balances, report);
  }

  return {
    ok: discrepancies.length === 0,
    exchange: exchangeDid,
    policy: policyRec.uri,
    discrepancies,
    stats: {
      receipts: checked.examined,
      settlements: settlements.length,
      grants: grants.length,
      refreshes: refreshes.length,
      patronage: patronageRecs.length,
      members: repos.size - 1,
      seconds: Math.round(performance.now() - started) / 1000,
    },
    balances: ledger?.balances ?? {},
    signaturesChecked: exchangePublicKey !== undefined,
    balancesCompared: ledger !== undefined && opts.exchangeUrl !== undefined,
  };
}

/** The active policy (the newest if several claim to be); patronage periods count from it. */
function activePolicy(repo: FetchedRepo, exchangeDid: string): { policyRec: ExportedRecord; policy: LedgerPolicy } {
  const candidates = repo.records
    .filter((r) => r.collection === NSID.exchangePolicy && r.value.active !== false && str(r.value, "exchange") === exchangeDid)
    .sort((a, b) => (time(b.value, "createdAt") ?? 0) - (time(a.value, "createdAt") ?? 0) || compareBytes(a.uri, b.uri));
  const policyRec = candidates[0];
  if (!policyRec) throw new AuditInputError(`${exchangeDid} publishes no active ${NSID.exchangePolicy}: not an exchange`);
  try {
    return { policyRec, policy: policyFromRecord(policyRec.value) };
  } catch (err) {
    throw new AuditInputError(`the policy ${policyRec.uri} is unusable: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function compareSettlements(settled: SettledReceipt[], ledger: ReplayResult, policy: LedgerPolicy, report: (d: Discrepancy) => void): void {
  const derived = new Map(ledger.settlements.map((s) => [s.uri, s]));
  for (const r of settled) {
    const d = derived.get(r.receipt.uri);
    if (!d) {
      report({
        code: "settlement-unfunded",
        subject: r.settlement.uri,
        expected: "still waiting for the requester's balance",
        actual: "settled",
        message: `by the rules ${r.requester} cannot pay for ${r.receipt.uri} from its public balance`,
      });
      continue;
    }
    const expected = { amountCharged: d.charged, providerPayout: d.payout, exchangeFee: d.fee, currency: policy.currency };
    const p = r.published;
    const sameCurrency = p.currencies.every((c) => c === policy.currency);
    if (p.charged !== d.charged || p.payout !== d.payout || p.fee !== d.fee || !sameCurrency) {
      report({
        code: "settlement-amount-mismatch",
        subject: r.settlement.uri,
        expected,
        actual: { amountCharged: p.charged ?? null, providerPayout: p.payout ?? null, exchangeFee: p.fee ?? null, currency: sameCurrency ? policy.currency : p.currencies },
        message: `the settlement of ${r.receipt.uri} does not carry the amounts the rules give`,
      });
    }
    const at = p.settledAt === undefined ? undefined : Date.parse(p.settledAt);
    if (at === undefined || Number.isNaN(at) || new Date(at).toISOString() !== d.settledAt) {
      report({ code: "settlement-time-mismatch", subject: r.settlement.uri, expected: d.settledAt, actual: p.settledAt ?? null, message: `the receipt settles at ${d.settledAt} by the rules` });
    }
  }
}

/**
 * Receipts in the fetched repos that name this exchange, verify, were not already superseded (job
 * or nonce used), are older than the grace period and are affordable by the re-derived balance,
 * yet have no settlement: the exchange is sitting on them.
 */
function checkUnsettled(
  repos: Map<string, FetchedRepo>,
  checked: ReturnType<typeof checkSettlements>,
  ledger: ReplayResult,
  policyRec: ExportedRecord,
  policy: LedgerPolicy,
  ctx: { exchangeDid: string; lookup: (uri: string) => ExportedRecord | undefined; now: number; graceMs: number },
  report: (d: Discrepancy) => void,
): void {
  const settledUris = new Set(checked.settled.map((r) => r.receipt.uri));
  for (const s of ledger.settlements) settledUris.add(s.uri);
  for (const repo of repos.values()) {
    for (const rec of repo.records) {
      if (rec.collection !== NSID.receipt || settledUris.has(rec.uri) || checked.usage.jobs.has(ref(rec.value, "job").uri ?? "")) continue;
      const completed = time(rec.value, "completedAt");
      if (completed === undefined || completed > ctx.now - ctx.graceMs) continue;
      const job = ctx.lookup(ref(rec.value, "job").uri ?? "");
      const authUri = ref(job?.value, "paymentAuthorization").uri;
      const auth = authUri === undefined ? undefined : ctx.lookup(authUri);
      if (!job || !auth || str(auth.value, "exchange") !== ctx.exchangeDid) continue;
      const { bundle } = bundleFor(rec, authUri, policyRec, ctx.lookup);
      if (!bundle || !verifyReceipt(bundle, { exchange: ctx.exchangeDid }).ok) continue;
      const requester = str(rec.value, "requester")!;
      if (checked.usage.conflict(rec.uri, requester, job.uri, authUri!, auth.value as Value)) continue;
      const price = int(obj(rec.value, "price"), "amount")!;
      const split = splitLedgerReceipt({ requester, provider: repo.did, price, proBono: rec.value.proBono === true }, policy);
      if (split.charged > (ledger.balances[requester] ?? 0)) continue;
      report({ code: "receipt-unsettled", subject: rec.uri, expected: "a settlement", actual: null, message: `a valid receipt for this exchange completed at ${str(rec.value, "completedAt")} has no settlement` });
    }
  }
}

async function compareBalances(exchangeUrl: string, balances: Record<string, number>, report: (d: Discrepancy) => void): Promise<void> {
  const base = exchangeUrl.replace(/\/+$/, "");
  await mapLimit(Object.keys(balances), 8, async (did) => {
    const url = `${base}/xrpc/${NSID.getBalance}?did=${encodeURIComponent(did)}`;
    let body: unknown;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = await res.json();
    } catch (err) {
      throw new AuditInputError(`cannot read balances from ${base}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const actual = int(body, "balance");
    if (actual !== balances[did]) {
      report({ code: "balance-mismatch", subject: did, expected: balances[did], actual: actual ?? null, message: `the exchange reports ${actual ?? "no"} balance for ${did}; public records give ${balances[did]}` });
    }
  });
}
