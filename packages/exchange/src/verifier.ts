// Receipt verification through the protocol core, built for bulk ingest:
// - verdicts are memoized by the CIDs of everything verified (receipt, job, attestation,
//   authorization, policy, the countersigning matchmaker's brokerageKey): the verdict is a pure
//   function of those contents, so a receipt retried after a missing record or a parked balance
//   is not re-verified;
// - `prepare` checks a batch's records before its transaction (lexicon validation, and the P-256
//   signatures of receipts and attestations whose key is already known), in worker threads when a
//   pool is given, so the checks of batch N+1 overlap the database work of batch N;
// - the engine passes the records' CIDs as trusted (they came through verified repo commits) and
//   their ingestion-time schema results, so a bundle costs string comparisons plus, at most, the
//   signature checks `prepare` could not do ahead.
import { toJsonRecord, verifyReceipt, type ReceiptBundle, type VerifyOptions, type VerifyResult } from "@cocore/protocol";
import { isCloneableLex, schemaCheck, type CheckedField, type CheckItem, type CheckResult } from "./check.ts";
import type { CheckPool } from "./check-pool.ts";

export type TrustedFacts = NonNullable<VerifyOptions["trusted"]>;

export interface PrepareOp {
  uri: string;
  collection: string;
  cid?: string;
  record?: Record<string, unknown>;
}

/** Per op (same order as given): its JSON form and schema result, when it has a record. */
export interface PreparedChecks {
  json: (string | undefined)[];
  schema: (string | null | undefined)[];
}

const ATTESTATION = "dev.cocore.compute.attestation";
const RECEIPT = "dev.cocore.compute.receipt";
/** Below this many records a batch is checked inline: a worker round trip would cost more. */
const POOL_THRESHOLD = 32;

function attestationUriOf(record: Record<string, unknown>): string | undefined {
  const ref = record.attestation;
  const uri = ref && typeof ref === "object" ? (ref as { uri?: unknown }).uri : undefined;
  return typeof uri === "string" ? uri : undefined;
}

/** A verdict and the exact records it was reached on (besides the receipt, which keys it). */
interface CachedVerdict {
  uri: string;
  job: string | undefined;
  attestation: string | undefined;
  authorization: string | undefined;
  policy: string | undefined;
  brokerageKey: string | undefined;
  exchange: string;
  result: VerifyResult;
}

/** A signature verdict on the record with some CID (the map key): its field, key, and outcome. */
interface SignatureVerdict {
  field: string;
  publicKey: string;
  ok: boolean;
}

export class CachingVerifier {
  // Both maps are keyed by a CID string, usually the very string object the op or row carries,
  // whose hash V8 keeps: a composite key built per lookup (300 characters of CIDs) had to be
  // hashed anew every time, and cost more than the rest of a cached verdict.
  private readonly cache = new Map<string, CachedVerdict>();
  private readonly verdicts = new Map<string, SignatureVerdict>();
  /** Attestation at-uri → publicKey of the latest version seen, to check receipts ahead. */
  private readonly attestationKeys = new Map<string, string>();

  constructor(
    private readonly limit = 50_000,
    private readonly pool?: CheckPool,
  ) {}

  /** A recorded verdict on this record's signature; bound once, as verifyReceipt's `trusted.signature`. */
  private readonly signatureVerdict = (cid: string, field: string, publicKey: string): boolean | undefined => {
    const v = this.verdicts.get(cid);
    return v && v.field === field && v.publicKey === publicKey ? v.ok : undefined;
  };

  verify(bundle: ReceiptBundle, exchange: string, trusted?: Omit<TrustedFacts, "signature">): VerifyResult {
    const key = bundle.receipt.cid;
    const job = bundle.job.cid;
    const attestation = bundle.attestation.cid;
    const authorization = bundle.paymentAuthorization?.cid;
    const policy = bundle.policy?.cid;
    const brokerageKey = bundle.brokerageKey?.cid;
    const uri = bundle.receipt.uri ?? "";
    const hit = key === undefined ? undefined : this.cache.get(key);
    if (hit && hit.uri === uri && hit.job === job && hit.attestation === attestation && hit.authorization === authorization && hit.policy === policy && hit.brokerageKey === brokerageKey && hit.exchange === exchange) {
      return hit.result;
    }
    const options: VerifyOptions = { exchange };
    if (trusted) options.trusted = { ...trusted, signature: this.signatureVerdict };
    const result = verifyReceipt(bundle, options);
    if (key !== undefined) {
      if (this.cache.size >= this.limit) this.cache.clear();
      this.cache.set(key, { uri, job, attestation, authorization, policy, brokerageKey, exchange, result });
    }
    return result;
  }

  /** Remembers an attestation's key (from a stored record) for checking later receipts ahead. */
  noteAttestation(uri: string, value: Record<string, unknown> | undefined): void {
    const k = value?.publicKey;
    if (typeof k !== "string") return;
    if (this.attestationKeys.size >= this.limit) this.attestationKeys.clear();
    this.attestationKeys.set(uri, k);
  }

  /** The CPU-bound checks of a batch's records, ahead of (and concurrently with) any transaction. */
  async prepare(ops: PrepareOp[]): Promise<PreparedChecks> {
    const json: (string | undefined)[] = new Array<string | undefined>(ops.length);
    const schema: (string | null | undefined)[] = new Array<string | null | undefined>(ops.length);
    const items: CheckItem[] = [];
    const at: number[] = [];
    const sigs: (SignatureVerdict & { cid: string } | undefined)[] = [];
    for (const op of ops) if (op.record && op.collection === ATTESTATION) this.noteAttestation(op.uri, op.record);
    const pooled = this.pool !== undefined && ops.length >= POOL_THRESHOLD;
    ops.forEach((op, i) => {
      if (!op.record) return;
      // Going to a worker, a plain record travels as is and the worker makes its JSON form.
      const item: CheckItem = pooled && isCloneableLex(op.record) ? { c: op.collection, r: op.record } : { c: op.collection, j: (json[i] = JSON.stringify(toJsonRecord(op.record))) };
      let field: CheckedField | undefined;
      let key: string | undefined;
      if (op.collection === RECEIPT) {
        const attUri = attestationUriOf(op.record);
        key = attUri ? this.attestationKeys.get(attUri) : undefined;
        field = "enclaveSignature";
      } else if (op.collection === ATTESTATION && typeof op.record.publicKey === "string") {
        key = op.record.publicKey;
        field = "selfSignature";
      }
      const known = op.cid && field && key ? this.signatureVerdict(op.cid, field, key) : undefined;
      if (op.cid && field && key && known === undefined) {
        item.f = field;
        item.k = key;
      }
      items.push(item);
      at.push(i);
      sigs.push(item.f && item.k && op.cid ? { cid: op.cid, field: item.f, publicKey: item.k, ok: false } : undefined);
    });
    let results: CheckResult[] | undefined;
    if (this.pool && pooled) {
      try {
        results = await this.pool.run(items);
      } catch {
        results = undefined; // a failed worker: checked inline below
      }
    }
    // Inline, signatures are left to the verifier: they would cost the same there, only later.
    results ??= at.map((i) => ({ s: schemaCheck(ops[i]!.collection, ops[i]!.record!) }));
    if (this.verdicts.size + items.length > this.limit * 4) this.verdicts.clear();
    results.forEach((r, n) => {
      schema[at[n]!] = r.s;
      if (r.j !== undefined) json[at[n]!] = r.j;
      const sig = sigs[n];
      if (sig && r.v !== undefined) this.verdicts.set(sig.cid, { field: sig.field, publicKey: sig.publicKey, ok: r.v });
    });
    return { json, schema };
  }
}
