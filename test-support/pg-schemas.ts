// Fresh, empty PostgreSQL namespaces for runs that each need an empty ledger database: a schema per
// run (created and dropped in milliseconds) instead of a database per run (seconds each).
import { randomBytes } from "node:crypto";
import pg from "pg";

export const PG_URL = process.env.COCORE_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export async function pgReachable(url = PG_URL): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await c.connect();
    await c.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/** A URL whose connections use a new empty schema; `drop()` removes it with everything in it. */
export async function freshPgSchema(url = PG_URL): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `sim_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${name}`);
  await admin.end();
  const sep = url.includes("?") ? "&" : "?";
  return {
    url: `${url}${sep}options=${encodeURIComponent(`-c search_path=${name}`)}`,
    async drop() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`drop schema if exists ${name} cascade`);
      await c.end();
    },
  };
}
