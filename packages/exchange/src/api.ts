// The exchange's XRPC surface (ARCHITECTURE.md "Network interfaces"). Methods about one member
// take atproto service auth: a JWT signed by the caller's repo key, aud = this exchange's DID,
// lxm = the method, each jti accepted once (remembered where `replayGuard` keeps it: the exchange
// gives its database, seen-jtis.ts, so a restart does not forget).
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { AtprotoError, verifyServiceJwt, type IdResolver, type ReplayGuard } from "@cocore/atproto";
import { lexiconDocs, NSID, settlementKey } from "@cocore/protocol";
import { AuthRequiredError, createServer, ForbiddenError, InvalidRequestError, ResponseType, XRPCError, type MethodAuthContext } from "@atproto/xrpc-server";
import type { LexiconDoc } from "@atproto/lexicon";
import { sql } from "kysely";
import type { EngineContext } from "./context.ts";
import { patronageSummary } from "./api-patronage.ts";
import { toInt } from "./ints.ts";
import { AdmissionInputError, admitJob, releaseHold, touchMember, type AdmitInput, type ReleaseInput } from "./scheduler.ts";

export interface ApiOptions {
  ctx: EngineContext;
  idResolver: IdResolver;
  matchmakers: ReadonlySet<string>;
  /** Remembers the service-auth jtis already accepted (each token works once). */
  replayGuard: ReplayGuard;
  now: () => number;
  port: number;
  host: string;
}

type Caller = { credentials: { did: string | null } };

/** No method takes more than a few hundred bytes; this leaves room and refuses floods (413). */
const MAX_JSON_BYTES = 64 * 1024;

/**
 * Errors as a caller may rely on them: the body parser's own (a JSON SyntaxError, an entity too
 * large) would otherwise reach the caller under the JavaScript class name that threw them.
 */
function stableError(err: unknown): XRPCError {
  const e = XRPCError.fromError(err);
  if (e.type === ResponseType.PayloadTooLarge) return new XRPCError(ResponseType.PayloadTooLarge, `The request body is larger than ${MAX_JSON_BYTES} bytes.`, "PayloadTooLarge");
  if (e.error === "SyntaxError") return new InvalidRequestError("The request body is not valid JSON.", "InvalidJson");
  return e;
}

function bearer(req: MethodAuthContext["req"]): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== "string") return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1] : undefined;
}

export async function startApi(opts: ApiOptions): Promise<{ url: string; close(): Promise<void> }> {
  const { ctx } = opts;
  const guard = opts.replayGuard;
  const server = createServer(lexiconDocs as unknown as LexiconDoc[], { payload: { jsonLimit: MAX_JSON_BYTES }, errorParser: stableError });

  const authFor =
    (lxm: string, required: boolean) =>
    async ({ req }: MethodAuthContext): Promise<Caller> => {
      const jwt = bearer(req);
      if (!jwt) {
        if (required) throw new AuthRequiredError("service auth required", "AuthRequired");
        return { credentials: { did: null } };
      }
      try {
        const did = await verifyServiceJwt(jwt, { audienceDid: ctx.did, lxm, idResolver: opts.idResolver, replayGuard: guard });
        return { credentials: { did } };
      } catch (err) {
        if (err instanceof AtprotoError) throw new AuthRequiredError(err.message, "AuthRequired");
        throw err;
      }
    };
  const json = (body: unknown) => ({ encoding: "application/json", body: body as Record<string, unknown> });

  server.method(NSID.getBalance, {
    auth: authFor(NSID.getBalance, false),
    handler: async ({ params, auth }) => {
      const did = String(params.did);
      const caller = (auth as Caller).credentials.did;
      if (caller === did) await touchMember(ctx, did, opts.now());
      const row = await ctx.ldb.db.selectFrom("accounts").selectAll().where("did", "=", did).executeTakeFirst();
      const balance = row ? toInt(row.balance, "balance") : 0;
      const held = row ? toInt(row.held, "held") : 0;
      const refresh = ctx.policy.ledger.refresh;
      const last = row?.last_refresh_at ?? null;
      return json({
        did,
        balance,
        held,
        available: balance - held,
        granted: row?.granted_at != null,
        ...(last ? { lastRefreshAt: last } : {}),
        ...(last && refresh ? { nextRefreshAt: new Date(Date.parse(last) + refresh.cadenceMinutes * 60_000).toISOString() } : {}),
      });
    },
  });

  server.method(NSID.listHistory, {
    auth: authFor(NSID.listHistory, false),
    handler: async ({ params, auth }) => {
      const did = String(params.did);
      const limit = Math.min(100, Math.max(1, Number(params.limit ?? 50)));
      const self = (auth as Caller).credentials.did === did;
      let q = ctx.ldb.db
        .selectFrom("transfers")
        .selectAll()
        .where((eb) => eb.or([eb("to_did", "=", did), eb("from_did", "=", did)]))
        .orderBy("at", "desc")
        .orderBy("key", "desc")
        .limit(limit + 1);
      if (typeof params.cursor === "string" && params.cursor.includes("|")) {
        const [at, key] = params.cursor.split("|", 2) as [string, string];
        q = q.where((eb) => eb.or([eb("at", "<", at), eb.and([eb("at", "=", at), eb("key", "<", key)])]));
      }
      const rows = await q.execute();
      const page = rows.slice(0, limit);
      const records = await publishedFor(page);
      return json({
        movements: page.map((r) => ({
          key: r.key,
          kind: r.from_did === did && (r.kind === "payout" || r.kind === "fee") ? "charge" : r.kind,
          // The member sees both sides; the public summary names only the member's own side.
          ...(r.from_did !== null && (self || r.from_did === did) ? { from: r.from_did } : {}),
          ...(self || r.to_did === did ? { to: r.to_did } : {}),
          amount: toInt(r.amount, "amount"),
          at: r.at,
          ...(r.ref ? { ref: r.ref } : {}),
          ...(records.has(r.key) ? { record: records.get(r.key) } : {}),
        })),
        ...(rows.length > limit ? { cursor: `${page[page.length - 1]!.at}|${page[page.length - 1]!.key}` } : {}),
      });
    },
  });

  /** Per movement key, the public record the exchange publishes for it (its rkey is fixed when decided). */
  async function publishedFor(page: { key: string; ref: string | null; kind: string }[]): Promise<Map<string, string>> {
    const keyOf = (r: { key: string; ref: string | null }) => (r.ref ? settlementKey(r.ref) : r.key);
    const keys = [...new Set(page.map(keyOf))];
    if (keys.length === 0) return new Map();
    const out = await ctx.ldb.db.selectFrom("outbox").select(["key", "collection", "rkey"]).where("key", "in", keys).execute();
    const uri = new Map(out.map((o) => [o.key, `at://${ctx.did}/${o.collection}/${o.rkey}`]));
    return new Map(page.filter((r) => uri.has(keyOf(r))).map((r) => [r.key, uri.get(keyOf(r))!]));
  }

  server.method(NSID.admitJob, {
    auth: authFor(NSID.admitJob, true),
    handler: async ({ input, auth }) => {
      const caller = (auth as Caller).credentials.did;
      if (!caller || !opts.matchmakers.has(caller)) throw new ForbiddenError("only the exchange's matchmaker may admit jobs");
      try {
        return json(await admitJob(ctx, (input?.body ?? {}) as AdmitInput, opts.now()));
      } catch (err) {
        if (err instanceof AdmissionInputError) throw new InvalidRequestError(err.message, "InvalidJob");
        throw err;
      }
    },
  });

  server.method(NSID.releaseHold, {
    auth: authFor(NSID.releaseHold, true),
    handler: async ({ input, auth }) => {
      const caller = (auth as Caller).credentials.did;
      if (!caller || !opts.matchmakers.has(caller)) throw new ForbiddenError("only the exchange's matchmaker may release holds");
      try {
        return json(await releaseHold(ctx, (input?.body ?? {}) as ReleaseInput));
      } catch (err) {
        if (err instanceof AdmissionInputError) throw new InvalidRequestError(err.message, "InvalidJob");
        throw err;
      }
    },
  });

  server.method(NSID.getPolicy, {
    handler: () => json({ uri: ctx.policy.uri, cid: ctx.policy.cid, policy: ctx.policy.value }),
  });

  server.method(NSID.getPatronage, {
    handler: async ({ params }) => json(await patronageSummary(ctx, typeof params.did === "string" ? params.did : undefined, opts.now())),
  });

  server.method(NSID.verifyReceipt, {
    handler: async ({ params }) => {
      const uri = String(params.uri);
      const row = await ctx.ldb.db.selectFrom("receipts").selectAll().where("uri", "=", uri).executeTakeFirst();
      if (!row) throw new InvalidRequestError(`no receipt ${uri} seen by this exchange`, "NotFound");
      const findings = row.findings ? (JSON.parse(row.findings) as { code: string; message: string }[]) : [];
      return json({ ok: row.status === "settled", findings, status: row.status });
    },
  });

  server.method(NSID.listSettlements, {
    handler: async ({ params }) => {
      const limit = Math.min(100, Math.max(1, Number(params.limit ?? 50)));
      let q = ctx.ldb.db
        .selectFrom("receipts")
        .innerJoin("outbox", (join) => join.on(sql<boolean>`outbox.key = 'settlement:' || receipts.uri`))
        .select(["receipts.uri as receipt", "receipts.charged", "receipts.payout", "receipts.fee", "receipts.settled_at", "outbox.published_uri", "outbox.published_cid", "outbox.seq"])
        .where("receipts.status", "=", "settled")
        .where("outbox.published_uri", "is not", null)
        .orderBy("outbox.seq", "desc")
        .limit(limit + 1);
      if (typeof params.did === "string") {
        const did = params.did;
        q = q.where((eb) => eb.or([eb("receipts.requester", "=", did), eb("receipts.provider", "=", did)]));
      }
      if (typeof params.cursor === "string" && /^\d+$/.test(params.cursor)) q = q.where("outbox.seq", "<", Number(params.cursor));
      const rows = await q.execute();
      const page = rows.slice(0, limit);
      return json({
        settlements: page.map((r) => ({
          uri: r.published_uri!,
          cid: r.published_cid!,
          receipt: r.receipt,
          amountCharged: toInt(r.charged ?? 0, "charged"),
          providerPayout: toInt(r.payout ?? 0, "payout"),
          exchangeFee: toInt(r.fee ?? 0, "fee"),
          settledAt: r.settled_at!,
        })),
        ...(rows.length > limit ? { cursor: String(toInt(page[page.length - 1]!.seq, "seq")) } : {}),
      });
    },
  });

  const http: HttpServer = createHttpServer(server.router);
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const host = opts.host === "0.0.0.0" || opts.host === "::" ? "localhost" : opts.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections?.();
        http.close(() => resolve());
      }),
  };
}

export { XRPCError };
