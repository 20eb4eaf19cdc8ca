// Random record sets for the one-ledger differential checks: several requesters and providers,
// balances that run short (so receipts park and cascade), receipts delivered before their jobs,
// duplicates, late receipts, edits and deletes after settlement, forgeries, nonce and job reuse,
// session budgets, admissions, releases, balance reads, a fee change with a key rotation, and
// patronage periods closing. A world is a list of epochs: the records delivered between two clock
// events, then those clock events. Every record is real: signed, schema-valid, with its CID.
import { TID } from "@atproto/common-web";
import {
  base64Encode,
  generateEncryptionKeyPair,
  generateSigningKey,
  inputCommitment,
  NSID,
  outputCommitment,
  recordCid,
  signRecord,
  toJsonRecord,
  type SigningKey,
} from "@cocore/protocol";
import { buildPolicyRecord } from "@cocore/exchange";
import { attestationValue } from "./records.ts";

export const SIM_T0 = Date.parse("2026-06-01T00:00:00.000Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const EPOCH = 6 * HOUR;

export type SimEventJson = Record<string, unknown>;

export interface SimWorld {
  exchange: string;
  /** The exchange's first policy (a record value, atproto JSON). */
  policy: Record<string, unknown>;
  /** Settlement keys: the first policy's, then the rotated one's. */
  keys: SigningKey[];
  epochs: { records: SimEventJson[]; clock: SimEventJson[] }[];
}

export interface WorldSize {
  requesters?: number;
  providers?: number;
  epochs?: number;
  receiptsPerEpoch?: number;
}

/** A small fast PRNG (mulberry32), so a seed names a world. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const json = (v: Record<string, unknown>) => toJsonRecord(v) as Record<string, unknown>;
const plcDid = (tag: string, n: number, seed: number) => `did:plc:${`${tag}${n}x${seed.toString(36)}`.padEnd(24, "a").slice(0, 24)}`;

export function simWorld(seed: number, size: WorldSize = {}): SimWorld {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number) => rand() < p;
  const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  let tidSeq = 0;
  const rkey = (ms: number) => TID.fromTime(ms * 1000 + (tidSeq++ % 1000), tidSeq % 1024).toString();

  const exchange = plcDid("simex", 0, seed);
  const keys = [generateSigningKey(), generateSigningKey()];
  const policy = buildPolicyRecord(
    exchange,
    {
      currency: "TOK",
      feeBps: 500,
      feeMinMinor: 0,
      tokenGrant: 3000,
      tokenFloor: 0,
      refresh: { amountPerDid: 500, cadenceMinutes: 720 },
      patronage: { fractionBps: 8000, cadenceDays: 1 },
      selfLoopFeeWaived: true,
    },
    iso(SIM_T0),
    keys[0]!.publicKey,
  );

  const providers = Array.from({ length: size.providers ?? 3 }, (_, i) => {
    const did = plcDid("prov", i, seed);
    const key = generateSigningKey();
    const value = signRecord(
      attestationValue({ publicKey: key.publicKey, encryptionPubKey: base64Encode(generateEncryptionKeyPair().publicKey), attestedAt: SIM_T0 - 86_400_000, expiresAt: SIM_T0 + 60 * 86_400_000 }),
      "selfSignature",
      key,
    );
    const uri = `at://${did}/${NSID.attestation}/${rkey(SIM_T0 - HOUR)}`;
    return { did, key, att: { uri, cid: recordCid(value)!, value } };
  });
  // Providers request too (so earnings fund their own jobs: cascades), besides pure requesters.
  const requesters = [...Array.from({ length: size.requesters ?? 3 }, (_, i) => plcDid("req", i, seed)), ...providers.map((p) => p.did)];
  const epochs: SimWorld["epochs"] = [];
  const count = size.epochs ?? 10;
  for (let k = 0; k <= count; k++) epochs.push({ records: [], clock: [] });
  const put = (k: number, uri: string, value: Record<string, unknown>) => epochs[Math.min(k, count)]!.records.push({ type: "record", uri, value: json(value) });
  for (const p of providers) put(0, p.att.uri, p.att.value);

  interface Made {
    auth: { uri: string; cid: string; value: Record<string, unknown> };
    job: { uri: string; cid: string; value: Record<string, unknown> };
    commitment: string;
  }
  const makeJob = (requester: string, at: number, o: { ceiling: number; auth?: Made["auth"]; session?: number }): Made => {
    const auth =
      o.auth ??
      (() => {
        const value: Record<string, unknown> = {
          $type: NSID.paymentAuthorization,
          exchange,
          ceiling: { amount: o.ceiling, currency: "TOK" },
          scope: o.session !== undefined ? "session" : "singleJob",
          ...(o.session !== undefined ? { sessionBudget: { amount: o.session, currency: "TOK" } } : {}),
          nonce: Buffer.from(Array.from({ length: 16 }, () => between(0, 255))).toString("hex"),
          expiresAt: iso(at + 2 * 86_400_000),
          createdAt: iso(at),
        };
        return { uri: `at://${requester}/${NSID.paymentAuthorization}/${rkey(at)}`, cid: recordCid(value)!, value };
      })();
    const commitment = inputCommitment(Buffer.from(Array.from({ length: 24 }, () => between(0, 255))));
    const value: Record<string, unknown> = {
      $type: NSID.job,
      model: "sim-model",
      inputCommitment: commitment,
      maxTokensOut: 2000,
      priceCeiling: { amount: o.ceiling, currency: "TOK" },
      acceptedTrustLevel: "self-attested",
      acceptedExchanges: [exchange],
      paymentAuthorization: { uri: auth.uri, cid: auth.cid },
      nonce: Buffer.from(Array.from({ length: 16 }, () => between(0, 255))).toString("hex"),
      expiresAt: iso(at + 3 * EPOCH),
      createdAt: iso(at),
    };
    return { auth, job: { uri: `at://${requester}/${NSID.job}/${rkey(at)}`, cid: recordCid(value)!, value }, commitment };
  };
  const makeReceipt = (p: (typeof providers)[number], requester: string, m: Made, completedAt: number, o: { tokens?: { in: number; out: number }; proBono?: boolean; forged?: boolean; tag?: string } = {}) => {
    const tokens = o.proBono ? { in: 0, out: 0 } : (o.tokens ?? { in: between(20, 400), out: between(20, 1100) });
    let value: Record<string, unknown> = {
      $type: NSID.receipt,
      job: { uri: m.job.uri, cid: m.job.cid },
      requester,
      model: "sim-model",
      inputCommitment: m.commitment,
      outputCommitment: outputCommitment(o.tag ?? `answer ${completedAt}`),
      tokens,
      startedAt: iso(completedAt - between(1000, 20_000)),
      completedAt: iso(completedAt),
      price: { amount: tokens.in + tokens.out, currency: "TOK" },
      attestation: { uri: p.att.uri, cid: p.att.cid },
      ...(o.proBono ? { proBono: true } : {}),
    };
    value = signRecord(value, "enclaveSignature", p.key);
    if (o.forged) value = { ...value, tokens: { in: tokens.in + 1, out: tokens.out }, price: { amount: tokens.in + tokens.out + 1, currency: "TOK" } };
    return { uri: `at://${p.did}/${NSID.receipt}/${rkey(completedAt)}`, value };
  };

  const sessions = new Map<string, Made["auth"]>();
  for (let k = 1; k <= count; k++) {
    const start = SIM_T0 + (k - 1) * EPOCH;
    const end = SIM_T0 + k * EPOCH;
    const n = size.receiptsPerEpoch ?? 6;
    for (let i = 0; i < n; i++) {
      const requester = pick(requesters);
      const p = pick(providers);
      // The epoch's records are delivered with the exchange clock at its start: a receipt is on time
      // when it completed at or after that (and at most 5 minutes ahead of it, as real ones are).
      // Late ones completed hours ago and arrive only now, after the watermark passed them.
      const late = k > 1 && chance(0.1);
      const completedAt = late ? start - between(60, 300) * MIN : start + between(0, 240) * 1000;
      const createdAt = completedAt - between(2, 40) * MIN;
      const useSession = chance(0.2);
      let session = useSession ? sessions.get(requester) : undefined;
      const m = makeJob(requester, createdAt, { ceiling: 2500, ...(session ? { auth: session } : useSession ? { session: 2500 } : {}) });
      if (useSession && !session) sessions.set(requester, (session = m.auth));
      const kind = rand();
      const r = makeReceipt(p, requester, m, completedAt, {
        proBono: kind < 0.05,
        forged: kind >= 0.05 && kind < 0.1,
      });
      // The job usually arrives with its receipt, sometimes an epoch later (the receipt waits).
      const jobEpoch = chance(0.15) ? k + 1 : k;
      put(jobEpoch, m.auth.uri, m.auth.value);
      put(jobEpoch, m.job.uri, m.job.value);
      put(k, r.uri, r.value);
      if (chance(0.1)) put(k, r.uri, r.value); // a duplicate delivery
      if (chance(0.08)) {
        // A second provider receipts the same job: one job settles once.
        const again = makeReceipt(pick(providers), requester, m, completedAt + MIN);
        put(k, again.uri, again.value);
      }
      if (chance(0.08) && !useSession) {
        // A second job on the same single-job authorization: its nonce is used once.
        const m2 = makeJob(requester, createdAt, { ceiling: 2500, auth: m.auth });
        put(k, m2.job.uri, m2.job.value);
        const r2 = makeReceipt(p, requester, m2, completedAt + 2 * MIN);
        put(k, r2.uri, r2.value);
      }
      if (chance(0.06)) {
        // Edited after it was decided: re-signed with another output; a settlement stands.
        const edited = signRecord({ ...r.value, outputCommitment: outputCommitment(`edited ${i}`) }, "enclaveSignature", p.key);
        put(k + 1, r.uri, edited);
        // And the older version replayed after it (a backfill racing the stream).
        if (chance(0.5)) put(k + 2, r.uri, r.value);
      } else if (chance(0.04)) {
        epochs[Math.min(k + 1, count)]!.records.push({ type: "delete", uri: r.uri });
      }
    }
    if (chance(0.3)) {
      // A future-dated receipt: completed hours after the exchange first sees it.
      const requester = pick(requesters);
      const p = pick(providers);
      const m = makeJob(requester, start + MIN, { ceiling: 2500 });
      put(k, m.auth.uri, m.auth.value);
      put(k, m.job.uri, m.job.value);
      const r = makeReceipt(p, requester, m, start + 2 * HOUR);
      // Delivered with the clock still at the epoch's start: more than 5 minutes ahead.
      if (k < count) epochs[k - 1]!.records.push({ type: "record", uri: r.uri, value: json(r.value) });
    }
    if (k === Math.ceil(count / 2)) {
      // A fee change with a new settlement key, from this epoch's end on.
      const v = { ...policy, fee: { bps: 300, minMinor: 0, currency: "TOK" }, createdAt: iso(end), settlementPublicKey: keys[1]!.publicKey };
      put(k, `at://${exchange}/${NSID.exchangePolicy}/${rkey(end)}`, v);
    }
    // Clock events: an admission of a job for the next epoch, a release, balance reads; the tick.
    const at = end - HOUR;
    if (chance(0.5)) {
      const requester = pick(requesters);
      const m = makeJob(requester, at - 10 * MIN, { ceiling: 1200 });
      put(k, m.auth.uri, m.auth.value);
      put(k, m.job.uri, m.job.value);
      epochs[k]!.clock.push({ type: "admit", job: m.job.uri, at: iso(at) });
      if (chance(0.5)) {
        const m2 = makeJob(requester, at - 10 * MIN, { ceiling: 1200, auth: m.auth });
        put(k, m2.job.uri, m2.job.value);
        epochs[k]!.clock.push({ type: "admit", job: m2.job.uri, at: iso(at) });
      }
      if (chance(0.5)) epochs[k]!.clock.push({ type: "release", job: m.job.uri, at: iso(at) });
      else if (k < count) {
        const r = makeReceipt(pick(providers), requester, m, at + 10 * MIN);
        put(k + 1, r.uri, r.value);
      }
    }
    if (chance(0.5)) epochs[k]!.clock.push({ type: "read", did: pick(requesters), at: iso(at) });
    epochs[k]!.clock.push({ type: "tick", at: iso(end) });
  }
  return { exchange, policy, keys, epochs };
}

/** The events of a world in one delivery order: each epoch's records permuted, then its clock. */
export function deliveryOrder(world: SimWorld, seed: number | null): SimEventJson[] {
  const out: SimEventJson[] = [];
  const rand = seed === null ? null : prng(seed);
  for (const e of world.epochs) {
    out.push(...(rand ? permuteKeepingRepoOrder(e.records, rand) : e.records));
    out.push(...e.clock);
  }
  return out;
}

/**
 * A permutation of one epoch's records that keeps each repo's own records in order, as a firehose
 * does (so a record's versions arrive in the order they were written).
 */
function permuteKeepingRepoOrder(records: readonly SimEventJson[], rand: () => number): SimEventJson[] {
  const byRepo = new Map<string, SimEventJson[]>();
  for (const r of records) {
    const repo = /^at:\/\/([^/]+)\//.exec(String(r.uri))?.[1] ?? "";
    byRepo.set(repo, [...(byRepo.get(repo) ?? []), r]);
  }
  const queues = [...byRepo.values()];
  const out: SimEventJson[] = [];
  while (queues.length > 0) {
    const i = Math.floor(rand() * queues.length);
    out.push(queues[i]!.shift()!);
    if (queues[i]!.length === 0) queues.splice(i, 1);
  }
  return out;
}
