// Wiring: identity, database, policy, own-repo backfill, firehose ingestion, outbox publisher,
// scheduler and XRPC API, behind the Exchange handle tests and the CLI use.
import { join } from "node:path";
import { fromJsonRecord } from "@cocore/protocol";
import { exportRepo, getRecord, login, makeIdResolver, resolvePds, subscribeFirehose, type AtpAgent, type FirehoseEvent, type FirehoseSubscription, type IdResolver } from "@cocore/atproto";
import { startApi } from "./api.ts";
import { DEFAULT_POLICY, type ExchangeConfig, type PolicyParams } from "./config.ts";
import { openLedgerDb, type Dialect, type LedgerDb } from "./db/open.ts";
import { applyBatch, BatchPipeline, type BatchResult, type EngineContext, type IngestOp } from "./engine.ts";
import { loadOrCreateKey } from "./identity.ts";
import { toInt } from "./ints.ts";
import { ensurePolicy } from "./policy.ts";
import { Publisher } from "./publisher.ts";
import { admitJob, advance, releaseHold, tick, touchMember, type AdmitInput, type AdmitOutput, type ReleaseInput, type ReleaseOutput, type TickResult } from "./scheduler.ts";
import { LOG_COLLECTIONS, NSID } from "@cocore/protocol";
import { CachingVerifier } from "./verifier.ts";
import { CheckPool } from "./check-pool.ts";
import { consistencyCheck, type ConsistencyReport } from "./consistency.ts";
import { applyCommitDurably, listDeadLetters, replayDeadLetters, type DeadLetter } from "./ingest.ts";
import { SqlReplayGuard } from "./seen-jtis.ts";

export interface ReceiptStatus {
  uri: string;
  status: "pending" | "queued" | "parked" | "settled" | "rejected" | "ignored";
  reason: string | null;
  findings: { code: string; message: string }[];
  charged: number | null;
  payout: number | null;
  fee: number | null;
  settledAt: string | null;
  settlementUri: string | null;
}

export interface AccountView {
  did: string;
  balance: number;
  held: number;
  available: number;
  granted: boolean;
  lastRefreshAt: string | null;
}

export interface Exchange {
  readonly did: string;
  readonly handle: string;
  /** Base URL of the XRPC API. */
  readonly url: string;
  readonly dialect: Dialect;
  readonly policy: { uri: string; cid: string; value: Record<string, unknown> };
  /** The settlement signing key's public half (base64 of X‖Y). */
  readonly publicKey: string;
  balance(did: string): Promise<number>;
  account(did: string): Promise<AccountView>;
  receiptStatus(uri: string): Promise<ReceiptStatus | undefined>;
  /** Resolves once the receipt is settled, rejected or ignored; throws after timeoutMs. */
  waitForSettlement(receiptUri: string, timeoutMs?: number): Promise<ReceiptStatus>;
  /** Resolves when every outbox row has been published to the exchange's repo. */
  waitForPublished(timeoutMs?: number): Promise<void>;
  /** Ingest record operations directly (tests, bench); same path as the firehose. */
  ingest(ops: IngestOp[]): Promise<BatchResult>;
  admitJob(input: AdmitInput): Promise<AdmitOutput>;
  /** Gives back a job's pending hold (what the releaseHold method does for the matchmaker). */
  releaseHold(input: ReleaseInput): Promise<ReleaseOutput>;
  /** A member's own balance read (a touch). */
  touch(did: string): Promise<void>;
  /** One scheduler step at `nowMs` (default: the injected clock). */
  tick(nowMs?: number): Promise<TickResult>;
  consistencyCheck(): Promise<ConsistencyReport>;
  /** Firehose commits that failed deterministically and were set aside (not replayed yet). */
  deadLetters(): Promise<DeadLetter[]>;
  /** Applies the dead letters again (after a fix); those still failing stay. */
  replayDeadLetters(): Promise<{ replayed: number; failed: number }>;
  /** The firehose seq persisted for each source. */
  cursors(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startExchange(config: ExchangeConfig): Promise<Exchange> {
  const log = config.log ?? ((line: string) => process.stderr.write(`exchange: ${line}\n`));
  const now = config.now ?? (() => Date.now());
  const params: PolicyParams = { ...DEFAULT_POLICY, ...config.policy };
  const idResolver = makeIdResolver(config.plcUrl);
  const agent: AtpAgent = await login(config.pdsUrl, config.handle, config.password);
  const did = agent.assertDid;
  const ldb: LedgerDb = await openLedgerDb(config.db ?? `sqlite:${join(config.stateDir, "exchange.db")}`);
  const closers: (() => Promise<void>)[] = [() => ldb.close()];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch((err: unknown) => log(`close: ${String(err)}`));
  };
  try {
    // A ledger that has settled anything must keep signing with its key: a lost key file is an
    // operator's mistake to notice, and a new key only by saying so (it publishes a new policy).
    const inUse = await ledgerInUse(ldb);
    const key = loadOrCreateKey(config.stateDir, { ledgerInUse: inUse, newKey: config.newKey === true });
    const policy = await ensurePolicy(agent, did, params, now(), key.publicKey);
    const pool = (config.verifyWorkers ?? 0) > 0 ? new CheckPool(config.verifyWorkers) : undefined;
    if (pool) closers.push(() => pool.close());
    const fetchRecord = async (uri: string) => {
      const m = /^at:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
      if (!m) return null;
      const got = await getRecord(await resolvePds(idResolver, m[1]!), m[1]!, m[2]!, m[3]!);
      return got ? { cid: got.cid, value: fromJsonRecord(got.value) as Record<string, unknown> } : null;
    };
    // Ingestion liveness (set up with the firehose below): until then, "now".
    let ingestedThrough = (t: number) => t;
    const ctx: EngineContext = {
      ldb,
      did,
      policy,
      verifier: new CachingVerifier(50_000, pool),
      now,
      fetchRecord,
      graceMs: config.graceMs ?? 1000,
      ingestedThrough: (t) => ingestedThrough(t),
    };
    log(`policy ${policy.uri}`);

    // The policy in force is the machine's to know before anything else arrives (a fresh ledger
    // takes it from ctx.policy; an existing one learns a new policy here).
    await applyBatch(ctx, [{ action: "create", uri: policy.uri, cid: policy.cid, record: policy.value }]);
    // Our own repo first: grants, refreshes, patronage and settlements we published are facts a
    // rebuild must know before it replays anyone's receipts.
    // A fresh database rebuilds from our published log; an existing one already holds it (a record
    // in our repo that it does not know is not ours to apply: it is stored and changes nothing).
    await backfill(ctx, idResolver, config.pdsUrl, did, !inUse);

    const publisher = new Publisher({ ldb, agent, key, log }, config.publishIntervalMs ?? 200);
    publisher.start();
    closers.push(() => publisher.stop());

    const subs: FirehoseSubscription[] = [];
    closers.push(async () => {
      for (const s of subs) await s.close();
    });
    const knownRepos = new Set((await ldb.db.selectFrom("repos").select("did").execute()).map((r) => r.did));
    knownRepos.add(did);
    let stopping = false;
    // Ingestion liveness, for patronage (scheduler.ts): a source is live when its last applied
    // commit was stamped (by its PDS) within LIVE_LAG_MS of the wall clock, or when it has gone
    // QUIET_MS without delivering anything since its last commit (or error). While every source is
    // live, ingestion has reached "now"; otherwise it has reached the last time that was so.
    const LIVE_LAG_MS = 120_000;
    const QUIET_MS = 10_000;
    const sourceState = new Map<string, { busy: boolean; lastDoneAt: number; live: boolean }>();
    let lastLiveAt = Number.NEGATIVE_INFINITY;
    const allLive = () => {
      for (const st of sourceState.values()) if (!(st.live || (!st.busy && Date.now() - st.lastDoneAt >= QUIET_MS))) return false;
      return true;
    };
    ingestedThrough = (nowMs: number) => {
      if (allLive()) lastLiveAt = nowMs;
      return lastLiveAt;
    };
    for (const source of config.firehose ?? [config.pdsUrl]) {
      const state = { busy: false, lastDoneAt: Date.now(), live: false };
      sourceState.set(source, state);
      const onCommit = async (evt: FirehoseEvent): Promise<void> => {
        if (!knownRepos.has(evt.did)) {
          try {
            await backfill(ctx, idResolver, await resolvePds(idResolver, evt.did).catch(() => source), evt.did);
            knownRepos.add(evt.did);
          } catch (err) {
            log(`backfill ${evt.did}: ${err instanceof Error ? err.message : String(err)} (continuing from the stream)`);
          }
        }
        const ops: IngestOp[] = evt.ops.map((op) => ({
          action: op.action,
          uri: op.uri,
          cid: op.cid,
          record: op.record as Record<string, unknown> | undefined,
          rev: evt.rev,
        }));
        // Never past a commit that was not applied: retried until it is, or dead-lettered.
        // (Closing mid-retry leaves the stored cursor before it: the next start applies it.)
        await applyCommitDurably(ctx, ops, { source, seq: evt.seq, did: evt.did }, { log, stopping: () => stopping });
      };
      const row = await ldb.db.selectFrom("cursor").select("seq").where("source", "=", source).executeTakeFirst();
      const cursor = row ? toInt(row.seq, "cursor") : 0;
      subs.push(
        subscribeFirehose({
          service: source,
          cursor,
          idResolver,
          filterCollections: ["dev.cocore.*"],
          onError: (err) => {
            // A connection problem may hide commits: not live until quiet again after it.
            state.live = false;
            state.lastDoneAt = Date.now();
            log(`firehose ${source}: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ""}`);
          },
          onEvent: async (evt) => {
            state.busy = true;
            try {
              await onCommit(evt);
            } finally {
              state.busy = false;
              state.lastDoneAt = Date.now();
              state.live = Date.now() - Date.parse(evt.time) < LIVE_LAG_MS;
            }
          },
        }),
      );
    }
    closers.push(async () => {
      stopping = true;
    });

    let timer: NodeJS.Timeout | undefined;
    const interval = config.schedulerIntervalMs ?? 60_000;
    if (interval > 0) {
      const loop = () => {
        const t = now();
        tick(ctx, t)
          .catch((err: unknown) => log(`scheduler: ${err instanceof Error ? err.message : String(err)}`))
          .finally(() => {
            if (!stopping) timer = setTimeout(loop, interval);
          });
      };
      timer = setTimeout(loop, interval);
      closers.push(async () => clearTimeout(timer));
    }
    // The watermark follows the clock between commits, so a queued receipt settles once the grace
    // has passed even when nothing else arrives.
    let pacer: NodeJS.Timeout | undefined;
    const pace = config.advanceIntervalMs ?? 250;
    if (pace > 0) {
      const step = () => {
        advance(ctx)
          .catch((err: unknown) => log(`watermark: ${err instanceof Error ? err.message : String(err)}`))
          .finally(() => {
            if (!stopping) pacer = setTimeout(step, pace);
          });
      };
      pacer = setTimeout(step, pace);
      closers.push(async () => clearTimeout(pacer));
    }

    const api = await startApi({
      ctx,
      idResolver,
      matchmakers: new Set(config.matchmakers ?? []),
      // In the database: a token used once stays refused after a restart, and on every process
      // serving this database.
      replayGuard: new SqlReplayGuard(ldb),
      now,
      port: config.port ?? 0,
      host: config.host ?? "127.0.0.1",
    });
    closers.push(() => api.close());

    const receiptStatus = async (uri: string): Promise<ReceiptStatus | undefined> => {
      const r = await ldb.db.selectFrom("receipts").selectAll().where("uri", "=", uri).executeTakeFirst();
      if (!r) return undefined;
      const ob = await ldb.db.selectFrom("outbox").select("published_uri").where("key", "=", `settlement:${uri}`).executeTakeFirst();
      const n = (v: number | string | bigint | null) => (v === null ? null : toInt(v));
      return {
        uri,
        status: r.status as ReceiptStatus["status"],
        reason: r.reason,
        findings: r.findings ? (JSON.parse(r.findings) as ReceiptStatus["findings"]) : [],
        charged: n(r.charged),
        payout: n(r.payout),
        fee: n(r.fee),
        settledAt: r.settled_at,
        settlementUri: ob?.published_uri ?? null,
      };
    };
    const account = async (d: string): Promise<AccountView> => {
      const r = await ldb.db.selectFrom("accounts").selectAll().where("did", "=", d).executeTakeFirst();
      const balance = r ? toInt(r.balance) : 0;
      const held = r ? toInt(r.held) : 0;
      return { did: d, balance, held, available: balance - held, granted: r?.granted_at != null, lastRefreshAt: r?.last_refresh_at ?? null };
    };

    return {
      did,
      handle: config.handle,
      url: api.url,
      dialect: ldb.dialect,
      policy: { uri: policy.uri, cid: policy.cid, value: policy.value },
      publicKey: key.publicKey,
      balance: async (d) => (await account(d)).balance,
      account,
      receiptStatus,
      async waitForSettlement(uri, timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const s = await receiptStatus(uri);
          if (s && (s.status === "settled" || s.status === "rejected" || s.status === "ignored")) return s;
          if (Date.now() > deadline) throw new Error(`receipt ${uri} not settled after ${timeoutMs} ms (status: ${s?.status ?? "unseen"}${s?.reason ? `, ${s.reason}` : ""})`);
          await sleep(50);
        }
      },
      async waitForPublished(timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          await publisher.drain();
          const left = await ldb.db.selectFrom("outbox").select((eb) => eb.fn.countAll().as("n")).where("published_uri", "is", null).executeTakeFirstOrThrow();
          if (toInt(left.n) === 0) return;
          if (Date.now() > deadline) throw new Error(`${String(left.n)} outbox rows still unpublished after ${timeoutMs} ms`);
          await sleep(50);
        }
      },
      ingest: (ops) => applyBatch(ctx, ops),
      admitJob: (input) => admitJob(ctx, input, now()),
      releaseHold: (input) => releaseHold(ctx, input),
      touch: (d) => touchMember(ctx, d, now()),
      tick: (nowMs) => tick(ctx, nowMs ?? now()),
      consistencyCheck: () => consistencyCheck(ldb),
      deadLetters: () => listDeadLetters(ctx),
      replayDeadLetters: () => replayDeadLetters(ctx),
      async cursors() {
        const rows = await ldb.db.selectFrom("cursor").selectAll().execute();
        return Object.fromEntries(rows.map((r) => [r.source, toInt(r.seq)]));
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Whether the ledger holds anything (a settled receipt, a minted token, a published record). */
async function ledgerInUse(ldb: LedgerDb): Promise<boolean> {
  const t = await ldb.db.selectFrom("transfers").select("key").limit(1).executeTakeFirst();
  const o = await ldb.db.selectFrom("outbox").select("key").limit(1).executeTakeFirst();
  return t !== undefined || o !== undefined;
}

/**
 * Imports a repo's current dev.cocore.* records (verified against its signing key). The
 * exchange's own repo comes in log order: its policies first, then its published records by record
 * key (the order it decided in; ledger/README.md), so a rebuild replays its decisions as made.
 */
async function backfill(ctx: EngineContext, idResolver: IdResolver, service: string, did: string, restoreLog = false): Promise<void> {
  const repo = await exportRepo(service, did, { idResolver, collectionPrefix: "dev.cocore." });
  const rank = (c: string) => (c === NSID.exchangePolicy ? 0 : LOG_COLLECTIONS.has(c) ? 1 : 2);
  const byRkey = (a: { rkey: string }, b: { rkey: string }) => (a.rkey < b.rkey ? -1 : a.rkey > b.rkey ? 1 : 0);
  const records = did !== ctx.did ? repo.records : [...repo.records].sort((a, b) => rank(a.collection) - rank(b.collection) || (rank(a.collection) === 1 ? byRkey(a, b) : 0));
  const ops: IngestOp[] = records.map((r) => ({ action: "create", uri: r.uri, cid: r.cid, record: r.value as Record<string, unknown>, rev: repo.rev }));
  // The next slice is checked (in the pool's workers, if any) while this one commits.
  const pipeline = new BatchPipeline(ctx);
  const slices: Promise<BatchResult>[] = [];
  for (let i = 0; i < ops.length; i += 2000) slices.push(pipeline.submit(ops.slice(i, i + 2000), undefined, { restoreLog }));
  await Promise.all(slices);
  await ctx.ldb.db
    .insertInto("repos")
    .values({ did, backfilled_at: new Date(ctx.now()).toISOString() })
    .onConflict((oc) => oc.column("did").doNothing())
    .execute();
}
