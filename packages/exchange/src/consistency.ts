// The ledger's self-audit: balances rebuilt from the append-only transfers must equal the cached
// accounts, holds must add up, no balance is negative, and nothing is minted except by grants and
// refreshes (Σ balances = Σ minted).
import { sql } from "kysely";
import type { LedgerDb } from "./db/open.ts";
import { toInt } from "./ints.ts";

export interface ConsistencyReport {
  ok: boolean;
  problems: string[];
  accounts: number;
  totalBalance: number;
  totalMinted: number;
  /** Firehose commits set aside after failing deterministically, not replayed yet (ingest.ts). */
  deadLetters: number;
}

export async function consistencyCheck(ldb: LedgerDb): Promise<ConsistencyReport> {
  const db = ldb.db;
  const derived = new Map<string, number>();
  const inflow = await db.selectFrom("transfers").select(["to_did as did", sql<string>`sum(amount)`.as("n")]).groupBy("to_did").execute();
  const outflow = await db.selectFrom("transfers").select(["from_did as did", sql<string>`sum(amount)`.as("n")]).where("from_did", "is not", null).groupBy("from_did").execute();
  for (const r of inflow) derived.set(r.did, (derived.get(r.did) ?? 0) + toInt(r.n));
  for (const r of outflow) derived.set(r.did!, (derived.get(r.did!) ?? 0) - toInt(r.n));
  const minted = await db.selectFrom("transfers").select(sql<string>`coalesce(sum(amount), 0)`.as("n")).where("from_did", "is", null).executeTakeFirstOrThrow();
  const holds = await db.selectFrom("holds").select(["requester", sql<string>`sum(amount)`.as("n")]).where("state", "=", "pending").groupBy("requester").execute();
  const heldBy = new Map(holds.map((h) => [h.requester, toInt(h.n)]));
  const problems: string[] = [];
  const accounts = await db.selectFrom("accounts").selectAll().execute();
  let total = 0;
  const seen = new Set<string>();
  for (const a of accounts) {
    seen.add(a.did);
    const balance = toInt(a.balance);
    const held = toInt(a.held);
    total += balance;
    const want = derived.get(a.did) ?? 0;
    if (balance !== want) problems.push(`${a.did}: cached balance ${balance}, transfers say ${want}`);
    if (balance < 0) problems.push(`${a.did}: negative balance ${balance}`);
    if (held !== (heldBy.get(a.did) ?? 0)) problems.push(`${a.did}: held ${held}, pending holds say ${heldBy.get(a.did) ?? 0}`);
  }
  for (const [did, n] of derived) if (!seen.has(did) && n !== 0) problems.push(`${did}: transfers give ${n} but there is no account row`);
  const totalMinted = toInt(minted.n);
  if (total !== totalMinted) problems.push(`conservation: Σ balances ${total} ≠ Σ minted ${totalMinted}`);
  // Not a ledger inconsistency, but the ledger is missing what those commits carried: say so.
  const dead = await db.selectFrom("dead_letters").select(sql<string>`count(*)`.as("n")).where("replayed_at", "is", null).executeTakeFirstOrThrow();
  const deadLetters = toInt(dead.n);
  if (deadLetters > 0) problems.push(`${deadLetters} firehose commit(s) dead-lettered and not replayed (Exchange.deadLetters())`);
  return { ok: problems.length === 0, problems, accounts: accounts.length, totalBalance: total, totalMinted, deadLetters };
}
