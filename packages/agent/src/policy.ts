// The token rate receipts are priced at: the settling exchange's active exchangePolicy.tokenRate
// (seed 003: priceList is informational, the exchange's rate is canonical). Without a known
// exchange, PROTOCOL.md §2's TOK rate: 1,000,000 per MTok in and out (price = in + out).
import { listRecords, makeIdResolver, resolvePds, type RecordEntry } from "@cocore/atproto";

export const POLICY_COLLECTION = "dev.cocore.compute.exchangePolicy";

export interface TokenRate {
  inputPricePerMTok: number;
  outputPricePerMTok: number;
  currency: string;
}

export const DEFAULT_TOKEN_RATE: TokenRate = { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" };

export interface ActivePolicy {
  uri: string;
  cid: string;
  value: Record<string, unknown>;
  tokenRate: TokenRate;
}

function asRate(v: unknown): TokenRate | undefined {
  const r = v as Partial<TokenRate> | undefined;
  if (!r || !Number.isSafeInteger(r.inputPricePerMTok) || !Number.isSafeInteger(r.outputPricePerMTok) || typeof r.currency !== "string") return undefined;
  return { inputPricePerMTok: r.inputPricePerMTok!, outputPricePerMTok: r.outputPricePerMTok!, currency: r.currency };
}

/** The newest policy that is not flipped to active:false and names this exchange. */
export function pickActivePolicy(records: RecordEntry[], exchangeDid: string): ActivePolicy | undefined {
  const candidates = records
    .filter((r) => r.value.active !== false && (r.value.exchange === undefined || r.value.exchange === exchangeDid))
    .sort((a, b) => String(b.value.createdAt ?? "").localeCompare(String(a.value.createdAt ?? "")));
  for (const c of candidates) {
    const rate = asRate(c.value.tokenRate);
    // A policy without a tokenRate means the TOK default (PROTOCOL.md §2).
    return { uri: c.uri, cid: c.cid, value: c.value, tokenRate: rate ?? DEFAULT_TOKEN_RATE };
  }
  return undefined;
}

export interface PolicySourceOptions {
  /** PDS used when the exchange's own PDS cannot be resolved (on a local network: the same PDS). */
  fallbackPds?: string;
  /** PLC directory to resolve the exchange's PDS. */
  plcUrl?: string;
  ttlMs?: number;
}

/** Cached per exchange DID; a failed fetch keeps the last known rate (or the default). */
export class PolicySource {
  private cache = new Map<string, { at: number; policy: ActivePolicy | undefined }>();
  constructor(private readonly opts: PolicySourceOptions) {}

  async fetch(exchangeDid: string): Promise<ActivePolicy | undefined> {
    let pds = this.opts.fallbackPds;
    if (this.opts.plcUrl) {
      try {
        pds = await resolvePds(makeIdResolver(this.opts.plcUrl), exchangeDid);
      } catch {
        // fall back to the configured PDS
      }
    }
    // No PDS known (a paired machine without a PDS hint, no PLC): rateFor keeps the default.
    if (!pds) throw new Error(`no PDS to read ${exchangeDid}'s policy from`);
    const records = await listRecords(pds, exchangeDid, POLICY_COLLECTION);
    return pickActivePolicy(records, exchangeDid);
  }

  async rateFor(exchangeDid: string | undefined, now = Date.now()): Promise<TokenRate> {
    if (!exchangeDid) return DEFAULT_TOKEN_RATE;
    const hit = this.cache.get(exchangeDid);
    if (hit && now - hit.at < (this.opts.ttlMs ?? 5 * 60_000)) return hit.policy?.tokenRate ?? DEFAULT_TOKEN_RATE;
    try {
      const policy = await this.fetch(exchangeDid);
      this.cache.set(exchangeDid, { at: now, policy });
      return policy?.tokenRate ?? DEFAULT_TOKEN_RATE;
    } catch {
      // Keep what we knew and do not ask again for a while: a job path must not pay a failing
      // network round trip per job (an unknown exchange, a PDS that is down).
      const policy = hit?.policy;
      this.cache.set(exchangeDid, { at: now - (this.opts.ttlMs ?? 5 * 60_000) + 30_000, policy });
      return policy?.tokenRate ?? DEFAULT_TOKEN_RATE;
    }
  }
}
