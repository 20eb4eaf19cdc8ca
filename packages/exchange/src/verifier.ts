// Receipt verification through the protocol core, memoized by the CIDs of everything verified
// (receipt, job, attestation, authorization, policy): the verdict is a pure function of those
// contents, so a receipt retried after a missing record or a parked balance is not re-verified.
// `prime` lets verdicts computed elsewhere (worker threads, in bulk) be handed in.
import { verifyReceipt, type ReceiptBundle, type VerifyResult } from "@cocore/protocol";
import type { Verifier } from "./engine.ts";

export class CachingVerifier implements Verifier {
  private readonly cache = new Map<string, VerifyResult>();

  constructor(private readonly limit = 50_000) {}

  verify(key: string, bundle: ReceiptBundle, exchange: string): VerifyResult {
    const hit = this.cache.get(key);
    if (hit) return hit;
    const result = verifyReceipt(bundle, { exchange });
    this.prime(key, result);
    return result;
  }

  prime(key: string, result: VerifyResult): void {
    if (this.cache.size >= this.limit) this.cache.clear();
    this.cache.set(key, result);
  }
}
