// Shared test setup: a local PLC+PDS network with an exchange account, members writing real,
// signed records, and a fresh database per test file on SQLite or PostgreSQL.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createRecord, lexToJson, nextTid, startLocalNetwork, type Account, type LocalNetwork, type RecordRef } from "@cocore/atproto";
import {
  base64Decode,
  base64Encode,
  BROKERAGE_KEY_RKEY,
  countersign,
  generateEncryptionKeyPair,
  generateSigningKey,
  inputCommitment,
  NSID,
  outputCommitment,
  recordCid,
  signRecord,
  type SigningKey,
} from "@cocore/protocol";
import { requirement } from "../../../test-support/requirements.ts";
import { attestationValue } from "../../../test-support/records.ts";
import { pgReachable, PG_URL } from "../../../test-support/pg-schemas.ts";
import { after } from "node:test";
import { buildPolicyRecord, CachingVerifier, createOp, DEFAULT_POLICY, openLedgerDb, policyFromRecord, type EngineContext, type ExchangeConfig, type IngestOp, type LedgerDb } from "../src/index.ts";
import type { Tx } from "../src/db/open.ts";

export const PG_ADMIN_URL = PG_URL;

export const pgSkip = requirement("PostgreSQL", await pgReachable(), `cannot connect to ${PG_ADMIN_URL}`);

/** A fresh database for this test file; `drop()` removes it. */
export async function freshPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cocore_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export function tempDir(prefix = "cocore-exchange-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export type Backend = "sqlite" | "postgres";

/** A database URL for the backend (call drop when done). */
export async function databaseFor(backend: Backend, dir: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (backend === "postgres") return freshPgDatabase();
  return { url: `sqlite:${join(dir, `ledger-${randomBytes(4).toString("hex")}.db`)}`, drop: async () => {} };
}

export interface Member extends Account {
  /** The provider's attestation key (receipts are signed with it). */
  key: SigningKey;
  attestation?: RecordRef;
}

export async function member(net: LocalNetwork, handle: string): Promise<Member> {
  const acct = await net.createAccount(`${handle}${randomBytes(3).toString("hex")}`);
  return { ...acct, key: generateSigningKey() };
}

async function write(m: Account, collection: string, value: Record<string, unknown>): Promise<RecordRef> {
  return createRecord(m.agent, collection, lexToJson(value) as Record<string, unknown>);
}

export const T0 = Date.parse("2026-03-01T00:00:00.000Z");
export const iso = (ms: number) => new Date(ms).toISOString();

export async function publishAttestation(p: Member, opts: { attestedAt?: number; expiresAt?: number } = {}): Promise<RecordRef> {
  const enc = generateEncryptionKeyPair();
  const value = signRecord(
    attestationValue({
      publicKey: p.key.publicKey,
      encryptionPubKey: base64Encode(enc.publicKey),
      attestedAt: opts.attestedAt ?? T0 - 86_400_000,
      expiresAt: opts.expiresAt ?? T0 + 400 * 86_400_000,
    }),
    "selfSignature",
    p.key,
  );
  p.attestation = await write(p, "dev.cocore.compute.attestation", value);
  return p.attestation;
}

export interface JobRefs {
  job: RecordRef;
  auth: RecordRef;
  commitment: string;
  ceiling: number;
  expiresAt: string;
}

export async function publishJob(
  r: Member,
  exchangeDid: string,
  opts: { ceiling?: number; createdAt?: number; expiresAt?: number; scope?: "singleJob" | "session"; nonce?: string; auth?: RecordRef; providers?: string[] } = {},
): Promise<JobRefs> {
  const ceiling = opts.ceiling ?? 10_000;
  const createdAt = opts.createdAt ?? T0;
  const expiresAt = iso(opts.expiresAt ?? createdAt + 3_600_000);
  const auth =
    opts.auth ??
    (await write(r, "dev.cocore.compute.paymentAuthorization", {
      $type: "dev.cocore.compute.paymentAuthorization",
      exchange: exchangeDid,
      ceiling: { amount: ceiling, currency: "TOK" },
      scope: opts.scope ?? "singleJob",
      nonce: opts.nonce ?? randomBytes(16).toString("hex"),
      expiresAt: iso(createdAt + 86_400_000),
      createdAt: iso(createdAt),
    }));
  const commitment = inputCommitment(randomBytes(48));
  const job = await write(r, "dev.cocore.compute.job", {
    $type: "dev.cocore.compute.job",
    model: "test-model",
    inputCommitment: commitment,
    maxTokensOut: 1000,
    priceCeiling: { amount: ceiling, currency: "TOK" },
    acceptedTrustLevel: "self-attested",
    acceptedExchanges: [exchangeDid],
    ...(opts.providers ? { acceptedProviders: opts.providers } : {}),
    paymentAuthorization: { uri: auth.uri, cid: auth.cid },
    nonce: randomBytes(16).toString("hex"),
    expiresAt,
    createdAt: iso(createdAt),
  });
  return { job, auth, commitment, ceiling, expiresAt };
}

export async function publishReceipt(
  p: Member,
  requester: string,
  j: JobRefs,
  opts: { tokensIn?: number; tokensOut?: number; completedAt?: number; proBono?: boolean; tamper?: (r: Record<string, unknown>) => void } = {},
): Promise<RecordRef> {
  const tIn = opts.proBono ? 0 : (opts.tokensIn ?? 400);
  const tOut = opts.proBono ? 0 : (opts.tokensOut ?? 600);
  const completedAt = opts.completedAt ?? T0 + 60_000;
  let value: Record<string, unknown> = {
    $type: "dev.cocore.compute.receipt",
    job: { uri: j.job.uri, cid: j.job.cid },
    requester,
    model: "test-model",
    inputCommitment: j.commitment,
    outputCommitment: outputCommitment("an answer"),
    tokens: { in: tIn, out: tOut },
    startedAt: iso(completedAt - 1000),
    completedAt: iso(completedAt),
    price: { amount: tIn + tOut, currency: "TOK" },
    attestation: { uri: p.attestation!.uri, cid: p.attestation!.cid },
    ...(opts.proBono ? { proBono: true } : {}),
  };
  value = signRecord(value, "enclaveSignature", p.key);
  opts.tamper?.(value);
  return write(p, "dev.cocore.compute.receipt", value);
}

export { startLocalNetwork, type LocalNetwork };

/**
 * Inside a describe: a factory of fresh, empty ledger databases for `backend`, each wrapped in an
 * EngineContext by `wrap`; all of them are closed and dropped after the describe.
 */
export function freshContexts(backend: Backend, wrap: (ldb: LedgerDb) => EngineContext): () => Promise<EngineContext> {
  const dir = tempDir();
  const drops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const d of drops) await d();
    dir.remove();
  });
  return async () => {
    const db = await databaseFor(backend, dir.path);
    const ldb = await openLedgerDb(db.url);
    drops.push(async () => {
      await ldb.close();
      await db.drop();
    });
    return wrap(ldb);
  };
}

// --- An engine without a network: the exchange's DID, its policy and a clock the test moves.

export const EXCHANGE_DID = "did:plc:exchange0000000000000000";
export const MIN = 60_000;
export const DAY = 86_400_000;
/** A well-formed did:plc for a short name (`testDid("req-a")`). */
export const testDid = (name: string) => `did:plc:${name.padEnd(24, "0")}`;
const policyValue = buildPolicyRecord(EXCHANGE_DID, DEFAULT_POLICY, iso(T0 - DAY));
/** The default policy, published by EXCHANGE_DID a day before T0. */
export const TEST_POLICY = { uri: `at://${EXCHANGE_DID}/${NSID.exchangePolicy}/3aaaaaaaaaaaa`, cid: recordCid(policyValue)!, value: policyValue, ledger: policyFromRecord(policyValue) };

/** An engine context whose clock moves by 1 ms at every read, and can be set. */
export type ClockedContext = EngineContext & { clock: { t: number } };

/** Inside a describe: fresh engine contexts on `backend` under TEST_POLICY, their clocks at `start`. */
export function freshEngines(backend: Backend, start = T0 + 10 * MIN): () => Promise<ClockedContext> {
  const make = freshContexts(backend, (ldb) => {
    const clock = { t: start };
    const ctx: ClockedContext = { ldb, did: EXCHANGE_DID, policy: TEST_POLICY, verifier: new CachingVerifier(), now: () => (clock.t += 1), clock };
    return ctx;
  });
  return async () => (await make()) as ClockedContext;
}

/** An exchange on `net` as `account`, its state in `stateDir`: steps only when told, publishes fast, quiet. */
export function exchangeConfig(net: LocalNetwork, account: Account, db: string, stateDir: string, extra: Partial<ExchangeConfig> = {}): ExchangeConfig {
  return {
    db,
    pdsUrl: net.pdsUrl,
    plcUrl: net.plcUrl,
    handle: account.handle,
    password: account.password,
    stateDir,
    schedulerIntervalMs: 0,
    publishIntervalMs: 50,
    log: () => {},
    ...extra,
  };
}

// --- Records as ingest ops (no network): what the firehose would deliver, signed and schema-valid.

export interface OpProvider {
  did: string;
  key: SigningKey;
  att: IngestOp;
}

/** A provider with a fresh key and its self-signed attestation (valid T0 − 1 day to T0 + 30 days). */
export function opProvider(did: string): OpProvider {
  const key = generateSigningKey();
  const value = {
    $type: NSID.attestation,
    publicKey: key.publicKey,
    encryptionPubKey: base64Encode(generateEncryptionKeyPair().publicKey),
    chipName: "x",
    hardwareModel: "x",
    serialNumberHash: "a".repeat(64),
    osVersion: "x",
    binaryHash: "b".repeat(64),
    sipEnabled: false,
    secureBootEnabled: false,
    secureEnclaveAvailable: false,
    authenticatedRootEnabled: false,
    attestedAt: iso(T0 - 86_400_000),
    expiresAt: iso(T0 + 30 * 86_400_000),
  };
  return { did, key, att: createOp(did, NSID.attestation, signRecord(value, "selfSignature", key)) };
}

export interface OpJob {
  auth: IngestOp;
  job: IngestOp;
  commitment: string;
}

export interface OpJobOptions {
  /** Name this authorization (e.g. one shared by two jobs) instead of a new one. */
  auth?: IngestOp;
  /** The exchange the new authorization names (default: the job's exchange). */
  authExchange?: string;
  authCeiling?: number;
  authExpiresAt?: number;
}

/**
 * A job for `exchange` created at `t` (expiring an hour later, maxTokensOut 2,000,000) with its
 * single-job authorization (valid a day, its ceiling the job's unless told).
 */
export function opJob(exchange: string, requester: string, ceiling: number, t: number, o: OpJobOptions = {}): OpJob {
  const auth =
    o.auth ??
    createOp(requester, NSID.paymentAuthorization, {
      exchange: o.authExchange ?? exchange,
      ceiling: { amount: o.authCeiling ?? ceiling, currency: "TOK" },
      scope: "singleJob",
      nonce: randomBytes(16).toString("hex"),
      expiresAt: iso(o.authExpiresAt ?? t + 86_400_000),
      createdAt: iso(t),
    });
  const commitment = inputCommitment(randomBytes(16));
  const job = createOp(requester, NSID.job, {
    model: "m",
    inputCommitment: commitment,
    maxTokensOut: 2_000_000,
    priceCeiling: { amount: ceiling, currency: "TOK" },
    acceptedTrustLevel: "self-attested",
    acceptedExchanges: [exchange],
    paymentAuthorization: { uri: auth.uri, cid: auth.cid },
    nonce: randomBytes(16).toString("hex"),
    expiresAt: iso(t + 3_600_000),
    createdAt: iso(t),
  });
  return { auth, job, commitment };
}

export interface OpMatchmaker {
  did: string;
  key: SigningKey;
  /** Its dev.cocore.compute.brokerageKey record (rkey self), the key valid from T0 − 1 day. */
  brokerageKey: IngestOp;
}

export function opMatchmaker(did: string, key = generateSigningKey()): OpMatchmaker {
  const brokerageKey = createOp(did, NSID.brokerageKey, { keys: [{ publicKey: key.publicKey, sigScheme: "p256", validFrom: iso(T0 - 86_400_000) }], createdAt: iso(T0 - 86_400_000) }, BROKERAGE_KEY_RKEY);
  return { did, key, brokerageKey };
}

/** The brokerageCountersignature (lex form) `m` makes when it routes `j` to `p`'s machine; `signer` forges it with another key. */
export function opCountersignature(m: OpMatchmaker, j: OpJob, p: OpProvider, signer: SigningKey = m.key): Record<string, unknown> {
  const cs = countersign(signer, { authority: m.did, machineId: `at://${p.did}/${NSID.provider}/m1`, nonce: randomBytes(8).toString("hex") }, { uri: j.job.uri, cid: j.job.cid! }, j.commitment);
  return { ...cs, sig: base64Decode(cs.sig) };
}

/**
 * A signed receipt for `j` (price = tokens in + out); startedAt is a second before completedAt.
 * `countersignature` is added outside the signed bytes, as the agent adds the matchmaker's.
 */
export function opReceipt(
  p: OpProvider,
  requester: string,
  j: OpJob,
  tokens: { in: number; out: number },
  completedAt: number,
  rkey = nextTid(),
  countersignature?: Record<string, unknown>,
): IngestOp {
  const signed = signRecord(
    {
      $type: NSID.receipt,
      job: { uri: j.job.uri, cid: j.job.cid },
      requester,
      model: "m",
      inputCommitment: j.commitment,
      outputCommitment: outputCommitment("y"),
      tokens,
      startedAt: iso(completedAt - 1000),
      completedAt: iso(completedAt),
      price: { amount: tokens.in + tokens.out, currency: "TOK" },
      attestation: { uri: p.att.uri, cid: p.att.cid },
    },
    "enclaveSignature",
    p.key,
  );
  const value = countersignature ? { ...signed, brokerageCountersignature: countersignature } : signed;
  return createOp(p.did, NSID.receipt, value, rkey);
}

/**
 * `tx`, except that its first read of the ledger_meta row (the PostgreSQL ledger lock) waits for
 * `gate` before it runs: a transaction stopped exactly where it takes the lock.
 */
export function gateLedgerLock(tx: Tx, gate: () => Promise<void>): Tx {
  let armed = true;
  const builder = (b: object): object =>
    new Proxy(b, {
      get(t, k) {
        const v = Reflect.get(t, k) as unknown;
        if (typeof v !== "function") return v;
        if (k === "executeTakeFirst" || k === "execute") {
          return async (...a: unknown[]) => {
            if (armed) {
              armed = false;
              await gate();
            }
            return v.apply(t, a);
          };
        }
        return (...a: unknown[]) => {
          const out = v.apply(t, a) as unknown;
          return out && typeof out === "object" && "executeTakeFirst" in out ? builder(out) : out;
        };
      },
    });
  return new Proxy(tx, {
    get(t, k) {
      const v = Reflect.get(t, k) as unknown;
      if (typeof v !== "function") return v;
      if (k === "selectFrom") return (table: string, ...rest: unknown[]) => (table === "ledger_meta" ? builder(v.call(t, table, ...rest)) : v.call(t, table, ...rest));
      return v.bind(t);
    },
  });
}
