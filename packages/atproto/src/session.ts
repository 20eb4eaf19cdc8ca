// Sessions and record CRUD over com.atproto.* via @atproto/api. Writes take lexicon JSON
// ({ "$link" }, { "$bytes" }) or lex values; reads come back in lex (IPLD) form (CID objects,
// Uint8Array), as from exportRepo and the firehose: `lexToJson` turns any of them into JSON.
import { Agent, AtpAgent } from "@atproto/api";
import { AtprotoError, describe, isNetworkFailure, isXrpcError, wrapRequestError } from "./errors.ts";

export type { Agent, AtpAgent } from "@atproto/api";

/** A record value as written: any JSON object; `$type` defaults to the collection. */
export type RecordValue = Record<string, unknown>;

export interface RecordRef {
  uri: string;
  cid: string;
}

export interface RecordEntry extends RecordRef {
  value: RecordValue;
}

/** Something to read public records with: a logged-in agent, or a service URL (no auth). */
export type ReadSource = Agent | string;

// Constructing an AtpAgent builds its lexicon registry (~5 ms of CPU on a small machine), so
// unauthenticated read agents are kept per service URL: a matchmaker confirms every job's record
// with one getRecord on the dispatch path.
const readAgents = new Map<string, Agent>();

function readAgent(source: ReadSource): Agent {
  if (typeof source !== "string") return source;
  let agent = readAgents.get(source);
  if (!agent) {
    if (readAgents.size >= 256) readAgents.delete(readAgents.keys().next().value!);
    agent = new AtpAgent({ service: source });
    readAgents.set(source, agent);
  }
  return agent;
}

function sourceName(source: ReadSource): string {
  if (typeof source === "string") return source;
  return source instanceof AtpAgent ? source.serviceUrl.toString() : "the PDS";
}

/**
 * Logs in with handle (or DID, or email) and password. Distinct error codes for an unreachable
 * PDS, an unknown account and a wrong password (the PDS answers both of the latter with the same
 * 401, so on failure we ask it whether the identifier exists).
 */
export async function login(service: string, identifier: string, password: string): Promise<AtpAgent> {
  const agent = new AtpAgent({ service });
  try {
    await agent.login({ identifier, password });
    return agent;
  } catch (err) {
    if (isNetworkFailure(err)) {
      throw new AtprotoError("service_unreachable", `cannot reach PDS at ${service}`, { cause: err });
    }
    if (isXrpcError(err) && /^Account(Takedown|Deactivated)$/.test(err.error)) {
      throw new AtprotoError("account_unavailable", `account ${identifier} is unavailable: ${err.message}`, {
        cause: err,
      });
    }
    if (isXrpcError(err) && err.status === 401) {
      const exists = await accountExists(agent, identifier);
      if (exists === false) {
        throw new AtprotoError("account_not_found", `no account ${identifier} on ${service}`, { cause: err });
      }
      throw new AtprotoError("invalid_password", `wrong password for ${identifier} on ${service}`, { cause: err });
    }
    throw new AtprotoError("login_failed", `login as ${identifier} failed: ${describe(err)}`, { cause: err });
  }
}

/** undefined when we cannot tell (e.g. an email identifier). */
async function accountExists(agent: AtpAgent, identifier: string): Promise<boolean | undefined> {
  try {
    if (identifier.startsWith("did:")) {
      await agent.com.atproto.repo.describeRepo({ repo: identifier });
    } else if (!identifier.includes("@")) {
      await agent.com.atproto.identity.resolveHandle({ handle: identifier });
    } else {
      return undefined;
    }
    return true;
  } catch (err) {
    if (isXrpcError(err) && err.status === 400) return false;
    return undefined;
  }
}

export interface WriteOptions {
  /** true: require a known lexicon and validate; false: skip; default: validate only known ones. */
  validate?: boolean;
}

export async function createRecord(
  agent: Agent,
  collection: string,
  value: RecordValue,
  opts: WriteOptions & { rkey?: string } = {},
): Promise<RecordRef> {
  try {
    const res = await agent.com.atproto.repo.createRecord({
      repo: agent.assertDid,
      collection,
      rkey: opts.rkey,
      record: value,
      validate: opts.validate,
    });
    return { uri: res.data.uri, cid: res.data.cid };
  } catch (err) {
    throw wrapRequestError(`createRecord ${collection}`, sourceName(agent), err);
  }
}

export async function putRecord(
  agent: Agent,
  collection: string,
  rkey: string,
  value: RecordValue,
  opts: WriteOptions & { swapRecord?: string | null } = {},
): Promise<RecordRef> {
  try {
    const res = await agent.com.atproto.repo.putRecord({
      repo: agent.assertDid,
      collection,
      rkey,
      record: value,
      validate: opts.validate,
      swapRecord: opts.swapRecord,
    });
    return { uri: res.data.uri, cid: res.data.cid };
  } catch (err) {
    throw wrapRequestError(`putRecord ${collection}/${rkey}`, sourceName(agent), err);
  }
}

export async function deleteRecord(agent: Agent, collection: string, rkey: string): Promise<void> {
  try {
    await agent.com.atproto.repo.deleteRecord({ repo: agent.assertDid, collection, rkey });
  } catch (err) {
    throw wrapRequestError(`deleteRecord ${collection}/${rkey}`, sourceName(agent), err);
  }
}

/** One record, or null when the repo has no such record. */
export async function getRecord(
  source: ReadSource,
  repo: string,
  collection: string,
  rkey: string,
): Promise<RecordEntry | null> {
  try {
    const res = await readAgent(source).com.atproto.repo.getRecord({ repo, collection, rkey });
    if (!res.data.cid) throw new AtprotoError("request_failed", `getRecord ${res.data.uri}: PDS returned no cid`);
    return { uri: res.data.uri, cid: res.data.cid, value: res.data.value };
  } catch (err) {
    if (isXrpcError(err) && err.status === 400) {
      if (err.error === "RecordNotFound" || /could not locate record/i.test(err.message)) return null;
    }
    throw wrapRequestError(`getRecord at://${repo}/${collection}/${rkey}`, sourceName(source), err);
  }
}

/**
 * Every record of a collection (oldest rkey first), paging 100 at a time. `limit` caps the total.
 */
export async function listRecords(
  source: ReadSource,
  repo: string,
  collection: string,
  opts: { limit?: number; reverse?: boolean } = {},
): Promise<RecordEntry[]> {
  const agent = readAgent(source);
  const out: RecordEntry[] = [];
  const max = opts.limit ?? Number.POSITIVE_INFINITY;
  let cursor: string | undefined;
  try {
    do {
      const res = await agent.com.atproto.repo.listRecords({
        repo,
        collection,
        limit: Math.min(100, max - out.length),
        cursor,
        reverse: opts.reverse ?? true,
      });
      for (const r of res.data.records) out.push({ uri: r.uri, cid: r.cid, value: r.value });
      cursor = res.data.records.length > 0 ? res.data.cursor : undefined;
    } while (cursor && out.length < max);
  } catch (err) {
    throw wrapRequestError(`listRecords ${repo}/${collection}`, sourceName(source), err);
  }
  return out;
}

export type WriteOp =
  | { action: "create"; collection: string; rkey?: string; value: RecordValue }
  | { action: "update"; collection: string; rkey: string; value: RecordValue }
  | { action: "delete"; collection: string; rkey: string };

export interface WriteResult {
  action: WriteOp["action"];
  /** Absent for deletes. */
  uri?: string;
  cid?: string;
}

/** The PDS refuses more than this many writes in one applyWrites call. */
export const MAX_WRITES_PER_COMMIT = 200;

/**
 * Applies writes in as few commits as the PDS allows (one commit per 200 writes): a commit costs
 * far more than a record, so batching is the way to write many records quickly. Each chunk is
 * atomic; chunks are not atomic with each other.
 */
export async function applyWrites(agent: Agent, writes: WriteOp[], opts: WriteOptions = {}): Promise<WriteResult[]> {
  const repo = agent.assertDid;
  const results: WriteResult[] = [];
  for (let i = 0; i < writes.length; i += MAX_WRITES_PER_COMMIT) {
    const chunk = writes.slice(i, i + MAX_WRITES_PER_COMMIT);
    let res;
    try {
      res = await agent.com.atproto.repo.applyWrites({
        repo,
        validate: opts.validate,
        writes: chunk.map((w) => {
          switch (w.action) {
            case "create":
              return { $type: "com.atproto.repo.applyWrites#create" as const, collection: w.collection, rkey: w.rkey, value: w.value };
            case "update":
              return { $type: "com.atproto.repo.applyWrites#update" as const, collection: w.collection, rkey: w.rkey, value: w.value };
            case "delete":
              return { $type: "com.atproto.repo.applyWrites#delete" as const, collection: w.collection, rkey: w.rkey };
          }
        }),
      });
    } catch (err) {
      throw wrapRequestError(`applyWrites (${chunk.length} writes)`, sourceName(agent), err);
    }
    const got = res.data.results ?? [];
    chunk.forEach((w, j) => {
      const r = got[j] as { uri?: string; cid?: string } | undefined;
      results.push(w.action === "delete" ? { action: w.action } : { action: w.action, uri: r?.uri, cid: r?.cid });
    });
  }
  return results;
}
