import { IdResolver, MemoryCache } from "@atproto/identity";
import { AtprotoError } from "./errors.ts";

export type { IdResolver } from "@atproto/identity";

export interface IdResolverOptions {
  /** Milliseconds before a cached DID document is re-fetched in the background (default 1 h). */
  staleTtlMs?: number;
  /** Milliseconds after which a cached DID document is no longer used (default 1 day). */
  maxTtlMs?: number;
  /** Resolver timeout in ms (default 3000). */
  timeoutMs?: number;
}

/**
 * An IdResolver for a PLC directory (local or public).
 * - plain `fetch`: the default SSRF-guarded fetch refuses http:// and localhost, i.e. our local PLC;
 * - an in-memory DID cache: without one every firehose commit re-resolves its DID over HTTP and an
 *   indexer falls seconds behind. Signature failures force a refresh, so key rotation still works.
 */
export function makeIdResolver(plcUrl: string, opts: IdResolverOptions = {}): IdResolver {
  return new IdResolver({
    plcUrl,
    timeout: opts.timeoutMs ?? 3000,
    didCache: new MemoryCache(opts.staleTtlMs, opts.maxTtlMs),
    fetch: globalThis.fetch,
  });
}

/** The DID's current atproto signing key as a `did:key:…` string. */
export async function resolveSigningKey(idResolver: IdResolver, did: string, forceRefresh = false): Promise<string> {
  try {
    return await idResolver.did.resolveAtprotoKey(did, forceRefresh);
  } catch (err) {
    throw new AtprotoError("identity_unresolved", `cannot resolve the signing key of ${did}`, { cause: err });
  }
}

/** The PDS endpoint named in the DID document. */
export async function resolvePds(idResolver: IdResolver, did: string): Promise<string> {
  try {
    return (await idResolver.did.resolveAtprotoData(did)).pds;
  } catch (err) {
    throw new AtprotoError("identity_unresolved", `cannot resolve the PDS of ${did}`, { cause: err });
  }
}
