// Receipt verification through the protocol core, built for bulk ingest:
// - verdicts are memoized by the CIDs of everything verified (receipt, job, attestation,
//   authorization, policy): the verdict is a pure function of those contents, so a receipt retried
//   after a missing record or a parked balance is not re-verified;
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

export class CachingVerifier {
  private readonly cache = new Map<string, VerifyResult>();
  private readonly verdicts = new Map<string, boolean>();
  /** Attestation at-uri → publicKey of the latest version seen, to check receipts ahead. */
  private readonly attestationKeys = new Map<string, string>();

  constructor(
    private readonly limit = 50_000,
    private readonly pool?: CheckPool,
  ) {}

  verify(key: string, bundle: ReceiptBundle, exchange: string, trusted?: Omit<TrustedFacts, "signature">): VerifyResult {
    const hit = this.cache.get(key);
    if (hit) return hit;
    const options: VerifyOptions = { exchange };
    if (trusted) options.trusted = { ...trusted, signature: (cid, field, publicKey) => this.verdicts.get(`${cid}|${field}|${publicKey}`) };
    const result = verifyReceipt(bundle, options);
    this.prime(key, result);
    return result;
  }

  prime(key: string, result: VerifyResult): void {
    if (this.cache.size >= this.limit) this.cache.clear();
    this.cache.set(key, result);
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
    const sigs: (string | undefined)[] = [];
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
      const known = op.cid && field && key ? this.verdicts.get(`${op.cid}|${field}|${key}`) : undefined;
      if (op.cid && field && key && known === undefined) {
        item.f = field;
        item.k = key;
      }
      items.push(item);
      at.push(i);
      sigs.push(item.f ? `${op.cid}|${item.f}|${item.k}` : undefined);
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
      const sigKey = sigs[n];
      if (sigKey && r.v !== undefined) this.verdicts.set(sigKey, r.v);
    });
    return { json, schema };
  }
}
