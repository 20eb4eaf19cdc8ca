// The real exchange engine offline (`cocore exchange simulate`): a fresh ledger database (in-memory
// SQLite unless given one), the exchange's own transactions and machine, fed a simulation's event
// stream (protocol ledger/simulation.ts) with the exchange clock set by the stream. Nothing is
// published anywhere: the records the exchange would publish are read back from its outbox and
// signed with a key generated for the run.
import {
  fromJsonRecord,
  generateSigningKey,
  Timeline,
  NSID,
  policyFromRecord,
  recordCid,
  decisionTid,
  type AdmissionResult,
  type SigningKey,
  type SimOp,
  type SimTarget,
} from "@cocore/protocol";
import type { EngineContext, IngestOp, PolicyInUse } from "./context.ts";
import { openLedgerDb, type LedgerDb } from "./db/open.ts";
import { applyBatch } from "./engine.ts";
import { toInt } from "./ints.ts";
import { signSettlement } from "./publisher.ts";
import { admitJob, advance, releaseHold, tick, touchMember } from "./scheduler.ts";
import { CachingVerifier } from "./verifier.ts";

export interface SimulationOutput {
  balances: Record<string, number>;
  treasury: number;
  receipts: { uri: string; status: string; codes: string[] }[];
  /** Records the exchange would publish, in log order (settlements signed). */
  published: { uri: string; value: Record<string, unknown> }[];
}

export interface Simulation {
  readonly ctx: EngineContext;
  readonly target: SimTarget;
  readonly key: SigningKey;
  readonly policy: PolicyInUse;
  output(): Promise<SimulationOutput>;
  /** A receipt's status and finding codes as the exchange holds them. */
  receiptStatus(uri: string): Promise<{ status: string; codes: string[] } | undefined>;
  close(): Promise<void>;
}

/** The policy as the exchange's first record: a TID record key at its createdAt, its CID computed. */
export function simulationPolicy(value: Record<string, unknown>): PolicyInUse {
  const ledger = policyFromRecord(value);
  const record = { ...value, $type: NSID.exchangePolicy };
  return { uri: `at://${ledger.exchange}/${NSID.exchangePolicy}/${decisionTid(ledger.createdAt, 0)}`, cid: recordCid(record)!, value: record, ledger };
}

/**
 * `keys`: settlement keys the run may sign with; a settlement is signed with the one its policy's
 * successor in force at its settledAt publishes (a key rotation), else with a key generated here.
 */
export async function openSimulation(policyValue: Record<string, unknown>, opts: { db?: string; keys?: SigningKey[] } = {}): Promise<Simulation> {
  const policy = simulationPolicy(policyValue);
  const ldb: LedgerDb = await openLedgerDb(opts.db ?? "sqlite::memory:");
  const key = generateSigningKey();
  const byPublic = new Map((opts.keys ?? []).map((k) => [k.publicKey, k]));
  let clock = policy.ledger.createdAt;
  // A simulation's ingestion is always caught up: the watermark is the clock itself.
  const ctx: EngineContext = { ldb, did: policy.ledger.exchange, policy, verifier: new CachingVerifier(), now: () => clock, graceMs: 0 };
  const at = (t: number) => {
    clock = Math.max(clock, t);
  };
  const target: SimTarget = {
    async records(ops: SimOp[], seenAt: number) {
      at(seenAt);
      const ingest: IngestOp[] = ops.map((o) => (o.action === "delete" ? { action: "delete", uri: o.uri } : { action: "create", uri: o.uri, cid: o.cid!, record: o.record! }));
      await applyBatch(ctx, ingest);
    },
    async admit(job, t): Promise<AdmissionResult> {
      at(t);
      await advance(ctx);
      const requester = /^at:\/\/([^/]+)\//.exec(job.uri)?.[1] ?? "";
      return admitJob(ctx, { job, requester }, t);
    },
    async release(job, t) {
      at(t);
      await advance(ctx);
      await releaseHold(ctx, { job: { uri: job, cid: "" }, reason: "simulated" }, t);
    },
    async read(did, t) {
      at(t);
      await advance(ctx);
      await touchMember(ctx, did, t);
    },
    async tick(t) {
      at(t);
      await tick(ctx, t);
    },
  };
  return {
    ctx,
    target,
    key,
    policy,
    async receiptStatus(uri) {
      const r = await ldb.db.selectFrom("receipts").select(["status", "findings"]).where("uri", "=", uri).executeTakeFirst();
      return r ? { status: r.status, codes: r.findings ? (JSON.parse(r.findings) as { code: string }[]).map((f) => f.code) : [] } : undefined;
    },
    async output() {
      const balances: Record<string, number> = {};
      const rows = await ldb.db.selectFrom("accounts").select(["did", "balance"]).execute();
      const all = new Map(rows.map((r) => [r.did, toInt(r.balance, "balance")]));
      if (!all.has(policy.ledger.treasury)) all.set(policy.ledger.treasury, 0);
      for (const d of [...all.keys()].sort()) balances[d] = all.get(d)!;
      const receipts = (await ldb.db.selectFrom("receipts").select(["uri", "status", "findings"]).orderBy("uri").execute()).map((r) => ({
        uri: r.uri,
        status: r.status,
        codes: r.findings ? (JSON.parse(r.findings) as { code: string }[]).map((f) => f.code) : [],
      }));
      const outbox = await ldb.db.selectFrom("outbox").select(["collection", "rkey", "record"]).orderBy("rkey").orderBy("collection").execute();
      const policies = await ldb.db.selectFrom("policies").select(["uri", "cid", "created_at", "value"]).execute();
      const timeline = new Timeline(policies.map((p) => ({ uri: p.uri, cid: p.cid, createdAt: toInt(p.created_at), value: fromJsonRecord(JSON.parse(p.value)) as Record<string, unknown> })));
      const signer = (settledAt: string) => {
        const published = timeline.size > 0 ? timeline.at(Date.parse(settledAt)).value.settlementPublicKey : undefined;
        return (typeof published === "string" ? byPublic.get(published) : undefined) ?? key;
      };
      const published = [
        { uri: policy.uri, value: policy.value },
        ...outbox.map((o) => {
          let value = JSON.parse(o.record) as Record<string, unknown>;
          if (o.collection === NSID.settlement) value = signSettlement(value, signer(String(value.settledAt)));
          return { uri: `at://${policy.ledger.exchange}/${o.collection}/${o.rkey}`, value };
        }),
      ];
      return { balances, treasury: balances[policy.ledger.treasury] ?? 0, receipts, published };
    },
    close: () => ldb.close(),
  };
}
