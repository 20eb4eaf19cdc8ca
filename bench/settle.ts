// `settle` benchmark: receipts verified (every §5.6 rule, signatures included) and settled per
// second through the exchange's ledger store, on SQLite and on PostgreSQL, plus this machine's
// single-core P-256 verify rate and the single-thread cost of the checks every receipt needs: with
// that cost and the process CPU per receipt, the figures show what bounds the rates. Records are
// generated and signed beforehand (untimed); the timed part is applyBatch over receipts, jobs,
// authorizations and attestations, in batches, exactly as the firehose ingester feeds them. Each timed run follows an untimed
// warm-up on other records and a throwaway database: the figure is steady-state throughput.
import { randomBytes, sign as nodeSign, verify as nodeVerify, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { receiptValue } from "../test-support/records.ts";
import { authorizedJobOps, signedAttestationOp } from "../test-support/ops.ts";
import { join } from "node:path";
import pg from "pg";
import { generateSigningKey, recordCid, signRecord } from "@cocore/protocol";
import { BatchPipeline, buildPolicyRecord, CachingVerifier, CheckPool, checkItem, defaultCheckWorkers, consistencyCheck, DEFAULT_POLICY, openLedgerDb, policyFromRecord, type CheckItem, type IngestOp, type LedgerDb, createOp } from "@cocore/exchange";

export interface SettleBenchOptions {
  receipts?: number;
  batch?: number;
  pgUrl?: string;
  /** Verification worker threads; default one per core (0: verify inline). */
  workers?: number;
}

export interface SettleBenchResult {
  sqliteReceiptsPerSec: number;
  postgresReceiptsPerSec: number | null;
  /** CPU time of this process (all its threads) per receipt during the timed SQLite run. */
  sqliteCpuUsPerReceipt: number;
  /** The same for PostgreSQL; the server's own CPU, on the same cores, is not in it. */
  postgresCpuUsPerReceipt: number | null;
  p256VerifyPerSecPerCore: number;
  /**
   * One thread's time for the database-free checks of one receipt with its job and authorization
   * (lexicon validation, the receipt's signature, JSON forms): cores × 10⁶ ÷ this bounds any rate.
   */
  checksUsPerReceipt: number;
  receipts: number;
  workers: number;
}

const EXCHANGE = "did:plc:benchexchange00000000000";
const iso = (ms: number) => new Date(ms).toISOString();
const T0 = Date.parse("2026-03-01T00:00:00.000Z");

function generate(n: number): { ops: IngestOp[]; receipts: number } {
  const providers = Array.from({ length: 8 }, (_, i) => ({ did: `did:plc:benchprovider${String(i).padStart(11, "0")}`, key: generateSigningKey() }));
  const requesters = Array.from({ length: 64 }, (_, i) => `did:plc:benchrequester${String(i).padStart(10, "0")}`);
  const ops: IngestOp[] = [];
  const atts = providers.map((p) => signedAttestationOp(p.did, p.key, T0));
  ops.push(...atts);
  for (let i = 0; i < n; i++) {
    const req = requesters[i % requesters.length]!;
    const pi = i % providers.length;
    const p = providers[pi]!;
    const t = T0 + i * 10;
    const { auth, job, commitment } = authorizedJobOps(req, { exchange: EXCHANGE, ceiling: 5000, at: t });
    const tokens = { in: 10 + (i % 50), out: 20 + (i % 70) };
    const value = receiptValue({ job: { uri: job.uri, cid: job.cid! }, requester: req, inputCommitment: commitment, tokens, startedAt: t + 1, completedAt: t + 2, attestation: { uri: atts[pi]!.uri, cid: atts[pi]!.cid! } });
    ops.push(auth, job, createOp(p.did, "dev.cocore.compute.receipt", signRecord(value, "enclaveSignature", p.key)));
  }
  return { ops, receipts: n };
}

const policyValue = buildPolicyRecord(EXCHANGE, DEFAULT_POLICY, iso(T0 - 86_400_000));
const policy = { uri: `at://${EXCHANGE}/dev.cocore.compute.exchangePolicy/3aaaaaaaaaaaa`, cid: recordCid(policyValue)!, value: policyValue, ledger: policyFromRecord(policyValue) };

/** Feeds `ops` through the ingest pipeline as the ingester does in bulk; returns receipts settled. */
async function ingest(ldb: LedgerDb, pool: CheckPool | undefined, ops: IngestOp[], batch: number): Promise<number> {
  // The records are older than the exchange's clock (as in a backfill): each takes effect at the
  // watermark of the batch that brings it.
  const ctx = { ldb, did: EXCHANGE, policy, verifier: new CachingVerifier(50_000, pool), now: () => Date.now() };
  let settled = 0;
  // The next batch is checked (in the workers) while this one commits.
  const pipeline = new BatchPipeline(ctx);
  const inFlight: Promise<{ settled: string[] }>[] = [];
  for (let i = 0; i < ops.length; i += batch) {
    inFlight.push(pipeline.submit(ops.slice(i, i + batch)));
    if (inFlight.length >= 2) settled += (await inFlight.shift()!).settled.length;
  }
  for (const p of inFlight) settled += (await p).settled.length;
  return settled;
}

async function run(url: string, ops: IngestOp[], warmUp: IngestOp[], receipts: number, batch: number, workers: number): Promise<{ perSec: number; cpuUs: number }> {
  const pool = workers > 0 ? new CheckPool(workers) : undefined;
  let ldb: LedgerDb | undefined;
  try {
    await pool?.ready();
    // Steady state, not start-up: other records through a throwaway ledger first, so that the
    // timed run does not include compiling the hot path (on this thread and in the workers).
    const scratch = await openLedgerDb("sqlite::memory:");
    try {
      await ingest(scratch, pool, warmUp, batch);
    } finally {
      await scratch.close();
    }
    ldb = await openLedgerDb(url);
    const cpu = process.cpuUsage();
    const started = performance.now();
    const settled = await ingest(ldb, pool, ops, batch);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    if (settled !== receipts) throw new Error(`bench: ${settled} of ${receipts} receipts settled`);
    const check = await consistencyCheck(ldb);
    if (!check.ok) throw new Error(`bench: ledger inconsistent: ${check.problems.slice(0, 3).join("; ")}`);
    return { perSec: Math.round(receipts / seconds), cpuUs: Math.round((used.user + used.system) / receipts) };
  } finally {
    await pool?.close();
    await ldb?.close();
  }
}

export function p256VerifyPerSec(durationMs = 1000): number {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const msg = randomBytes(400);
  const sig = nodeSign("sha256", msg, privateKey);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    for (let i = 0; i < 100; i++) nodeVerify("sha256", msg, publicKey, sig);
    n += 100;
  }
  return Math.round(n / ((performance.now() - start) / 1000));
}

/** Microseconds one thread spends on the checks of each receipt in `ops` with its job and authorization. */
function checksUsPerReceipt(ops: IngestOp[]): number {
  const keys = new Map<string, string>();
  const items: CheckItem[] = [];
  for (const op of ops) {
    const collection = op.uri.split("/")[3]!;
    if (collection === "dev.cocore.compute.attestation") keys.set(op.uri, op.record!.publicKey as string);
    else if (collection === "dev.cocore.compute.receipt") items.push({ c: collection, r: op.record!, f: "enclaveSignature", k: keys.get((op.record!.attestation as { uri: string }).uri)! });
    else items.push({ c: collection, r: op.record! });
  }
  const receipts = items.filter((i) => i.f).length;
  let us = 0;
  // The second pass is the figure: the first compiles the code paths.
  for (let pass = 0; pass < 2; pass++) {
    const started = performance.now();
    for (const item of items) checkItem(item);
    us = ((performance.now() - started) * 1000) / receipts;
  }
  return Math.round(us);
}

export const __generate = generate;

export async function benchSettle(opts: SettleBenchOptions = {}): Promise<SettleBenchResult> {
  const receipts = opts.receipts ?? 20_000;
  const batch = opts.batch ?? 3000;
  const workers = opts.workers ?? defaultCheckWorkers();
  const { ops } = generate(receipts);
  const warmUp = generate(Math.min(2000, receipts)).ops;
  const dir = mkdtempSync(join(tmpdir(), "cocore-bench-settle-"));
  try {
    const p256 = p256VerifyPerSec();
    const checks = checksUsPerReceipt(warmUp);
    const sqlite = await run(`sqlite:${join(dir, "ledger.db")}`, ops, warmUp, receipts, batch, workers);
    let postgres: { perSec: number; cpuUs: number } | null = null;
    const admin = opts.pgUrl ?? process.env.COCORE_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
    const name = `cocore_bench_${randomBytes(4).toString("hex")}`;
    const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 1500 });
    let created = false;
    try {
      await client.connect();
      await client.query(`create database ${name}`);
      created = true;
    } catch {
      created = false;
    }
    if (created) {
      try {
        postgres = await run(admin.replace(/\/[^/]*$/, `/${name}`), ops, warmUp, receipts, batch, workers);
      } finally {
        await client.query(`drop database if exists ${name} with (force)`).catch(() => {});
      }
    }
    await client.end().catch(() => {});
    return {
      sqliteReceiptsPerSec: sqlite.perSec,
      postgresReceiptsPerSec: postgres?.perSec ?? null,
      sqliteCpuUsPerReceipt: sqlite.cpuUs,
      postgresCpuUsPerReceipt: postgres?.cpuUs ?? null,
      p256VerifyPerSecPerCore: p256,
      checksUsPerReceipt: checks,
      receipts,
      workers,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 20_000);
  console.log(JSON.stringify({ bench: "settle", figures: await benchSettle({ receipts: n }) }, null, 2));
}
