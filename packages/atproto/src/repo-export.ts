// Whole-repo export: one getRepo CAR, verified against the DID's signing key. Much faster than
// paging listRecords or replaying the firehose, so backfills and audits use this.
import { AtpAgent } from "@atproto/api";
import { cborToLexRecord, readCarWithRoot, verifyRepo, type RepoRecordWithCid } from "@atproto/repo";
import { AtprotoError, wrapRequestError } from "./errors.ts";
import { resolveSigningKey, type IdResolver } from "./identity.ts";

/** A record value in lex (IPLD) form: links are CID objects, bytes are Uint8Array. */
export type LexRecord = RepoRecordWithCid["value"];

export interface ExportedRecord {
  collection: string;
  rkey: string;
  uri: string;
  cid: string;
  value: LexRecord;
}

export interface ExportedRepo {
  did: string;
  /** The signed commit's revision (TID). */
  rev: string;
  /** The signed commit's CID. */
  commit: string;
  records: ExportedRecord[];
}

export interface ExportRepoOptions {
  /** Resolves the DID's signing key; required, since an unverified export proves nothing. */
  idResolver: IdResolver;
  /** Keep only collections starting with this prefix (e.g. "dev.cocore."). */
  collectionPrefix?: string;
}

export async function exportRepo(serviceUrl: string, did: string, opts: ExportRepoOptions): Promise<ExportedRepo> {
  const agent = new AtpAgent({ service: serviceUrl });
  let car: Uint8Array;
  try {
    car = (await agent.com.atproto.sync.getRepo({ did })).data;
  } catch (err) {
    throw wrapRequestError(`getRepo ${did}`, serviceUrl, err);
  }
  let key = await resolveSigningKey(opts.idResolver, did);
  const { root, blocks } = await readCarWithRoot(car);
  let verified;
  try {
    verified = await verifyRepo(blocks, root, did, key);
  } catch (firstErr) {
    // A cached key may predate a rotation: retry once with a fresh DID document.
    const fresh = await resolveSigningKey(opts.idResolver, did, true);
    if (fresh === key) {
      throw new AtprotoError("repo_verification_failed", `repo of ${did} from ${serviceUrl} does not verify`, {
        cause: firstErr,
      });
    }
    key = fresh;
    try {
      verified = await verifyRepo(blocks, root, did, key);
    } catch (err) {
      throw new AtprotoError("repo_verification_failed", `repo of ${did} from ${serviceUrl} does not verify`, {
        cause: err,
      });
    }
  }
  const prefix = opts.collectionPrefix;
  const records: ExportedRecord[] = [];
  for (const c of verified.creates) {
    if (prefix && !c.collection.startsWith(prefix)) continue;
    const bytes = blocks.get(c.cid);
    if (!bytes) {
      throw new AtprotoError("repo_verification_failed", `record ${c.collection}/${c.rkey} of ${did} is missing`);
    }
    let value: LexRecord;
    try {
      value = cborToLexRecord(bytes);
    } catch (err) {
      throw new AtprotoError("repo_verification_failed", `record ${c.collection}/${c.rkey} of ${did} is not a record`, {
        cause: err,
      });
    }
    records.push({
      collection: c.collection,
      rkey: c.rkey,
      uri: `at://${did}/${c.collection}/${c.rkey}`,
      cid: c.cid.toString(),
      value,
    });
  }
  return { did, rev: verified.commit.rev, commit: verified.commit.cid.toString(), records };
}
