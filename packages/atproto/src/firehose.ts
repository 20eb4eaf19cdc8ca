// com.atproto.sync.subscribeRepos through @atproto/sync's Firehose, with commit signatures and
// MST proofs verified (its default). The Firehose hands over one op at a time; we regroup the ops
// of each commit so that a consumer can apply a commit atomically (e.g. one DB transaction).
import { Firehose, type CommitEvt, type Event } from "@atproto/sync";
import type { IdResolver } from "./identity.ts";
import type { LexRecord } from "./repo-export.ts";

export interface FirehoseOp {
  action: "create" | "update" | "delete";
  collection: string;
  rkey: string;
  uri: string;
  /** Absent for deletes. */
  cid?: string;
  /** The record in lex (IPLD) form; absent for deletes. */
  record?: LexRecord;
}

export interface FirehoseEvent {
  seq: number;
  did: string;
  /** The commit time as the PDS stated it (ISO 8601). */
  time: string;
  /** The commit's revision and CID. */
  rev: string;
  commit: string;
  /** The verified ops of this commit that passed the collection filter, in commit order. */
  ops: FirehoseOp[];
}

export interface SubscribeFirehoseOptions {
  /** PDS or relay base URL; http(s):// is turned into ws(s)://. */
  service: string;
  /** NSIDs, or prefixes written as "dev.cocore.*". Commits with no matching op are skipped. */
  filterCollections?: string[];
  /** Resume after this seq (0 replays everything the service still holds); default: live only. */
  cursor?: number;
  idResolver: IdResolver;
  /**
   * Called once per commit, in order, never concurrently; the next commit waits for the returned
   * promise. A throw is reported to onError and the stream moves on (the cursor still advances),
   * so handle failures inside if you need at-least-once processing.
   */
  onEvent(evt: FirehoseEvent): void | Promise<void>;
  /** Verification, parse, connection and handler errors. Default: one line on stderr. */
  onError?(err: Error): void;
}

export interface FirehoseSubscription {
  /** seq of the last commit handed to onEvent (or the starting cursor); persist it to resume. */
  readonly cursor: number | undefined;
  /** Stops the subscription. Ops not yet handed to onEvent are dropped (the cursor excludes them). */
  close(): Promise<void>;
}

export function toWebSocketUrl(service: string): string {
  return service.replace(/^http(s?):\/\//i, (_m, s: string) => `ws${s}://`).replace(/\/+$/, "");
}

export function subscribeFirehose(opts: SubscribeFirehoseOptions): FirehoseSubscription {
  const onError =
    opts.onError ??
    ((err: Error) => {
      const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
      process.stderr.write(`firehose ${opts.service}: ${err.message}${cause}\n`);
    });
  let cursor = opts.cursor;
  let closed = false;
  let pending: FirehoseEvent | undefined;
  let flushTimer: NodeJS.Immediate | undefined;
  let delivering: Promise<void> = Promise.resolve();

  // Hands the buffered commit to onEvent, after any delivery still running.
  const flush = (): Promise<void> => {
    if (flushTimer) clearImmediate(flushTimer);
    flushTimer = undefined;
    const evt = pending;
    pending = undefined;
    if (!evt) return delivering;
    delivering = delivering.then(async () => {
      if (closed) return;
      try {
        await opts.onEvent(evt);
      } catch (err) {
        onError(new Error(`firehose event handler failed at seq ${evt.seq}`, { cause: err }));
      }
      cursor = evt.seq;
    });
    return delivering;
  };

  const handleEvent = async (evt: Event): Promise<void> => {
    if (closed || !isCommitEvt(evt)) return;
    // A new seq means the previous commit is complete: deliver it before buffering this one, so
    // that a slow onEvent holds back the stream instead of queueing without bound.
    if (pending && pending.seq !== evt.seq) await flush();
    pending ??= {
      seq: evt.seq,
      did: evt.did,
      time: evt.time,
      rev: evt.rev,
      commit: evt.commit.toString(),
      ops: [],
    };
    pending.ops.push(toOp(evt));
    // The Firehose delivers all ops of one commit without yielding to the event loop, so by the
    // time this fires the commit is complete; it covers the last commit before a quiet period.
    if (flushTimer) clearImmediate(flushTimer);
    flushTimer = setImmediate(() => void flush());
  };

  const firehose = new Firehose({
    service: toWebSocketUrl(opts.service),
    idResolver: opts.idResolver,
    handleEvent,
    onError,
    getCursor: () => cursor,
    filterCollections: opts.filterCollections,
    // .test handles cannot be resolved over DNS/HTTPS; and we do not emit identity events anyway.
    unauthenticatedHandles: true,
    excludeIdentity: true,
    excludeAccount: true,
    excludeSync: true,
    subscriptionReconnectDelay: 1000,
  });
  const running = firehose.start();

  return {
    get cursor() {
      return cursor;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (flushTimer) clearImmediate(flushTimer);
      pending = undefined;
      await firehose.destroy();
      await running;
      await delivering;
    },
  };
}

function isCommitEvt(evt: Event): evt is CommitEvt {
  return evt.event === "create" || evt.event === "update" || evt.event === "delete";
}

function toOp(evt: CommitEvt): FirehoseOp {
  const base = { action: evt.event, collection: evt.collection, rkey: evt.rkey, uri: evt.uri.toString() };
  if (evt.event === "delete") return base;
  return { ...base, cid: evt.cid.toString(), record: evt.record };
}
