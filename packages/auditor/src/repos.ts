// Fetching public repos for the audit: every repo comes as one getRepo CAR verified against its
// DID's signing key (exportRepo), so nothing the auditor reads can have been altered in transit or
// by a PDS that does not hold the DID's key.
import { AtprotoError, exportRepo, resolvePds, type ExportedRecord, type IdResolver } from "@cocore/atproto";

export interface RepoSource {
  idResolver: IdResolver;
  /** PDSes to try first, in order; the DID document's PDS is tried after them. */
  pdsUrls: readonly string[];
}

export interface FetchedRepo {
  did: string;
  records: ExportedRecord[];
  /** The same records by at-uri. */
  byUri: Map<string, ExportedRecord>;
}

/** A repo could not be fetched or did not verify anywhere; `reasons` has one line per place tried. */
export class RepoUnavailable extends Error {
  constructor(
    readonly did: string,
    readonly reasons: string[],
    readonly unreachable: boolean,
  ) {
    super(`repo of ${did} unavailable: ${reasons.join("; ") || "no PDS to ask"}`);
  }
}

export async function fetchRepo(source: RepoSource, did: string): Promise<FetchedRepo> {
  const candidates = [...source.pdsUrls];
  const reasons: string[] = [];
  let unreachable = true;
  let resolved: string | undefined;
  try {
    resolved = await resolvePds(source.idResolver, did);
  } catch (err) {
    reasons.push(err instanceof Error ? err.message : String(err));
  }
  if (resolved && !candidates.some((u) => sameUrl(u, resolved!))) candidates.push(resolved);
  for (const url of candidates) {
    try {
      const repo = await exportRepo(url, did, { idResolver: source.idResolver, collectionPrefix: "dev.cocore." });
      return { did, records: repo.records, byUri: new Map(repo.records.map((r) => [r.uri, r])) };
    } catch (err) {
      if (err instanceof AtprotoError && err.code !== "service_unreachable") unreachable = false;
      reasons.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new RepoUnavailable(did, reasons, unreachable);
}

function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
