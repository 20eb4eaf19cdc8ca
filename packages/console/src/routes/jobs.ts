// Jobs: the member's job records (their own repo), each joined with what the public record says
// happened: the provider's receipt (its repo), the exchange's settlement or rejection, and, for
// jobs this console dispatched, the matchmaker's refusal when there was one.
import { listRecords, resolvePds, type RecordEntry } from "@cocore/atproto";
import { NSID } from "@cocore/protocol";
import type { Route } from "../context.ts";
import type { JobRow } from "../../web/types.ts";

const LIMIT = 50;

export const jobRoutes: Route[] = [
  {
    method: "GET",
    path: "/api/jobs",
    async handler(c) {
      const { did } = c.member();
      const client = await c.s.clientFor(did);
      const jobs = await listRecords(client.agent, did, NSID.job, { limit: LIMIT, reverse: false });
      const providers = new Set(jobs.flatMap((j) => (Array.isArray(j.value.acceptedProviders) ? (j.value.acceptedProviders as string[]) : [])));
      const receipts = new Map<string, RecordEntry & { provider: string }>();
      await Promise.all(
        [...providers].map(async (p) => {
          try {
            const pds = await resolvePds(c.s.idResolver, p);
            for (const r of await listRecords(pds, p, NSID.receipt, { limit: 200, reverse: false })) {
              const job = (r.value.job as { uri?: string } | undefined)?.uri;
              if (job && r.value.requester === did) receipts.set(job, { ...r, provider: p });
            }
          } catch (err) {
            c.s.log(`receipts of ${p}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }),
      );
      const settlements = new Map((await client.settlements(did, 100)).map((s) => [s.receipt, s]));
      const outcomes = new Map(
        c.s.db.prepare<[string], { job_uri: string; status: string; code: string | null; message: string | null }>("SELECT job_uri, status, code, message FROM job_outcome WHERE did = ?").all(did).map((o) => [o.job_uri, o]),
      );
      const now = Date.now();
      const rows: JobRow[] = await Promise.all(
        jobs.map(async (j): Promise<JobRow> => {
          const base = { uri: j.uri, model: String(j.value.model), createdAt: String(j.value.createdAt), expiresAt: String(j.value.expiresAt) };
          const r = receipts.get(j.uri);
          if (r) {
            const tokens = r.value.tokens as { in: number; out: number };
            const price = (r.value.price as { amount: number }).amount;
            const common = { ...base, provider: r.provider, tokens, price, receipt: r.uri };
            const s = settlements.get(r.uri);
            if (s) return { ...common, status: "settled", settlement: s.uri };
            const v = await receiptStatus(c.s.exchangeUrl, r.uri);
            if (v?.status === "rejected") return { ...common, status: "rejected", code: v.findings.map((f) => f.code).join(", "), reason: v.findings.map((f) => f.message).join("; ") };
            return { ...common, status: "settling" };
          }
          const o = outcomes.get(j.uri);
          if (o && (o.status === "refused" || o.status === "cancelled")) return { ...base, status: o.status, ...(o.code ? { code: o.code } : {}), ...(o.message ? { reason: o.message } : {}) };
          return { ...base, status: Date.parse(base.expiresAt) < now ? "expired" : "running" };
        }),
      );
      rows.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      return { jobs: rows };
    },
  },
];

async function receiptStatus(exchangeUrl: string, uri: string): Promise<{ status: string; findings: Array<{ code: string; message: string }> } | undefined> {
  try {
    const res = await fetch(`${exchangeUrl}/xrpc/${NSID.verifyReceipt}?${new URLSearchParams({ uri })}`, { signal: AbortSignal.timeout(10_000) });
    return res.ok ? ((await res.json()) as { status: string; findings: Array<{ code: string; message: string }> }) : undefined;
  } catch {
    return undefined;
  }
}
