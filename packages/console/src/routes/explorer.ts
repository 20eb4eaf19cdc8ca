// The explorer: receipts and settlements by DID (or handle), job or receipt URI, each with the
// protocol core's verdict; and the exchange's policy, treasury and patronage periods. Public:
// everything shown is a public record or the exchange's public answer.
import { NSID, parseAtUri } from "@cocore/protocol";
import type { Route, RouteContext } from "../context.ts";
import { ConsoleError } from "../errors.ts";
import { ExplorerReader, mapLimited, PublicExchange } from "../explorer.ts";
import { policySummary } from "./ledger-view.ts";
import type { ExplorerExchange, ExplorerResult, PatronageNow } from "../../web/types.ts";

/** Receipts judged per member query (each is a handful of record reads). */
const MEMBER_RECEIPTS = 20;
/** Settlements of the requester searched for a job's receipts. */
const JOB_SEARCH = 100;
const PARALLEL = 6;

const readers = new WeakMap<RouteContext["s"], ExplorerReader>();
function readerOf(c: RouteContext): ExplorerReader {
  let r = readers.get(c.s);
  if (!r) {
    r = new ExplorerReader(c.s.idResolver, new PublicExchange(c.s.exchangeUrl));
    readers.set(c.s, r);
  }
  return r;
}

async function didOf(c: RouteContext, q: string): Promise<string> {
  if (q.startsWith("did:")) return q;
  const handle = q.replace(/^@/, "").toLowerCase();
  if (!/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/.test(handle)) {
    throw new ConsoleError(400, "invalid_query", "Search for a DID, a handle, or a job, receipt or settlement URI (at://…).");
  }
  const did = c.s.handleResolver
    ? await fetch(`${c.s.handleResolver}/xrpc/com.atproto.identity.resolveHandle?handle=${encodeURIComponent(handle)}`).then(async (r) => (r.ok ? ((await r.json()) as { did?: string }).did : undefined), () => undefined)
    : await c.s.idResolver.handle.resolve(handle).catch(() => undefined);
  if (!did) throw new ConsoleError(404, "unknown_handle", `No account has the handle ${handle}.`);
  return did;
}

async function search(c: RouteContext, q: string): Promise<ExplorerResult> {
  const r = readerOf(c);
  if (!q.startsWith("at://")) {
    const did = await didOf(c, q);
    const { settlements } = await r.exchange.settlements(did, MEMBER_RECEIPTS);
    return { kind: "member", did, receipts: await mapLimited(settlements, PARALLEL, (s) => r.receipt(s.receipt, s)) };
  }
  const p = parseAtUri(q);
  if (!p) throw new ConsoleError(400, "invalid_uri", `${q} is not a record URI (at://did/collection/rkey).`);
  if (p.collection === NSID.receipt) {
    const { settlements } = await r.exchange.settlements(p.did, 100);
    return { kind: "receipt", receipt: await r.receipt(q, settlements.find((s) => s.receipt === q)) };
  }
  if (p.collection === NSID.settlement) {
    const rec = await r.read(q);
    const receipt = (rec?.value.receipt as { uri?: unknown } | undefined)?.uri;
    if (typeof receipt !== "string") throw new ConsoleError(404, "not_found", `No settlement at ${q}.`);
    const { settlements } = await r.exchange.settlements(undefined, 100);
    return { kind: "receipt", receipt: await r.receipt(receipt, settlements.find((s) => s.uri === q)) };
  }
  if (p.collection === NSID.job) {
    // Receipts live with their providers: find the job's among the requester's settlements.
    const { settlements } = await r.exchange.settlements(p.did, JOB_SEARCH);
    const jobs = await mapLimited(settlements, PARALLEL, async (s) => ((await r.read(s.receipt).catch(() => null))?.value.job as { uri?: unknown } | undefined)?.uri);
    const mine = settlements.filter((_, i) => jobs[i] === q);
    return { kind: "job", job: q, searched: settlements.length, receipts: await mapLimited(mine, PARALLEL, (s) => r.receipt(s.receipt, s)) };
  }
  throw new ConsoleError(400, "unsupported_collection", `The explorer shows jobs, receipts and settlements, not ${p.collection} records.`);
}

export const explorerRoutes: Route[] = [
  {
    method: "GET",
    path: "/api/explorer",
    async handler(c): Promise<ExplorerResult> {
      const q = (c.url.searchParams.get("q") ?? "").trim();
      if (q === "" || q.length > 1024) throw new ConsoleError(400, "invalid_query", "Search for a DID, a handle, or a job, receipt or settlement URI (at://…).");
      return search(c, q);
    },
  },
  {
    method: "GET",
    path: "/api/explorer/exchange",
    async handler(c): Promise<ExplorerExchange> {
      const ex = readerOf(c).exchange;
      const [policy, patronage] = await Promise.all([ex.policy(), ex.get<Record<string, unknown>>(NSID.getPatronage)]);
      const summary = policySummary({ uri: policy.uri, value: policy.policy });
      return {
        did: summary.exchange,
        policy: summary,
        treasury: String(patronage.treasury ?? summary.treasury),
        treasuryBalance: Number(patronage.treasuryBalance ?? 0),
        ...(patronage.current ? { current: patronage.current as PatronageNow } : {}),
        periods: (patronage.periods ?? []) as ExplorerExchange["periods"],
      };
    },
  },
];
