// Every XRPC input of the exchange, fuzzed over HTTP against a real exchange: random and mutated
// parameters and bodies for each method, from an anonymous caller, a member and the exchange's
// matchmaker. Whatever arrives, the answer is a JSON error with a stable name (never a 500, never
// a stack trace), and a refused call changes nothing in the ledger's tables.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createServiceJwt } from "@cocore/atproto";
import fc from "fast-check";
import { NSID } from "@cocore/protocol";
import { openLedgerDb, startExchange, type Exchange, type LedgerDb } from "../src/index.ts";
import { databaseFor, member, publishJob, startLocalNetwork, T0, tempDir, type LocalNetwork, type Member } from "./support.ts";

const RUNS = 60;
const LEDGER_TABLES = ["accounts", "holds", "nonces", "claims", "budgets", "transfers", "outbox"] as const;

/** Strings that have broken parsers before: numbers that are not, separators, URIs almost right. */
const nasty = fc.constantFrom(
  "", "0", "-1", "1e309", "NaN", "101", "9007199254740993", "1.5", "a|b", "|", "\u0000", "%", "at://", "at://did:plc:x/dev.cocore.compute.job/",
  "did:plc:", "did:web:localhost", "hold:", "TOK", "2026-13-45T99:99:99Z", "x".repeat(5000),
);
const value = fc.oneof(nasty, fc.string(), fc.string({ unit: "binary", maxLength: 40 }));
const params = fc.dictionary(fc.constantFrom("did", "limit", "cursor", "uri", "extra"), value, { maxKeys: 4 });

/** `base` with one field (at any depth) replaced by random JSON, or removed. */
function mutated(base: Record<string, unknown>): fc.Arbitrary<unknown> {
  const paths: string[][] = [];
  const walk = (v: unknown, p: string[]) => {
    if (p.length > 0) paths.push(p);
    if (v && typeof v === "object") for (const [k, c] of Object.entries(v)) walk(c, [...p, k]);
  };
  walk(base, []);
  // Mostly a value of the right type (so that many calls pass the lexicon check and reach the
  // handler's own rules), sometimes any JSON, sometimes nothing.
  const replacement = fc.oneof(
    { weight: 3, arbitrary: fc.oneof(nasty, fc.string()) },
    { weight: 1, arbitrary: fc.integer() },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  return fc.record({ path: fc.constantFrom(...paths), replacement }).map(({ path, replacement }) => {
    const copy = structuredClone(base) as Record<string, unknown>;
    let at = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
    if (replacement === undefined) delete at[path.at(-1)!];
    else at[path.at(-1)!] = replacement;
    return copy;
  });
}

describe("exchange XRPC inputs under fuzzing", () => {
  let net: LocalNetwork;
  let ex: Exchange;
  let mm: Member;
  let carol: Member;
  let validAdmit: Record<string, unknown>;
  let reader: LedgerDb;
  let cleanup: () => Promise<void>;

  before(async () => {
    net = await startLocalNetwork();
    const dir = tempDir();
    const db = await databaseFor("sqlite", dir.path);
    mm = await member(net, "mm");
    carol = await member(net, "carol");
    const account = await net.createAccount(`ex${randomBytes(4).toString("hex")}`);
    ex = await startExchange({
      db: db.url, pdsUrl: net.pdsUrl, plcUrl: net.plcUrl, handle: account.handle, password: account.password, stateDir: dir.path,
      schedulerIntervalMs: 0, publishIntervalMs: 50, now: () => T0, matchmakers: [mm.did], log: () => {},
    });
    // A second connection to the same file, to see what the exchange committed.
    reader = await openLedgerDb(db.url);
    const j = await publishJob(carol, ex.did, { ceiling: 5000 });
    validAdmit = { job: { uri: j.job.uri, cid: j.job.cid }, requester: carol.did, priceCeiling: { amount: 5000, currency: "TOK" }, expiresAt: j.expiresAt, provider: mm.did, machineKey: "zQ3sh" };
    cleanup = async () => {
      await reader.close();
      await ex.close();
      await db.drop();
      dir.remove();
      await net.close();
    };
  });
  after(async () => {
    await cleanup?.();
  });

  type Caller = "anonymous" | "member" | "matchmaker";
  async function token(caller: Caller, lxm: string): Promise<string | undefined> {
    if (caller === "anonymous") return undefined;
    const who = caller === "member" ? carol : mm;
    return createServiceJwt({ issuerDid: who.did, audienceDid: ex.did, lxm, keypair: await net.signingKeypair(who.did), expiresInSeconds: 60 });
  }

  async function snapshot(): Promise<string> {
    const out: Record<string, unknown> = {};
    for (const t of LEDGER_TABLES) {
      const rows = (await reader.db.selectFrom(t).selectAll().execute()) as Record<string, unknown>[];
      // The publisher fills in where each record went, in the background: not a ledger change.
      out[t] = rows.map(({ published_uri: _u, published_cid: _c, ...rest }) => rest);
    }
    return JSON.stringify(out);
  }

  /** What the fuzzed calls got back, per method: `200` or the error name. */
  const seen = new Map<string, Set<string>>();

  /** One call; asserts the answer's shape and returns its status. */
  async function call(method: string, init: { params?: Record<string, string>; body?: string; contentType?: string; caller: Caller }): Promise<number> {
    const qs = init.params ? `?${new URLSearchParams(init.params).toString()}` : "";
    const auth = await token(init.caller, method);
    const res = await fetch(`${ex.url}/xrpc/${method}${qs}`, {
      method: init.body === undefined ? "GET" : "POST",
      headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(init.body === undefined ? {} : { "content-type": init.contentType ?? "application/json" }) },
      ...(init.body === undefined ? {} : { body: init.body }),
    });
    const text = await res.text();
    const what = `${method}${qs} ${init.body?.slice(0, 200) ?? ""} → ${res.status} ${text.slice(0, 300)}`;
    assert.ok(res.status < 500, `a server error: ${what}`);
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    (seen.get(method) ?? seen.set(method, new Set()).get(method)!).add(res.status === 200 ? "200" : String(body.error));
    if (res.status >= 400) {
      assert.equal(typeof body.error, "string", `an error without a name: ${what}`);
      assert.match(body.error as string, /^[A-Za-z]+$/, what);
      assert.ok(body.message === undefined || (typeof body.message === "string" && !/\n\s+at /.test(body.message)), `a stack trace: ${what}`);
    }
    return res.status;
  }

  const callers = fc.constantFrom<Caller>("anonymous", "member", "matchmaker");

  for (const method of [NSID.getBalance, NSID.listHistory, NSID.getPatronage, NSID.verifyReceipt, NSID.listSettlements, NSID.getPolicy]) {
    test(`${method}: random parameters`, async () => {
      await fc.assert(
        fc.asyncProperty(params, callers, async (p, caller) => {
          await call(method, { params: p, caller });
        }),
        { numRuns: RUNS },
      );
    });
  }

  for (const method of [NSID.admitJob, NSID.releaseHold]) {
    test(`${method}: random and mutated bodies change nothing when refused`, async () => {
      const validRelease = { holdKey: `hold:${(validAdmit.job as { uri: string }).uri}`, job: validAdmit.job, reason: "fuzz" };
      const base = method === NSID.admitJob ? validAdmit : validRelease;
      const body = fc.oneof(
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) ?? "null", contentType: "application/json" })) },
        { weight: 3, arbitrary: mutated(base).map((v) => ({ text: JSON.stringify(v), contentType: "application/json" })) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ text: Buffer.from(b).toString("latin1"), contentType: "application/json" })) },
        { weight: 1, arbitrary: fc.constant({ text: JSON.stringify(base), contentType: "text/plain" }) },
        { weight: 1, arbitrary: fc.constant({ text: JSON.stringify({ ...base, padding: "x".repeat(100_000) }), contentType: "application/json" }) },
      );
      await fc.assert(
        fc.asyncProperty(body, callers, async (b, caller) => {
          const before = await snapshot();
          const status = await call(method, { body: b.text, contentType: b.contentType, caller });
          if (status !== 200) assert.equal(await snapshot(), before, `a refused ${method} (${status}) changed the ledger: ${b.text.slice(0, 200)}`);
        }),
        {
          numRuns: RUNS * 2,
          // Each outcome below once for certain, whatever the random draw: the valid body from each
          // caller, a body that is not JSON, one the lexicon refuses, one too large.
          examples: [
            [{ text: JSON.stringify(base), contentType: "application/json" }, "anonymous"],
            [{ text: JSON.stringify(base), contentType: "application/json" }, "member"],
            [{ text: JSON.stringify(base), contentType: "application/json" }, "matchmaker"],
            [{ text: "{", contentType: "application/json" }, "matchmaker"],
            [{ text: "{}", contentType: "application/json" }, "matchmaker"],
            [{ text: JSON.stringify({ ...base, padding: "x".repeat(100_000) }), contentType: "application/json" }, "matchmaker"],
          ],
        },
      );
      // The fuzzing reached the handler (not only the lexicon check and auth in front of it).
      const got = seen.get(method)!;
      for (const name of ["AuthRequired", "Forbidden", "InvalidRequest", "InvalidJson", "PayloadTooLarge"]) assert.ok(got.has(name), `${method}: no ${name} among ${[...got].join(", ")}`);
      assert.ok(got.has("200") || got.has("InvalidJob"), `${method}: no call reached the handler (${[...got].join(", ")})`);
    });
  }

  test("the exchange still answers a valid call after the fuzzing", async () => {
    assert.equal(await call(NSID.getPolicy, { caller: "anonymous" }), 200);
  });
});
