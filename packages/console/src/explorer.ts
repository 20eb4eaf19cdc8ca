// The explorer's reading of public records: a receipt gathered from the PDSes it points at and
// judged by the protocol core, beside what the exchange decided about it. Nothing here needs a
// session; anyone could compute the same verdicts from the same records.
import type { IdResolver, RecordEntry } from "@cocore/atproto";
import { ClientError, gatherReceiptBundle, publicRecordReader, verifyGathered, type RecordReader, type Settlement } from "@cocore/client";
import { NSID, parseAtUri } from "@cocore/protocol";
import { receiptChecks } from "./checks.ts";
import { ConsoleError } from "./errors.ts";
import type { ExplorerReceipt } from "../web/types.ts";

/** The exchange's public XRPC queries the explorer reads. */
export class PublicExchange {
  constructor(private readonly url: string) {}

  async get<T>(nsid: string, params: Record<string, string> = {}): Promise<T> {
    const qs = new URLSearchParams(params).toString();
    let res: Response;
    try {
      res = await fetch(`${this.url}/xrpc/${nsid}${qs ? `?${qs}` : ""}`, { signal: AbortSignal.timeout(15_000) });
    } catch {
      throw new ConsoleError(502, "exchange_unreachable", `The exchange at ${this.url} does not answer.`);
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      if (body.error === "NotFound") throw new ConsoleError(404, "not_found", String(body.message ?? "not found"));
      throw new ConsoleError(502, "exchange_error", `The exchange answered ${res.status}: ${String(body.message ?? body.error ?? "")}`);
    }
    return body as T;
  }

  settlements(did: string | undefined, limit: number): Promise<{ settlements: Settlement[] }> {
    return this.get(NSID.listSettlements, { limit: String(limit), ...(did ? { did } : {}) });
  }

  policy(): Promise<{ uri: string; cid: string; policy: Record<string, unknown> }> {
    return this.get(NSID.getPolicy);
  }
}

/** Reads public records, remembering the ones that never change under a URI+CID (policies). */
export class ExplorerReader {
  readonly read: RecordReader;
  private readonly policies = new Map<string, Promise<RecordEntry | null>>();

  constructor(idResolver: IdResolver, readonly exchange: PublicExchange) {
    this.read = publicRecordReader(idResolver);
  }

  /** The policy a settlement record names, else the exchange's current one. */
  async policyFor(settlementUri: string | undefined): Promise<RecordEntry | undefined> {
    const settlement = settlementUri ? await this.read(settlementUri).catch(() => null) : null;
    const ref = settlement?.value.policy as { uri?: string; cid?: string } | undefined;
    if (typeof ref?.uri === "string" && typeof ref.cid === "string") {
      const key = `${ref.uri} ${ref.cid}`;
      let p = this.policies.get(key);
      if (!p) {
        p = this.read(ref.uri).then((r) => (r && r.cid === ref.cid ? r : null));
        this.policies.set(key, p);
      }
      const rec = await p;
      if (rec) return rec;
    }
    const now = await this.exchange.policy();
    return { uri: now.uri, cid: now.cid, value: now.policy };
  }

  /** One receipt, gathered and judged; a receipt that cannot be gathered says why. */
  async receipt(uri: string, settlement?: Settlement): Promise<ExplorerReceipt> {
    const parsed = parseAtUri(uri);
    if (!parsed || parsed.collection !== NSID.receipt) throw new ConsoleError(400, "invalid_uri", `${uri} is not a receipt URI.`);
    const [policy, decided] = await Promise.all([
      this.policyFor(settlement?.uri),
      this.exchange.get<{ status: string; findings: Array<{ code: string; message: string }> }>(NSID.verifyReceipt, { uri }).catch(() => undefined),
    ]);
    const base = {
      uri,
      provider: parsed.did,
      ...(settlement ? { settlement: { uri: settlement.uri, amountCharged: settlement.amountCharged, providerPayout: settlement.providerPayout, exchangeFee: settlement.exchangeFee, settledAt: settlement.settledAt } } : {}),
      ...(decided ? { exchange: { status: decided.status, findings: decided.findings } } : {}),
    };
    try {
      const g = await gatherReceiptBundle(this.read, uri, policy ? { policy } : {});
      const verdict = verifyGathered(g, typeof policy?.value.exchange === "string" ? policy.value.exchange : undefined);
      const r = g.bundle.receipt.value;
      const price = r.price as { amount: number; currency: string } | undefined;
      const tokens = r.tokens as { in: number; out: number } | undefined;
      return {
        ...base,
        ...(typeof r.requester === "string" ? { requester: r.requester } : {}),
        job: g.sources.job,
        ...(typeof r.model === "string" ? { model: r.model } : {}),
        ...(tokens ? { tokens: { in: tokens.in, out: tokens.out } } : {}),
        ...(price ? { price: { amount: price.amount, currency: price.currency } } : {}),
        ...(typeof r.completedAt === "string" ? { completedAt: r.completedAt } : {}),
        ...(r.proBono === true ? { proBono: true } : {}),
        verdict: { ok: verdict.ok, checks: receiptChecks(verdict.findings) },
        records: { ...g.sources },
        missing: g.missing,
      };
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      return { ...base, verdict: { ok: false, checks: [] }, records: { receipt: uri }, missing: [], error: { code: err.code, message: err.message } };
    }
  }
}

/** Runs `f` over `items` with at most `n` at once, keeping their order. */
export async function mapLimited<T, R>(items: readonly T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}
