// The one-ledger differential check: one random record set, delivered in several orders, through
// the exchange engine (`exchange simulate`: SQLite, PostgreSQL), through `ledger replay` (the
// machine over memory), and through the auditor (over the delivered records plus what the
// exchange published). Every run must agree on balances, receipt statuses and published record
// bytes; the audit of every run must be clean; and each tampering of the exchange's published
// records or database must be reported. Shared by the test (small) and `cocore bench reliability`.
import { auditRecords, type AuditRecord } from "../packages/auditor/src/index.ts";
import { deliveredRecords, simulate, type SimulateResult } from "../packages/cli/src/simulate.ts";
import { canonicalJson, decisionTid, fromJsonRecord, NSID, parseSimEvent, recordCid, replaySimulation, toJsonRecord } from "../packages/protocol/src/index.ts";
import { deliveryOrder, simWorld, type SimWorld, type WorldSize } from "./sim-world.ts";

export interface Outcome {
  balances: Record<string, number>;
  statuses: Record<string, string>;
  /** uri → canonical JSON of the value without `sig` (ECDSA signatures are randomized). */
  published: Record<string, string>;
}

export interface DiffReport {
  worlds: number;
  orders: number;
  /** Runs whose outcome differed from the world's first run (any implementation, any order). */
  implementationDiffs: number;
  /** Discrepancies the audit reported against the (honest) exchange. */
  auditFalsePositives: number;
  tamperingsInjected: number;
  tamperingsDetected: number;
  doubleSettlements: number;
  conservationViolations: number;
  /** The first few differences, for a failing test's message. */
  problems: string[];
}

function outcomeOf(r: { balances: Record<string, number>; receipts: { uri: string; status: string; codes: string[] }[]; published: { uri: string; value: Record<string, unknown> }[] }, exchange: string): Outcome {
  const statuses: Record<string, string> = {};
  for (const x of r.receipts) statuses[x.uri] = `${x.status}${x.codes.length > 0 ? `:${[...x.codes].sort().join(",")}` : ""}`;
  const published: Record<string, string> = {};
  for (const p of r.published) {
    if (p.uri.includes(`/${NSID.exchangePolicy}/`)) continue; // the run's own first policy record
    const { sig: _sig, ...rest } = p.value;
    published[p.uri] = canonicalJson(toJsonRecord(fromJsonRecord(rest)) as Record<string, unknown>);
  }
  const balances: Record<string, number> = {};
  for (const [d, b] of Object.entries(r.balances)) if (b !== 0 || d === exchange) balances[d] = b;
  return { balances, statuses, published };
}

function diff(a: Outcome, b: Outcome): string | undefined {
  for (const k of ["balances", "statuses", "published"] as const) {
    const x = canonicalJson(a[k] as Record<string, unknown>);
    const y = canonicalJson(b[k] as Record<string, unknown>);
    if (x !== y) {
      const keys = [...new Set([...Object.keys(a[k]), ...Object.keys(b[k])])].filter((key) => JSON.stringify(a[k][key]) !== JSON.stringify(b[k][key]));
      return `${k} differ at ${keys.slice(0, 3).map((key) => `${key}: ${JSON.stringify(a[k][key])} vs ${JSON.stringify(b[k][key])}`).join("; ")}`;
    }
  }
  return undefined;
}

function conservation(r: SimulateResult): boolean {
  // Σ balances = Σ minted (grants, refreshes); no balance below zero.
  const minted = r.published
    .filter((p) => p.uri.includes(`/${NSID.tokenGrant}/`) || p.uri.includes(`/${NSID.tokenRefresh}/`))
    .reduce((t, p) => t + Number(p.value.amount ?? 0), 0);
  const total = Object.values(r.balances).reduce((t, b) => t + b, 0);
  return total === minted && Object.values(r.balances).every((b) => b >= 0);
}

/** Tamperings of an honest run's published records, each of which the audit must report. */
function tamperings(r: SimulateResult): { name: string; published: SimulateResult["published"]; balances?: Record<string, number> }[] {
  const out: ReturnType<typeof tamperings> = [];
  const pub = r.published;
  const settlements = pub.filter((p) => p.uri.includes(`/${NSID.settlement}/`) && Number((p.value.amountCharged as { amount: number }).amount) > 0 && Number((p.value.exchangeFee as { amount: number }).amount) > 0);
  const s = settlements[0];
  if (s) {
    const fee = (s.value.exchangeFee as { amount: number }).amount;
    const payout = (s.value.providerPayout as { amount: number }).amount;
    out.push({ name: "fee", published: pub.map((p) => (p === s ? { ...p, value: { ...p.value, exchangeFee: { amount: fee + 1, currency: "TOK" }, providerPayout: { amount: payout - 1, currency: "TOK" } } } : p)) });
    out.push({ name: "dropped settlement", published: pub.filter((p) => p !== s), balances: r.balances });
    out.push({ name: "doubled settlement", published: [...pub, { uri: s.uri.replace(/[^/]+$/, "3zzzzzzzzzzz2"), value: s.value }] });
  }
  const refresh = pub.find((p) => p.uri.includes(`/${NSID.tokenRefresh}/`) || p.uri.includes(`/${NSID.tokenGrant}/`));
  if (refresh) {
    const at = Date.parse(String(refresh.value.createdAt)) + 60_000;
    const value = { ...refresh.value, $type: NSID.tokenRefresh, amount: 500, createdAt: new Date(at).toISOString() };
    out.push({ name: "extra refresh", published: [...pub, { uri: `at://${String(refresh.value.exchange)}/${NSID.tokenRefresh}/${decisionTid(at, 999)}`, value }] });
  }
  const share = pub.find((p) => p.uri.includes(`/${NSID.tokenPatronage}/`));
  if (share) {
    out.push({ name: "patronage split", published: pub.map((p) => (p === share ? { ...p, value: { ...p.value, tokensCredited: Number(p.value.tokensCredited) + 1 } } : p)) });
  }
  const did = Object.keys(r.balances).find((d) => r.balances[d]! > 0);
  if (did) out.push({ name: "balance", published: pub, balances: { ...r.balances, [did]: r.balances[did]! + 1 } });
  return out;
}

async function auditOf(world: SimWorld, events: ReturnType<typeof parseSimEvent>[], run: SimulateResult, published: SimulateResult["published"], reported: Record<string, number>, now: number) {
  const own = new Set(published.map((p) => p.uri));
  const records: AuditRecord[] = [
    ...deliveredRecords(events).filter((r) => !own.has(r.uri)),
    ...published.map((p) => {
      const value = fromJsonRecord(p.value) as Record<string, unknown>;
      return { uri: p.uri, cid: recordCid(value) ?? "", value };
    }),
  ];
  const statuses = new Map(run.receipts.map((x) => [x.uri, { status: x.status, codes: x.codes }]));
  return auditRecords({ exchangeDid: world.exchange, records, now, graceMs: 0, statusOf: async (uri) => statuses.get(uri), reportedBalances: reported });
}

export interface DiffOptions {
  worlds: number;
  orders: number;
  size?: WorldSize;
  /** Database URLs of fresh empty PostgreSQL databases, one per run, when PostgreSQL is to be included. */
  postgres?: () => Promise<{ url: string; drop(): Promise<void> }>;
  /** How many of the orders also run on PostgreSQL (it is the slow one). */
  postgresOrders?: number;
  seed?: number;
  log?: (line: string) => void;
}

export async function differential(opts: DiffOptions): Promise<DiffReport> {
  const rep: DiffReport = { worlds: 0, orders: 0, implementationDiffs: 0, auditFalsePositives: 0, tamperingsInjected: 0, tamperingsDetected: 0, doubleSettlements: 0, conservationViolations: 0, problems: [] };
  const problem = (p: string) => {
    if (rep.problems.length < 8) rep.problems.push(p.length > 1500 ? `${p.slice(0, 1500)}…` : p);
  };
  for (let w = 0; w < opts.worlds; w++) {
    const seed = (opts.seed ?? 1) * 7919 + w;
    const world = simWorld(seed, opts.size);
    rep.worlds++;
    let reference: Outcome | undefined;
    for (let o = 0; o < opts.orders; o++) {
      const raw = deliveryOrder(world, o === 0 ? null : seed * 31 + o);
      const events = raw.map(parseSimEvent);
      const runs: { name: string; outcome: Outcome; sim?: SimulateResult }[] = [];
      // The audit with no grace at all: the strictest judge of an honest run.
      const sqlite = await simulate(events, world.policy, { keys: world.keys, auditGraceMs: 0 });
      runs.push({ name: "sqlite", outcome: outcomeOf(sqlite, world.exchange), sim: sqlite });
      const memory = await replaySimulation(raw, { value: world.policy });
      runs.push({ name: "replay", outcome: outcomeOf(memory, world.exchange) });
      if (opts.postgres && o < (opts.postgresOrders ?? 1)) {
        const db = await opts.postgres();
        try {
          const pg = await simulate(events, world.policy, { db: db.url, keys: world.keys, auditGraceMs: 0 });
          runs.push({ name: "postgres", outcome: outcomeOf(pg, world.exchange), sim: pg });
        } finally {
          await db.drop();
        }
      }
      rep.orders++;
      for (const r of runs) {
        reference ??= r.outcome;
        const d = diff(reference, r.outcome);
        if (d) {
          rep.implementationDiffs++;
          problem(`world ${seed} order ${o} ${r.name}: ${d}`);
        }
        if (!r.sim) continue;
        if (!conservation(r.sim)) {
          rep.conservationViolations++;
          problem(`world ${seed} order ${o} ${r.name}: conservation broken`);
        }
        const settled = new Map<string, number>();
        for (const p of r.sim.published) if (p.uri.includes(`/${NSID.settlement}/`)) settled.set(String((p.value.receipt as { uri: string }).uri), (settled.get(String((p.value.receipt as { uri: string }).uri)) ?? 0) + 1);
        rep.doubleSettlements += [...settled.values()].filter((n) => n > 1).length;
        if (!r.sim.audit.ok) {
          rep.auditFalsePositives += r.sim.audit.discrepancies.length;
          problem(`world ${seed} order ${o} ${r.name}: audit ${r.sim.audit.discrepancies.slice(0, 3).map((d) => `${d.code} ${d.subject}: ${d.message}`).join(" | ")}`);
        }
      }
      // Tamperings of the first order's SQLite run.
      if (o === 0) {
        const now = Math.max(...events.filter((e) => "at" in e).map((e) => (e as { at: number }).at), Date.parse(String(world.policy.createdAt)));
        for (const t of tamperings(sqlite)) {
          rep.tamperingsInjected++;
          const audit = await auditOf(world, events, sqlite, t.published, t.balances ?? sqlite.balances, now);
          if (audit.discrepancies.length > 0) rep.tamperingsDetected++;
          else problem(`world ${seed}: tampering "${t.name}" not reported`);
        }
      }
    }
    opts.log?.(`world ${w + 1}/${opts.worlds}: ${rep.implementationDiffs} diffs, ${rep.auditFalsePositives} audit false positives so far`);
  }
  return rep;
}
