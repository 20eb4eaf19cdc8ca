// Schema migrations, embedded (no migration folder to ship). Types are chosen to mean the same in
// both dialects: text for ids and ISO times, bigint for amounts (INTEGER affinity in SQLite).
import { sql, type Kysely } from "kysely";
import { Migrator, type Migration, type MigrationProvider } from "kysely/migration";

const initial: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("records")
      .addColumn("uri", "text", (c) => c.primaryKey())
      .addColumn("did", "text", (c) => c.notNull())
      .addColumn("collection", "text", (c) => c.notNull())
      .addColumn("rkey", "text", (c) => c.notNull())
      .addColumn("cid", "text", (c) => c.notNull())
      .addColumn("value", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("reason", "text")
      .addColumn("first_seen", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("records_did_collection").on("records").columns(["did", "collection"]).execute();

    await db.schema
      .createTable("transfers")
      .addColumn("key", "text", (c) => c.primaryKey())
      .addColumn("kind", "text", (c) => c.notNull())
      .addColumn("from_did", "text")
      .addColumn("to_did", "text", (c) => c.notNull())
      .addColumn("amount", "bigint", (c) => c.notNull())
      .addColumn("at", "text", (c) => c.notNull())
      .addColumn("ref", "text")
      .addColumn("payload_hash", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("transfers_from").on("transfers").columns(["from_did", "at"]).execute();
    await db.schema.createIndex("transfers_to").on("transfers").columns(["to_did", "at"]).execute();

    await db.schema
      .createTable("accounts")
      .addColumn("did", "text", (c) => c.primaryKey())
      .addColumn("balance", "bigint", (c) => c.notNull())
      .addColumn("held", "bigint", (c) => c.notNull())
      .addColumn("grant_amount", "bigint")
      .addColumn("granted_at", "text")
      .addColumn("last_refresh_at", "text")
      .execute();

    await db.schema
      .createTable("holds")
      .addColumn("key", "text", (c) => c.primaryKey())
      .addColumn("job_uri", "text", (c) => c.notNull())
      .addColumn("requester", "text", (c) => c.notNull())
      .addColumn("amount", "bigint", (c) => c.notNull())
      .addColumn("expires_at", "text", (c) => c.notNull())
      .addColumn("state", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("holds_state_expiry").on("holds").columns(["state", "expires_at"]).execute();

    await db.schema
      .createTable("receipts")
      .addColumn("uri", "text", (c) => c.primaryKey())
      .addColumn("cid", "text", (c) => c.notNull())
      .addColumn("job_uri", "text", (c) => c.notNull())
      .addColumn("requester", "text")
      .addColumn("provider", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("reason", "text")
      .addColumn("waiting_for", "text")
      .addColumn("findings", "text")
      .addColumn("completed_at", "text")
      .addColumn("kind", "text")
      .addColumn("settled_at", "text")
      .addColumn("charged", "bigint")
      .addColumn("payout", "bigint")
      .addColumn("fee", "bigint")
      .addColumn("settlement_uri", "text")
      .execute();
    await db.schema.createIndex("receipts_job").on("receipts").columns(["job_uri"]).execute();
    await db.schema.createIndex("receipts_status").on("receipts").columns(["status", "requester"]).execute();
    await db.schema.createIndex("receipts_settled").on("receipts").columns(["settled_at"]).execute();
    await db.schema.createIndex("receipts_waiting").on("receipts").columns(["waiting_for"]).execute();

    await db.schema
      .createTable("nonces")
      .addColumn("requester", "text", (c) => c.notNull())
      .addColumn("nonce", "text", (c) => c.notNull())
      .addColumn("auth_uri", "text", (c) => c.notNull())
      .addColumn("job_uri", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("nonces_pk", ["requester", "nonce"])
      .execute();

    await db.schema
      .createTable("outbox")
      .addColumn("key", "text", (c) => c.primaryKey())
      .addColumn("seq", "bigint", (c) => c.notNull())
      .addColumn("collection", "text", (c) => c.notNull())
      .addColumn("rkey", "text", (c) => c.notNull())
      .addColumn("record", "text", (c) => c.notNull())
      .addColumn("published_uri", "text")
      .addColumn("published_cid", "text")
      .addUniqueConstraint("outbox_collection_rkey", ["collection", "rkey"])
      .execute();
    await db.schema.createIndex("outbox_unpublished").on("outbox").columns(["published_uri", "seq"]).execute();

    await db.schema
      .createTable("cursor")
      .addColumn("source", "text", (c) => c.primaryKey())
      .addColumn("seq", "bigint", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("repos")
      .addColumn("did", "text", (c) => c.primaryKey())
      .addColumn("backfilled_at", "text", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("periods")
      .addColumn("start", "text", (c) => c.primaryKey())
      .addColumn("end", "text", (c) => c.notNull())
      .addColumn("state", "text", (c) => c.notNull())
      .addColumn("pool", "bigint")
      .execute();

    await db.schema
      .createTable("meta")
      .addColumn("key", "text", (c) => c.primaryKey())
      .addColumn("value", "text", (c) => c.notNull())
      .execute();
  },
};

// Indexes for the hot path: most receipts end settled, so the indexes used to find pending and
// parked receipts only hold those (partial indexes, same syntax in both dialects); and records
// are never listed by (did, collection) — our own records are found by uri.
const leanIndexes: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.dropIndex("records_did_collection").ifExists().execute();
    await db.schema.dropIndex("receipts_status").ifExists().execute();
    await db.schema.dropIndex("receipts_waiting").ifExists().execute();
    await sql`create index receipts_parked on receipts (requester) where status = 'parked'`.execute(db);
    await sql`create index receipts_waiting on receipts (waiting_for) where waiting_for is not null`.execute(db);
  },
};

// Firehose commits that could not be applied are kept (never dropped) for a replay; our own
// settlement records found in our repo are indexed by receipt, so a rebuild reuses them.
const deadLettersAndOwnSettlements: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("dead_letters")
      .addColumn("source", "text", (c) => c.notNull())
      .addColumn("seq", "bigint", (c) => c.notNull())
      .addColumn("did", "text", (c) => c.notNull())
      .addColumn("ops", "text", (c) => c.notNull())
      .addColumn("error", "text", (c) => c.notNull())
      .addColumn("attempts", "bigint", (c) => c.notNull())
      .addColumn("at", "text", (c) => c.notNull())
      .addColumn("replayed_at", "text")
      .addPrimaryKeyConstraint("dead_letters_pk", ["source", "seq"])
      .execute();
    await db.schema
      .createTable("own_settlements")
      .addColumn("receipt_uri", "text", (c) => c.primaryKey())
      .addColumn("uri", "text", (c) => c.notNull())
      .addColumn("cid", "text", (c) => c.notNull())
      .addColumn("rkey", "text", (c) => c.notNull())
      .execute();
  },
};

// Each record row keeps the repo revision (a TID) it was seen at, so that an older version
// replayed after a newer one (a rebuild from cursor 0 after a backfill, reordered sources) is
// recognised and ignored.
const recordRevs: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("records").addColumn("rev", "text").execute();
  },
};

// A transfer's payload is its own columns: a key seen again is compared against them, so the
// hash of the payload stored beside them was redundant (and cost a sha256 per transfer).
const noPayloadHash: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("transfers").dropColumn("payload_hash").execute();
  },
};

// Receipts rejected before rejections recorded the record they rest on (settle.ts): those rejected
// only with strong-ref findings wait for their job's next version, as they were judged again then.
const staleRejections: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`update receipts set waiting_for = job_uri
      where status = 'rejected' and waiting_for is null and reason is not null
        and replace(replace(replace(replace(reason, 'job-mismatch', ''), 'attestation-invalid', ''), 'authorization-invalid', ''), ',', '') = ''`.execute(db);
  },
};

// One ledger state machine (@cocore/protocol ledger/): receipts carry their effective time and the
// facts they were decided on; claims (a settled receipt's job and nonce), session budgets, patronage
// scores, the machine's meta row and the policy history get tables of their own; holds remember
// the authorization and nonce an admission reserved.
const oneLedger: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("receipts").addColumn("eff", "bigint").execute();
    await db.schema.alterTable("receipts").addColumn("facts", "text").execute();
    await db.schema.alterTable("receipts").addColumn("policy_uri", "text").execute();
    await sql`create index receipts_queued on receipts (eff, completed_at, uri) where status = 'queued'`.execute(db);
    await db.schema.alterTable("holds").addColumn("auth_uri", "text").execute();
    await db.schema.alterTable("holds").addColumn("nonce_key", "text").execute();
    await sql`create index holds_nonce on holds (nonce_key) where state = 'pending'`.execute(db);
    await sql`create index holds_auth on holds (auth_uri) where state = 'pending'`.execute(db);
    await sql`create index holds_job on holds (job_uri)`.execute(db);
    await db.schema
      .createTable("claims")
      .addColumn("key", "text", (c) => c.primaryKey())
      .addColumn("receipt", "text", (c) => c.notNull())
      .addColumn("auth_uri", "text")
      .addColumn("job_uri", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("budgets")
      .addColumn("auth_uri", "text", (c) => c.primaryKey())
      .addColumn("used", "bigint", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("scores")
      .addColumn("period_start", "bigint", (c) => c.notNull())
      .addColumn("did", "text", (c) => c.notNull())
      .addColumn("score", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("scores_pk", ["period_start", "did"])
      .execute();
    await db.schema
      .createTable("ledger_meta")
      .addColumn("id", "bigint", (c) => c.primaryKey())
      .addColumn("watermark", "bigint", (c) => c.notNull())
      .addColumn("decision_ms", "bigint", (c) => c.notNull())
      .addColumn("decision_seq", "bigint", (c) => c.notNull())
      .addColumn("periods_closed", "bigint", (c) => c.notNull())
      .execute();
    // The one row always exists, so that every ledger transaction can lock it (PostgreSQL: FOR
    // UPDATE) before it reads anything; a watermark of -1 means the machine has not started yet.
    await sql`insert into ledger_meta (id, watermark, decision_ms, decision_seq, periods_closed) values (1, -1, 0, 0, 0)`.execute(db);
    await db.schema
      .createTable("policies")
      .addColumn("uri", "text", (c) => c.primaryKey())
      .addColumn("cid", "text", (c) => c.notNull())
      .addColumn("created_at", "bigint", (c) => c.notNull())
      .addColumn("value", "text", (c) => c.notNull())
      .execute();
    await sql`create index outbox_rkey on outbox (collection, rkey)`.execute(db);
  },
};

// Service-auth JWT ids already accepted (api.ts), kept until their tokens expire so that a token
// cannot be replayed against a restarted exchange, or against another process on this database.
// Rows live at most a token's lifetime plus one sweep interval, so the sweep's scan by `exp` needs
// no index (one would cost every insert).
const seenJtis: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("seen_jtis")
      .addColumn("jti", "text", (c) => c.primaryKey())
      .addColumn("exp", "bigint", (c) => c.notNull())
      .execute();
  },
};

// A hold remembers the provider and machine its job was dispatched to: a receipt from anyone else
// for that job is not the dispatched work (ledger/decisions.ts dispatchConflict).
const dispatchedProvider: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("holds").addColumn("provider", "text").execute();
    await db.schema.alterTable("holds").addColumn("machine_key", "text").execute();
  },
};

const provider: MigrationProvider = {
  getMigrations: () =>
    Promise.resolve({ "0001_initial": initial, "0002_lean_indexes": leanIndexes, "0003_dead_letters_own_settlements": deadLettersAndOwnSettlements, "0004_record_revs": recordRevs, "0005_no_payload_hash": noPayloadHash, "0006_stale_rejections": staleRejections, "0007_one_ledger": oneLedger, "0008_seen_jtis": seenJtis, "0009_dispatched_provider": dispatchedProvider }),
};

export async function migrate(db: Kysely<unknown>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "?";
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
