// Bulk writes for the hot path, outside Kysely's query builder: building and compiling a
// thousand-row VALUES list (and, on SQLite, preparing a fresh 40 kB statement for it every time)
// cost more than the rows themselves. SQLite runs one cached single-row prepared statement per
// row (no round trips: it is in-process); PostgreSQL gets one statement per batch whose rows come
// as one json parameter, with a constant text the server parses once.
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
  conflict?: { target: readonly string[]; update?: readonly string[]; where?: string; add?: readonly string[] };
}

function conflictClause(spec: BulkSpec): string {
  const c = spec.conflict;
  if (!c) return "";
  const target = c.target.map((t) => `"${t}"`).join(", ");
  // `add`: the stored value plus the new row's (counters).
  const sets = [...(c.update ?? []).map((u) => `"${u}" = excluded."${u}"`), ...(c.add ?? []).map((u) => `"${u}" = "${spec.table}"."${u}" + excluded."${u}"`)];
  if (sets.length === 0) return ` on conflict (${target}) do nothing`;
  const where = c.where ? ` where ${c.where}` : "";
  return ` on conflict (${target}) do update set ${sets.join(", ")}${where}`;
}

type StatementCache = WeakMap<BetterSqlite3.Database, Map<object, BetterSqlite3.Statement>>;

/** A statement prepared once per connection and spec (a spec object is a statement's identity). */
function cachedStatement(caches: StatementCache, raw: BetterSqlite3.Database, spec: object, text: () => string): BetterSqlite3.Statement {
  let cache = caches.get(raw);
  if (!cache) caches.set(raw, (cache = new Map()));
  let stmt = cache.get(spec);
  if (!stmt) cache.set(spec, (stmt = raw.prepare(text())));
  return stmt;
}

const inserts: StatementCache = new WeakMap();

function sqliteStatement(raw: BetterSqlite3.Database, spec: BulkSpec): BetterSqlite3.Statement {
  return cachedStatement(inserts, raw, spec, () => {
    const cols = spec.columns.map(([n]) => `"${n}"`).join(", ");
    const marks = spec.columns.map(() => "?").join(", ");
    return `insert into "${spec.table}" (${cols}) values (${marks})${conflictClause(spec)}`;
  });
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
  await sql`${sql.raw(pgInsertText(spec))}${pgRowsJson(spec, rows)}${sql.raw(pgInsertTail(spec))}`.execute(tx);
}

// PostgreSQL bulk rows travel as ONE json parameter (an array of objects keyed by column) read
// back with json_to_recordset: JSON.stringify and the server's JSON parser are native, whereas
// array parameters (`unnest($1::text[], …)`) are escaped element by element in JavaScript by
// `pg` and parsed again by the server, which for rows carrying record JSON cost more than the
// inserts themselves.
function pgInsertText(spec: BulkSpec): string {
  const cols = spec.columns.map(([n]) => `"${n}"`).join(", ");
  return `insert into "${spec.table}" (${cols}) select ${cols} from json_to_recordset(`;
}

function pgInsertTail(spec: BulkSpec): string {
  const defs = spec.columns.map(([n, type]) => `"${n}" ${type === "int8" ? "bigint" : "text"}`).join(", ");
  return `::json) as r(${defs})${conflictClause(spec)}`;
}

function pgRowsJson(spec: BulkSpec, rows: readonly (readonly Cell[])[]): string {
  const cols = spec.columns;
  return JSON.stringify(
    rows.map((row) => {
      const o: Record<string, Cell> = {};
      // A key left out reads as null in json_to_recordset: nulls need not travel.
      for (let i = 0; i < cols.length; i++) {
        const cell = row[i] ?? null;
        if (cell !== null) o[cols[i]![0]] = wellFormed(cell);
      }
      return o;
    }),
  );
}

/**
 * PostgreSQL's json parser refuses a lone UTF-16 surrogate, which JSON.stringify writes as an
 * escape; it becomes U+FFFD, as `pg` made it of a text parameter before.
 */
function wellFormed(cell: Cell): Cell {
  return typeof cell === "string" ? cell.toWellFormed() : cell;
}

/**
 * Inserts `rows` like insertMany with a do-nothing conflict clause, and returns the indexes of the
 * rows that were NOT inserted because their key (column `keyIndex`) was already present: the
 * caller learns about duplicates without looking every key up first.
 */
export async function insertNew(ldb: LedgerDb, tx: Tx, spec: BulkSpec, rows: readonly (readonly Cell[])[], keyIndex = 0): Promise<number[]> {
  if (rows.length === 0) return [];
  if (spec.conflict?.update || spec.conflict?.add) throw new Error(`insertNew: ${spec.table} spec updates on conflict`);
  // Conflicts are told apart by key: keys must be text (PostgreSQL returns them as written) and
  // distinct within the call (PostgreSQL would report a repeated key as inserted).
  if (spec.columns[keyIndex]?.[1] !== "text") throw new Error(`insertNew: ${spec.table} key column is not text`);
  if (new Set(rows.map((r) => r[keyIndex])).size !== rows.length) throw new Error(`insertNew: a key of ${spec.table} repeats within one call`);
  const skipped: number[] = [];
  if (ldb.sqlite) {
    const stmt = sqliteStatement(ldb.sqlite, spec);
    rows.forEach((row, i) => {
      if (stmt.run(row as Cell[]).changes === 0) skipped.push(i);
    });
    return skipped;
  }
  const key = spec.columns[keyIndex]![0];
  const result = await sql<Record<string, Cell>>`${sql.raw(pgInsertText(spec))}${pgRowsJson(spec, rows)}${sql.raw(`${pgInsertTail(spec)} returning "${key}"`)}`.execute(tx);
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
  /** An extra SQL condition on the rows (the same text in both dialects). */
  where?: string;
}

const lookups: StatementCache = new WeakMap();
const setLookups: StatementCache = new WeakMap();
/** From this many keys on, SQLite reads them in one statement (json_each) rather than one each. */
const SQLITE_SET_LOOKUP = 16;

/**
 * Rows of `spec.table` whose key columns equal one of `keys` (tuples in `spec.keys` order). On
 * SQLite one cached point-lookup statement per key; on PostgreSQL one query with a constant text
 * and the keys as one json parameter.
 */
export async function selectByKeys<R>(ldb: LedgerDb, tx: Tx, spec: LookupSpec, keys: readonly (readonly string[])[]): Promise<R[]> {
  if (keys.length === 0) return [];
  const cols = spec.columns.map((c) => `"${c}"`).join(", ");
  const extra = spec.where ? ` and (${spec.where})` : "";
  const keyCols = spec.keys.map((k) => `"${k}"`).join(", ");
  if (ldb.sqlite) {
    const raw = ldb.sqlite;
    if (keys.length >= SQLITE_SET_LOOKUP) {
      // One call for the whole set: crossing into SQLite once per key cost more than the lookups.
      const stmt = cachedStatement(setLookups, raw, spec, () =>
        spec.keys.length === 1
          ? `select ${cols} from "${spec.table}" where ${keyCols} in (select value from json_each(?))${extra}`
          : `select ${cols} from "${spec.table}" where (${keyCols}) in (select ${spec.keys.map((_, i) => `value->>${i}`).join(", ")} from json_each(?))${extra}`,
      );
      return stmt.all(JSON.stringify(spec.keys.length === 1 ? keys.map((k) => k[0]) : keys)) as R[];
    }
    const stmt = cachedStatement(lookups, raw, spec, () => `select ${cols} from "${spec.table}" where ${spec.keys.map((k) => `"${k}" = ?`).join(" and ")}${extra}`);
    const out: R[] = [];
    for (const k of keys) for (const row of stmt.all(k as string[])) out.push(row as R);
    return out;
  }
  // The keys travel as one json parameter too (see pgRowsJson); `= any(array(…))` keeps the
  // index lookups the planner uses for a literal array.
  const where =
    spec.keys.length === 1
      ? sql`${sql.raw(keyCols)} = any(array(select json_array_elements_text(${JSON.stringify(keys.map((k) => k[0]!.toWellFormed()))}::json)))`
      : sql`(${sql.raw(keyCols)}) in (select ${sql.raw(spec.keys.map((_, i) => `k->>${i}`).join(", "))} from json_array_elements(${JSON.stringify(keys.map((k) => k.map((c) => c.toWellFormed())))}::json) k)`;
  const result = await sql<R>`select ${sql.raw(cols)} from ${sql.raw(`"${spec.table}"`)} where ${where}${sql.raw(extra)}`.execute(tx);
  return result.rows;
}
