// The records table as seen by one unit of work: rows loaded in bulk, values parsed to lex form
// on demand, changes written back at flush.
import { fromJsonRecord, toJsonRecord } from "@cocore/protocol";
import { insertMany, selectByKeys, type BulkSpec, type LookupSpec } from "./db/bulk.ts";
import type { RecordsTable } from "./db/schema.ts";
import type { LedgerDb, Tx } from "./db/open.ts";

export { schemaCheck } from "./check.ts";

export interface StoredRecord {
  uri: string;
  did: string;
  collection: string;
  rkey: string;
  cid: string;
  status: "accepted" | "rejected" | "deleted";
  reason: string | null;
  first_seen: string;
  /** Repo revision of this version (or of its deletion); null when unknown. */
  rev: string | null;
  json: string;
  lex?: Record<string, unknown>;
}

export interface AtUriParts {
  did: string;
  collection: string;
  rkey: string;
}

export function parseAtUri(uri: string): AtUriParts | undefined {
  const m = /^at:\/\/([^/?#]+)\/([^/?#]+)\/([^/?#]+)$/.exec(uri);
  return m ? { did: m[1]!, collection: m[2]!, rkey: m[3]! } : undefined;
}

const RECORDS: BulkSpec = {
  table: "records",
  columns: [["uri", "text"], ["did", "text"], ["collection", "text"], ["rkey", "text"], ["cid", "text"], ["value", "text"], ["status", "text"], ["reason", "text"], ["first_seen", "text"], ["rev", "text"]],
  conflict: { target: ["uri"], update: ["cid", "value", "status", "reason", "rev"] },
};

const RECORD_BY_URI: LookupSpec = {
  table: "records",
  columns: ["uri", "did", "collection", "rkey", "cid", "value", "status", "reason", "first_seen", "rev"],
  keys: ["uri"],
};

export class RecordCache {
  private readonly rows = new Map<string, StoredRecord | null>();
  private readonly changed = new Set<string>();

  constructor(
    private readonly tx: Tx,
    private readonly ldb: LedgerDb,
  ) {}

  async load(uris: Iterable<string>): Promise<void> {
    const missing = [...new Set(uris)].filter((u) => !this.rows.has(u));
    const rows = await selectByKeys<RecordsTable>(this.ldb, this.tx, RECORD_BY_URI, missing.map((u) => [u]));
    for (const r of rows) {
      this.rows.set(r.uri, { ...r, status: r.status as StoredRecord["status"], json: r.value });
    }
    for (const u of missing) if (!this.rows.has(u)) this.rows.set(u, null);
  }

  /** The row (after load), or undefined when there is none. */
  peek(uri: string): StoredRecord | undefined {
    if (uri === "") return undefined;
    const r = this.rows.get(uri);
    if (r === undefined && !this.rows.has(uri)) throw new Error(`record ${uri} was not loaded`);
    return r ?? undefined;
  }

  /** A live (not deleted) record's value in lex form. */
  value(uri: string): Record<string, unknown> | undefined {
    const r = this.peek(uri);
    if (!r || r.status === "deleted") return undefined;
    r.lex ??= fromJsonRecord(JSON.parse(r.json)) as Record<string, unknown>;
    return r.lex;
  }

  put(row: Omit<StoredRecord, "json"> & { lex: Record<string, unknown>; json?: string }): StoredRecord {
    const stored: StoredRecord = { ...row, json: row.json ?? JSON.stringify(toJsonRecord(row.lex)) };
    this.rows.set(row.uri, stored);
    this.changed.add(row.uri);
    return stored;
  }

  markDeleted(uri: string, rev?: string): void {
    const r = this.peek(uri);
    if (!r || r.status === "deleted") return;
    r.status = "deleted";
    if (rev) r.rev = rev;
    this.changed.add(uri);
  }

  /** The same version seen again at a later revision (e.g. a backfill): only its rev moves. */
  bumpRev(uri: string, rev: string): void {
    const r = this.peek(uri);
    if (!r || (r.rev !== null && r.rev >= rev)) return;
    r.rev = rev;
    this.changed.add(uri);
  }

  async flush(): Promise<void> {
    const rows = [...this.changed].map((u) => this.rows.get(u)!).filter(Boolean);
    await insertMany(
      this.ldb,
      this.tx,
      RECORDS,
      rows.map((r) => [r.uri, r.did, r.collection, r.rkey, r.cid, r.json, r.status, r.reason, r.first_seen, r.rev]),
    );
  }
}
