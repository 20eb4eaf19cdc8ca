// Opening the ledger database: `sqlite:PATH` (better-sqlite3, WAL) or `postgres://…` (pg).
// Also the one way to run a write transaction, because the two dialects serialize writers
// differently: SQLite takes the write lock up front (BEGIN IMMEDIATE); on PostgreSQL every ledger
// transaction locks the ledger_meta row first (store/sql-store.ts), and a transaction is retried
// on the rare deadlock or serialization failure.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from "kysely";
import pg from "pg";
import { Checkpointer } from "./checkpointer.ts";
import { migrate } from "./migrations.ts";
import type { Database } from "./schema.ts";

export type Dialect = "sqlite" | "postgres";
export type Tx = Kysely<Database> | Transaction<Database>;

export interface LedgerDb {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  /** The better-sqlite3 handle under `db` on SQLite (bulk.ts runs cached statements on it). */
  readonly sqlite?: BetterSqlite3.Database;
  /** Runs `fn` in one serialized write transaction (retried on PostgreSQL deadlocks). */
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function describeDbUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

export async function openLedgerDb(url: string): Promise<LedgerDb> {
  let ledger: LedgerDb;
  if (url.startsWith("sqlite:")) ledger = openSqlite(url.slice("sqlite:".length));
  else if (/^postgres(ql)?:\/\//.test(url)) ledger = openPostgres(url);
  else throw new Error(`unsupported database URL ${describeDbUrl(url)} (use sqlite:PATH or postgres://…)`);
  try {
    await migrate(ledger.db as unknown as Kysely<unknown>);
  } catch (err) {
    await ledger.close().catch(() => {});
    throw err;
  }
  return ledger;
}

function openSqlite(path: string): LedgerDb {
  const file = path === ":memory:" || path === "" ? ":memory:" : resolve(path);
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const raw = new BetterSqlite3(file);
  raw.pragma("journal_mode = WAL");
  raw.pragma("synchronous = NORMAL");
  raw.pragma("busy_timeout = 10000");
  raw.pragma("foreign_keys = OFF");
  // A bulk batch dirties thousands of pages; with the 2 MB default they spill to the WAL
  // mid-transaction and are written twice.
  raw.pragma("cache_size = -65536");
  // Checkpointing (copying the WAL back, with two fsyncs) every 1,000 pages cost about as much as
  // the inserts of a bulk batch; a file database hands it to a thread of its own (checkpointer.ts),
  // and an in-memory one has no WAL.
  raw.pragma("wal_autocheckpoint = 10000");
  const checkpointer = file === ":memory:" ? undefined : new Checkpointer(file, raw);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  return {
    dialect: "sqlite",
    db,
    sqlite: raw,
    async write(fn) {
      // Kysely serializes use of the single connection, so this holds it for the whole transaction;
      // IMMEDIATE takes SQLite's write lock at BEGIN, so another process cannot interleave either.
      return db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          checkpointer?.afterCommit();
          return result;
        } catch (err) {
          if (raw.inTransaction) await sql`rollback`.execute(conn);
          throw err;
        }
      });
    },
    async close() {
      await checkpointer?.close();
      await db.destroy();
    },
  };
}

const RETRYABLE = new Set(["40001", "40P01"]);

function openPostgres(url: string): LedgerDb {
  // int8 values stay strings (pg's default); ints.ts converts them with a safe-integer check.
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  // An idle client losing its connection (server restart, admin termination) must not crash the
  // process; the pool replaces it and the next query reports any lasting problem.
  pool.on("error", () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: "postgres",
    db,
    async write(fn) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await db.transaction().execute(fn);
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (attempt < 20 && typeof code === "string" && RETRYABLE.has(code)) {
            await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
            continue;
          }
          throw err;
        }
      }
    },
    close: () => db.destroy(),
  };
}
