// The auditor (ARCHITECTURE.md step 10): fetch the exchange's public repo and every member repo
// it references (verified CARs), then replay the exchange's published log through the same ledger
// machine the exchange runs (replay.ts) and report each difference. Nothing here trusts the
// exchange beyond its signed repo; its XRPC API, when given, is asked only for its balances (to
// compare) and for why it did not settle a receipt (to tell checkable from uncheckable reasons).
import { makeIdResolver, type IdResolver } from "@cocore/atproto";
import { compareBytes, NSID } from "@cocore/protocol";
import type { Discrepancy, Warning } from "./codes.ts";
import { int, obj, parseAtUri, str } from "./fields.ts";
import { auditRecords, AuditInputError, type AuditRecord } from "./replay.ts";
import { fetchRepo, mapLimit, RepoUnavailable, type FetchedRepo, type RepoSource } from "./repos.ts";

export { AuditInputError };

export interface AuditOptions {
  exchangeDid: string;
  /** Resolves DIDs (PDS endpoints, repo signing keys). Give this or plcUrl. */
  idResolver?: IdResolver;
  plcUrl?: string;
  /** PDSes to fetch repos from first; each DID document's PDS is tried after them. */
  pdsUrls?: string[];
  /** The exchange's XRPC base URL: when given, its public balances are compared too. */
  exchangeUrl?: string;
  /** A settlement-signing public key (base64 X‖Y) accepted besides those the policies publish. */
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
  /** Settled receipts re-decided. */
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
  /** The newest exchangePolicy record (every policy is used for its own period). */
  policy: string;
  discrepancies: Discrepancy[];
  warnings: Warning[];
  stats: AuditStats;
  /** Every balance as re-derived from public records (treasury included). */
  balances: Record<string, number>;
  /** Whether settlement signatures were checked (some key was known). */
  signaturesChecked: boolean;
  /** Whether the exchange's own balances were compared (an exchange URL was given). */
  balancesCompared: boolean;
}

export async function audit(opts: AuditOptions): Promise<AuditReport> {
  const started = performance.now();
  const now = opts.now ?? Date.now();
  const graceMs = opts.graceMs ?? 10 * 60_000;
  const idResolver = opts.idResolver ?? (opts.plcUrl ? makeIdResolver(opts.plcUrl) : undefined);
  if (!idResolver) throw new AuditInputError("an idResolver or a PLC URL is needed to resolve and verify repos");
  const source: RepoSource = { idResolver, pdsUrls: opts.pdsUrls ?? [] };
  const discrepancies: Discrepancy[] = [];
  const exchangeDid = opts.exchangeDid;

  let exRepo: FetchedRepo;
  try {
    exRepo = await fetchRepo(source, exchangeDid);
  } catch (err) {
    throw new AuditInputError(err instanceof Error ? err.message : String(err));
  }

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
        discrepancies.push({ code: "repo-unavailable", subject: did, expected: "a verified repo", actual: null, message: err.message });
      }
    });
  };
  const firstRound = new Set<string>(opts.extraDids ?? []);
  for (const r of exRepo.records) {
    const d = str(r.value, "recipient");
    if (d) firstRound.add(d);
    if (r.collection === NSID.settlement) {
      for (const field of ["receipt", "requesterAuthorization"]) {
        const repo = parseAtUri(str(obj(r.value, field), "uri"))?.repo;
        if (repo) firstRound.add(repo);
      }
    }
  }
  await fetchAll(firstRound);
  const secondRound = new Set<string>();
  for (const repo of [...repos.values()]) {
    for (const rec of repo.records) {
      if (rec.collection !== NSID.receipt) continue;
      const requester = str(rec.value, "requester");
      if (requester) secondRound.add(requester);
      for (const field of ["job", "attestation"]) {
        const d = parseAtUri(str(obj(rec.value, field), "uri"))?.repo;
        if (d) secondRound.add(d);
      }
      // A countersigned receipt is checked against its matchmaker's published key.
      const authority = str(obj(rec.value, "brokerageCountersignature"), "authority");
      if (authority) secondRound.add(authority);
    }
  }
  await fetchAll(secondRound);

  const records: AuditRecord[] = [];
  for (const repo of repos.values()) for (const r of repo.records) records.push({ uri: r.uri, cid: r.cid, value: r.value as Record<string, unknown> });
  const base = opts.exchangeUrl?.replace(/\/+$/, "");
  const result = await auditRecords({
    exchangeDid,
    records,
    now,
    graceMs,
    unavailable,
    ...(opts.exchangePublicKey ? { exchangePublicKey: opts.exchangePublicKey } : {}),
    ...(base ? { statusOf: (uri: string) => receiptStatus(base, uri) } : {}),
  });
  discrepancies.push(...result.discrepancies);
  if (base) await compareBalances(base, result.balances, (d) => discrepancies.push(d));
  return {
    ok: discrepancies.length === 0,
    exchange: exchangeDid,
    policy: result.policy,
    discrepancies,
    warnings: result.warnings,
    stats: { ...result.counts, members: repos.size - 1, seconds: Math.round(performance.now() - started) / 1000 },
    balances: result.balances,
    signaturesChecked: result.signaturesChecked,
    balancesCompared: base !== undefined,
  };
}

async function receiptStatus(base: string, uri: string): Promise<{ status: string; codes: string[] } | undefined> {
  try {
    const res = await fetch(`${base}/xrpc/${NSID.verifyReceipt}?uri=${encodeURIComponent(uri)}`, { signal: AbortSignal.timeout(15_000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { status?: unknown; findings?: { code?: unknown }[] };
    return { status: typeof body.status === "string" ? body.status : "unknown", codes: (body.findings ?? []).map((f) => String(f.code)) };
  } catch {
    return undefined;
  }
}

async function compareBalances(base: string, balances: Record<string, number>, report: (d: Discrepancy) => void): Promise<void> {
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
