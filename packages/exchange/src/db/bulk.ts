// Bulk writes for the hot path, outside Kysely's query builder: building and compiling a
// thousand-row VALUES list (and, on SQLite, preparing a fresh 40 kB statement for it every time)
// cost more than the rows themselves. SQLite runs one cached single-row prepared statement per
// row (no round trips: it is in-process); PostgreSQL gets one statement per batch whose columns
// are arrays (`unnest`), with a constant text the server parses once.
import { sql } from "kysely";
import type BetterSqlite3 from "better-sqlite3";
import type { LedgerDb, Tx } from "./open.ts";

export type Cell = string | number | null;

export interface BulkSpec {
  table: string;
  /** Column names with their PostgreSQL array element types. */
  columns: readonly (readonly [name: string, pgType: "text" | "int8"])[];
  /**
   * Absent: plain insert (a duplicate key fails the transaction). With `update`, those columns
   * take the new row's values (only where `where`, an SQL condition on the existing row, holds);
   * without, a conflicting row is skipped. A batch must not hold the same key twice.
   */
  conflict?: { target: readonly string[]; update?: readonly string[]; where?: string };
}

function conflictClause(spec: BulkSpec): string {
  const c = spec.conflict;
  if (!c) return "";
  const target = c.target.map((t) => `"${t}"`).join(", ");
  if (!c.update || c.update.length === 0) return ` on conflict (${target}) do nothing`;
  const where = c.where ? ` where ${c.where}` : "";
  return ` on conflict (${target}) do update set ${c.update.map((u) => `"${u}" = excluded."${u}"`).join(", ")}${where}`;
}

const statements = new WeakMap<BetterSqlite3.Database, Map<BulkSpec, BetterSqlite3.Statement>>();

function sqliteStatement(raw: BetterSqlite3.Database, spec: BulkSpec): BetterSqlite3.Statement {
  let cache = statements.get(raw);
  if (!cache) statements.set(raw, (cache = new Map()));
  let stmt = cache.get(spec);
  if (!stmt) {
    const cols = spec.columns.map(([n]) => `"${n}"`).join(", ");
    const marks = spec.columns.map(() => "?").join(", ");
    stmt = raw.prepare(`insert into "${spec.table}" (${cols}) values (${marks})${conflictClause(spec)}`);
    cache.set(spec, stmt);
  }
  return stmt;
}

/** Inserts `rows` (cells in `spec.columns` order) inside the transaction `tx` of `ldb`. */
export async function insertMany(ldb: LedgerDb, tx: Tx, spec: BulkSpec, rows: readonly (readonly Cell[])[]): Promise<void> {
  if (rows.length === 0) return;
  if (ldb.sqlite) {
    // Same connection as the open transaction (SQLite here is one connection, used synchronously).
    const stmt = sqliteStatement(ldb.sqlite, spec);
    for (const row of rows) stmt.run(row as Cell[]);
    return;
  }
  const cols = spec.columns.map(([n]) => `"${n}"`).join(", ");
  const arrays = spec.columns.map(([, type], i) => sql`${rows.map((r) => r[i] ?? null)}::${sql.raw(type)}[]`);
  await sql`insert into ${sql.raw(`"${spec.table}"`)} (${sql.raw(cols)}) select * from unnest(${sql.join(arrays)})${sql.raw(conflictClause(spec))}`.execute(tx);
}

/**
 * Inserts `rows` like insertMany with a do-nothing conflict clause, and returns the indexes of the
 * rows that were NOT inserted because their key (column `keyIndex`) was already present: the
 * caller learns about duplicates without looking every key up first.
 */
export async function insertNew(ldb: LedgerDb, tx: Tx, spec: BulkSpec, rows: readonly (readonly Cell[])[], keyIndex = 0): Promise<number[]> {
  if (rows.length === 0) return [];
  if (spec.conflict?.update) throw new Error(`insertNew: ${spec.table} spec updates on conflict`);
  const skipped: number[] = [];
  if (ldb.sqlite) {
    const stmt = sqliteStatement(ldb.sqlite, spec);
    rows.forEach((row, i) => {
      if (stmt.run(row as Cell[]).changes === 0) skipped.push(i);
    });
    return skipped;
  }
  const cols = spec.columns.map(([n]) => `"${n}"`).join(", ");
  const arrays = spec.columns.map(([, type], i) => sql`${rows.map((r) => r[i] ?? null)}::${sql.raw(type)}[]`);
  const key = spec.columns[keyIndex]![0];
  const result = await sql<Record<string, Cell>>`insert into ${sql.raw(`"${spec.table}"`)} (${sql.raw(cols)}) select * from unnest(${sql.join(arrays)})${sql.raw(conflictClause(spec))} returning ${sql.raw(`"${key}"`)}`.execute(tx);
  const inserted = new Set(result.rows.map((r) => r[key]));
  rows.forEach((row, i) => {
    if (!inserted.has(row[keyIndex] ?? null)) skipped.push(i);
  });
  return skipped;
}

export interface LookupSpec {
  table: string;
  columns: readonly string[];
  /** The key columns (text), matched together. */
  keys: readonly string[];
}

const lookups = new WeakMap<BetterSqlite3.Database, Map<LookupSpec, BetterSqlite3.Statement>>();

/**
 * Rows of `spec.table` whose key columns equal one of `keys` (tuples in `spec.keys` order). On
 * SQLite one cached point-lookup statement per key; on PostgreSQL one `= any(array)` / `unnest`
 * query with a constant text.
 */
export async function selectByKeys<R>(ldb: LedgerDb, tx: Tx, spec: LookupSpec, keys: readonly (readonly string[])[]): Promise<R[]> {
  if (keys.length === 0) return [];
  const cols = spec.columns.map((c) => `"${c}"`).join(", ");
  if (ldb.sqlite) {
    let cache = lookups.get(ldb.sqlite);
    if (!cache) lookups.set(ldb.sqlite, (cache = new Map()));
    let stmt = cache.get(spec);
    if (!stmt) {
      stmt = ldb.sqlite.prepare(`select ${cols} from "${spec.table}" where ${spec.keys.map((k) => `"${k}" = ?`).join(" and ")}`);
      cache.set(spec, stmt);
    }
    const out: R[] = [];
    for (const k of keys) for (const row of stmt.all(k as string[])) out.push(row as R);
    return out;
  }
  const arrays = spec.keys.map((_, i) => sql`${keys.map((k) => k[i])}::text[]`);
  const where =
    spec.keys.length === 1
      ? sql`${sql.raw(`"${spec.keys[0]}"`)} = any(${arrays[0]!})`
      : sql`(${sql.raw(spec.keys.map((k) => `"${k}"`).join(", "))}) in (select * from unnest(${sql.join(arrays)}))`;
  const result = await sql<R>`select ${sql.raw(cols)} from ${sql.raw(`"${spec.table}"`)} where ${where}`.execute(tx);
  return result.rows;
}
