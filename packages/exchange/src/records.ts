// The records table as seen by one unit of work: rows loaded in bulk, values parsed to lex form
// on demand, changes written back at flush.
import { fromJsonRecord, lexicons, toJsonRecord, validateRecord } from "@cocore/protocol";
import type { Tx } from "./db/open.ts";
import { chunks } from "./uow.ts";

export interface StoredRecord {
  uri: string;
  did: string;
  collection: string;
  rkey: string;
  cid: string;
  status: "accepted" | "rejected" | "deleted";
  reason: string | null;
  first_seen: string;
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

/** Lexicon validation for the collections we have lexicons for; others are kept as they come. */
export function schemaCheck(collection: string, value: Record<string, unknown>): string | null {
  let known = false;
  try {
    known = lexicons.getDef(collection) !== undefined;
  } catch {
    known = false;
  }
  if (!known) return null;
  const r = validateRecord(collection, value);
  return r.ok ? null : r.message;
}

export class RecordCache {
  private readonly rows = new Map<string, StoredRecord | null>();
  private readonly changed = new Set<string>();

  constructor(private readonly tx: Tx) {}

  async load(uris: Iterable<string>): Promise<void> {
    const missing = [...new Set(uris)].filter((u) => !this.rows.has(u));
    for (const chunk of chunks(missing)) {
      const rows = await this.tx.selectFrom("records").selectAll().where("uri", "in", chunk).execute();
      for (const r of rows) {
        this.rows.set(r.uri, { ...r, status: r.status as StoredRecord["status"], json: r.value });
      }
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

  put(row: Omit<StoredRecord, "json"> & { lex: Record<string, unknown> }): StoredRecord {
    const stored: StoredRecord = { ...row, json: JSON.stringify(toJsonRecord(row.lex)) };
    this.rows.set(row.uri, stored);
    this.changed.add(row.uri);
    return stored;
  }

  markDeleted(uri: string): void {
    const r = this.peek(uri);
    if (!r || r.status === "deleted") return;
    r.status = "deleted";
    this.changed.add(uri);
  }

  async flush(): Promise<void> {
    const rows = [...this.changed].map((u) => this.rows.get(u)!).filter(Boolean);
    for (const chunk of chunks(rows)) {
      await this.tx
        .insertInto("records")
        .values(
          chunk.map((r) => ({
            uri: r.uri,
            did: r.did,
            collection: r.collection,
            rkey: r.rkey,
            cid: r.cid,
            value: r.json,
            status: r.status,
            reason: r.reason,
            first_seen: r.first_seen,
          })),
        )
        .onConflict((oc) =>
          oc.column("uri").doUpdateSet((eb) => ({
            cid: eb.ref("excluded.cid"),
            value: eb.ref("excluded.value"),
            status: eb.ref("excluded.status"),
            reason: eb.ref("excluded.reason"),
          })),
        )
        .execute();
    }
  }
}
