// The outbox publisher: at-least-once, idempotent. Every row was written in the same transaction
// as the ledger change it reports and carries a deterministic rkey, so a crash anywhere (before
// the put, after the put but before marking the row) ends in exactly one record: a retried put
// overwrites the same rkey. Settlements are signed here, at publish time, with the exchange's
// P-256 key (signature over the canonical JSON without `sig` and `$type`).
import { putRecord, type Agent } from "@cocore/atproto";
import { base64Encode, NSID, signingPayload, sign, type SigningKey } from "@cocore/protocol";
import type { LedgerDb } from "./db/open.ts";

export interface PublisherOptions {
  ldb: LedgerDb;
  agent: Agent;
  key: SigningKey;
  log: (line: string) => void;
}

export function signSettlement(record: Record<string, unknown>, key: SigningKey): Record<string, unknown> {
  const { sig: _drop, ...rest } = record;
  const sig = sign(key, signingPayload(rest, "sig"));
  return { ...rest, sig: { $bytes: base64Encode(sig) } };
}

/** Publishes up to `limit` unpublished rows in order; returns how many were published. */
export async function publishPending(opts: PublisherOptions, limit = 100): Promise<number> {
  const rows = await opts.ldb.db.selectFrom("outbox").selectAll().where("published_uri", "is", null).orderBy("seq").limit(limit).execute();
  let n = 0;
  for (const row of rows) {
    let record = JSON.parse(row.record) as Record<string, unknown>;
    if (row.collection === NSID.settlement) record = signSettlement(record, opts.key);
    const ref = await putRecord(opts.agent, row.collection, row.rkey, record);
    await opts.ldb.db
      .updateTable("outbox")
      .set({ published_uri: ref.uri, published_cid: ref.cid })
      .where("key", "=", row.key)
      .execute();
    n++;
  }
  return n;
}

export class Publisher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly opts: PublisherOptions,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.running = this.drain().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.failures > 0 ? Math.min(5000, this.intervalMs * 2 ** this.failures) : this.intervalMs);
      });
    };
    loop();
  }

  /** Publishes everything pending now (tests call this to flush). */
  async drain(): Promise<void> {
    try {
      while ((await publishPending(this.opts)) > 0) {
        if (this.stopped) return;
      }
      this.failures = 0;
    } catch (err) {
      this.failures = Math.min(this.failures + 1, 6);
      this.opts.log(`publisher: ${err instanceof Error ? err.message : String(err)} (will retry)`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
