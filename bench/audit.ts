// `audit` benchmark: how long the auditor takes over N settled receipts on the real local network
// (PLC + PDS). The records — policy, grants, attestations, authorizations, jobs, receipts and
// signed settlements — are written directly with applyWrites (untimed; no engine, no exchange
// process); the timed part is the whole audit: every repo fetched as a verified CAR, every
// receipt and settlement signature checked, the ledger re-derived and compared.
import { randomBytes } from "node:crypto";
import { applyWrites, lexToJson, nextTid, startLocalNetwork, type Account, type WriteOp } from "@cocore/atproto";
import { audit } from "@cocore/auditor";
import { base64Encode, generateEncryptionKeyPair, generateSigningKey, inputCommitment, NSID, outputCommitment, recordCid, signRecord, type SigningKey } from "@cocore/protocol";

export interface AuditBenchOptions {
  receipts?: number;
  providers?: number;
  requesters?: number;
}

export interface AuditBenchResult {
  receipts: number;
  seconds: number;
  receiptsPerSec: number;
  /** Untimed set-up: writing every record to the PDS. */
  writeSeconds: number;
  members: number;
}

const GRANT = 1_000_000;
const FEE_BPS = 500;
const iso = (ms: number) => new Date(ms).toISOString();

/** A create with a known uri and cid, so other records can strong-ref it before it is written. */
function create(repo: string, collection: string, value: Record<string, unknown>): { op: WriteOp; uri: string; cid: string } {
  const full = { $type: collection, ...value };
  const rkey = nextTid();
  return { op: { action: "create", collection, rkey, value: lexToJson(full) as Record<string, unknown> }, uri: `at://${repo}/${collection}/${rkey}`, cid: recordCid(full)! };
}

export async function benchAudit(opts: AuditBenchOptions = {}): Promise<AuditBenchResult> {
  const n = opts.receipts ?? 2000;
  const net = await startLocalNetwork();
  try {
    const exchange = await net.createAccount("exchange");
    const providers: (Account & { key: SigningKey })[] = [];
    for (let i = 0; i < (opts.providers ?? 2); i++) providers.push({ ...(await net.createAccount(`provider${i}`)), key: generateSigningKey() });
    const requesters: Account[] = [];
    for (let i = 0; i < (opts.requesters ?? 8); i++) requesters.push(await net.createAccount(`requester${i}`));
    const settlementKey = generateSigningKey();
    const writeStart = performance.now();
    const t0 = Date.now() - 3_600_000;

    const ex: WriteOp[] = [];
    const policy = create(exchange.did, NSID.exchangePolicy, {
      exchange: exchange.did,
      fee: { bps: FEE_BPS, minMinor: 0, currency: "TOK" },
      supportedCurrencies: ["TOK"],
      selfLoop: { feeWaived: true },
      tokenRate: { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" },
      tokenGrant: GRANT,
      tokenFloor: 100_000,
      weeklyRefresh: { amountPerDid: 70_000, cadenceMinutes: 10_080 },
      patronageDistribution: { fractionBps: 8000, cadenceDays: 30 },
      treasuryDid: exchange.did,
      active: true,
      createdAt: iso(t0 - 86_400_000),
    });
    ex.push(policy.op);
    for (const m of [...providers, ...requesters]) {
      ex.push(create(exchange.did, NSID.tokenGrant, { exchange: exchange.did, recipient: m.did, amount: GRANT, policy: { uri: policy.uri, cid: policy.cid }, createdAt: iso(t0 - 1000) }).op);
    }
    const provOps = new Map<string, WriteOp[]>(providers.map((p) => [p.did, []]));
    const reqOps = new Map<string, WriteOp[]>(requesters.map((r) => [r.did, []]));
    const atts = providers.map((p) => {
      const a = create(
        p.did,
        NSID.attestation,
        signRecord(
          {
            $type: NSID.attestation,
            publicKey: p.key.publicKey,
            encryptionPubKey: base64Encode(generateEncryptionKeyPair().publicKey),
            sigScheme: "p256",
            encScheme: "x25519",
            chipName: "bench",
            hardwareModel: "bench",
            serialNumberHash: "a".repeat(64),
            osVersion: "bench",
            binaryHash: "b".repeat(64),
            sipEnabled: false,
            secureBootEnabled: false,
            secureEnclaveAvailable: false,
            authenticatedRootEnabled: false,
            attestedAt: iso(t0 - 3_600_000),
            expiresAt: iso(t0 + 86_400_000),
          },
          "selfSignature",
          p.key,
        ),
      );
      provOps.get(p.did)!.push(a.op);
      return a;
    });
    for (let i = 0; i < n; i++) {
      const req = requesters[i % requesters.length]!;
      const pi = i % providers.length;
      const p = providers[pi]!;
      const t = t0 + i * 100;
      const auth = create(req.did, NSID.paymentAuthorization, {
        exchange: exchange.did,
        ceiling: { amount: 5000, currency: "TOK" },
        scope: "singleJob",
        nonce: randomBytes(16).toString("hex"),
        expiresAt: iso(t + 86_400_000),
        createdAt: iso(t),
      });
      const commitment = inputCommitment(randomBytes(16));
      const job = create(req.did, NSID.job, {
        model: "bench",
        inputCommitment: commitment,
        maxTokensOut: 1000,
        priceCeiling: { amount: 5000, currency: "TOK" },
        acceptedTrustLevel: "self-attested",
        acceptedExchanges: [exchange.did],
        paymentAuthorization: { uri: auth.uri, cid: auth.cid },
        nonce: randomBytes(16).toString("hex"),
        expiresAt: iso(t + 3_600_000),
        createdAt: iso(t),
      });
      const tokens = { in: 10 + (i % 50), out: 20 + (i % 70) };
      const price = tokens.in + tokens.out;
      const completedAt = iso(t + 50);
      const receipt = create(
        p.did,
        NSID.receipt,
        signRecord(
          {
            $type: NSID.receipt,
            job: { uri: job.uri, cid: job.cid },
            requester: req.did,
            model: "bench",
            inputCommitment: commitment,
            outputCommitment: outputCommitment("an answer"),
            tokens,
            startedAt: iso(t + 1),
            completedAt,
            price: { amount: price, currency: "TOK" },
            attestation: { uri: atts[pi]!.uri, cid: atts[pi]!.cid },
          },
          "enclaveSignature",
          p.key,
        ),
      );
      const fee = Math.floor((price * FEE_BPS) / 10_000);
      const settlement = signRecord(
        {
          $type: NSID.settlement,
          receipt: { uri: receipt.uri, cid: receipt.cid },
          requesterAuthorization: { uri: auth.uri, cid: auth.cid },
          amountCharged: { amount: price, currency: "TOK" },
          providerPayout: { amount: price - fee, currency: "TOK" },
          exchangeFee: { amount: fee, currency: "TOK" },
          processorReference: Buffer.from(`rcpt:${receipt.uri}`),
          status: "settled",
          policy: { uri: policy.uri, cid: policy.cid },
          settledAt: completedAt,
        },
        "sig",
        settlementKey,
      );
      reqOps.get(req.did)!.push(auth.op, job.op);
      provOps.get(p.did)!.push(receipt.op);
      ex.push(create(exchange.did, NSID.settlement, settlement).op);
    }
    await applyWrites(exchange.agent, ex, { validate: false });
    for (const p of providers) await applyWrites(p.agent, provOps.get(p.did)!, { validate: false });
    for (const r of requesters) await applyWrites(r.agent, reqOps.get(r.did)!, { validate: false });
    const writeSeconds = (performance.now() - writeStart) / 1000;

    const start = performance.now();
    const report = await audit({ exchangeDid: exchange.did, idResolver: net.idResolver, pdsUrls: [net.pdsUrl], exchangePublicKey: settlementKey.publicKey });
    const seconds = (performance.now() - start) / 1000;
    if (!report.ok || report.stats.receipts !== n) {
      throw new Error(`the audit of honest records found ${report.discrepancies.length} discrepancies (first: ${report.discrepancies[0]?.message ?? "none"}) over ${report.stats.receipts}/${n} receipts`);
    }
    return { receipts: n, seconds: round(seconds), receiptsPerSec: Math.round(n / seconds), writeSeconds: round(writeSeconds), members: report.stats.members };
  } finally {
    await net.close();
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
