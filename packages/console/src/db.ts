// The console's own SQLite file: OAuth state and sessions (so a restart keeps everyone signed in),
// browser sessions, and pairing requests. One small schema, created on open.
import Database from "better-sqlite3";

export type ConsoleDb = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS oauth_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_session (did TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS web_session (id_hash TEXT PRIMARY KEY, did TEXT NOT NULL, handle TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS web_session_did ON web_session (did);
CREATE TABLE IF NOT EXISTS pairing_request (
  code TEXT PRIMARY KEY,
  poll_hash TEXT NOT NULL,
  device_key TEXT NOT NULL,
  label TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  owner TEXT,
  device_id TEXT
);
CREATE TABLE IF NOT EXISTS device (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  device_key TEXT NOT NULL UNIQUE,
  label TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER,
  token_hash TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS job_outcome (
  job_uri TEXT PRIMARY KEY,
  did TEXT NOT NULL,
  model TEXT NOT NULL,
  status TEXT NOT NULL,
  code TEXT,
  message TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS job_outcome_did ON job_outcome (did, at);
CREATE TABLE IF NOT EXISTS device_nonce (device_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (device_id, nonce));
`;

export function openConsoleDb(path: string): ConsoleDb {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  db.exec(SCHEMA);
  // A console.sqlite from before pairing landed has a device table without token_hash.
  const cols = db.prepare<[], { name: string }>("PRAGMA table_info(device)").all().map((c) => c.name);
  if (!cols.includes("token_hash")) db.exec("ALTER TABLE device ADD COLUMN token_hash TEXT; CREATE UNIQUE INDEX IF NOT EXISTS device_token ON device (token_hash);");
  return db;
}
