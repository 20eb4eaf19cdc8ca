// at:// URIs of records: the repo's DID, the collection and the record key. One parser for every
// package, so that a URI means the same thing to the exchange, the auditor, the SDK and the console.

export interface AtUriParts {
  did: string;
  collection: string;
  rkey: string;
}

/** The parts of a record URI, or undefined when `uri` is not one (a repo alone, a collection, a query). */
export function parseAtUri(uri: string | undefined): AtUriParts | undefined {
  const m = uri === undefined ? null : /^at:\/\/([^/?#]+)\/([^/?#]+)\/([^/?#]+)$/.exec(uri);
  return m ? { did: m[1]!, collection: m[2]!, rkey: m[3]! } : undefined;
}
