// Settlement records against the receipts they settle: each re-verified offline (verifyReceipt,
// the policy it names), each receipt and job settled once, the authorization nonce used once,
// the amounts internally balanced and — when the exchange's settlement key is known — signed.
import type { ExportedRecord } from "@cocore/atproto";
import { compareBytes, NSID, verifyReceipt, verifyRecordSignature, type ReceiptBundle, type RecordRef } from "@cocore/protocol";
import type { Discrepancy } from "./codes.ts";
import { int, obj, parseAtUri, ref, str, time, type Value } from "./fields.ts";

type Report = (d: Discrepancy) => void;

/** A settled receipt that verified: what the ledger is fed and the settlement compared with. */
export interface SettledReceipt {
  settlement: ExportedRecord;
  receipt: ExportedRecord;
  requester: string;
  provider: string;
  jobUri: string;
  completedAt: string;
  tokens: { in: number; out: number };
  price: { amount: number; currency: string };
  proBono: boolean;
  /** The settlement's published amounts and time. */
  published: { charged?: number; payout?: number; fee?: number; currencies: (string | undefined)[]; settledAt?: string };
}

export interface SettlementContext {
  exchangeDid: string;
  lookup: (uri: string) => ExportedRecord | undefined;
  /** DIDs whose repo could not be fetched (already reported; their records are not judged). */
  unavailable: ReadonlySet<string>;
  policy: ExportedRecord;
  exchangePublicKey?: string;
}

/** Which jobs and authorization nonces settled receipts have used (the exchange's "first settled wins"). */
export class UsageIndex {
  readonly jobs = new Map<string, string>();
  readonly nonces = new Map<string, { authUri: string; jobUri: string }>();

  /** The problem with settling this receipt after the ones already recorded, if any. */
  conflict(receiptUri: string, requester: string, jobUri: string, authUri: string, auth: Value): { code: "job-settled-twice" | "nonce-reused"; message: string } | undefined {
    const by = this.jobs.get(jobUri);
    if (by !== undefined && by !== receiptUri) return { code: "job-settled-twice", message: `job ${jobUri} was already settled by receipt ${by}` };
    const nonce = str(auth, "nonce");
    const used = nonce === undefined ? undefined : this.nonces.get(`${requester} ${nonce}`);
    if (used && (used.authUri !== authUri || (str(auth, "scope") !== "session" && used.jobUri !== jobUri))) {
      return { code: "nonce-reused", message: `authorization nonce ${nonce} was already used by ${used.jobUri}` };
    }
    return undefined;
  }

  record(receiptUri: string, requester: string, jobUri: string, authUri: string, auth: Value): void {
    this.jobs.set(jobUri, receiptUri);
    const nonce = str(auth, "nonce");
    const k = `${requester} ${nonce}`;
    if (nonce !== undefined && !this.nonces.has(k)) this.nonces.set(k, { authUri, jobUri });
  }
}

function asRef(r: ExportedRecord): RecordRef {
  return { uri: r.uri, cid: r.cid, value: r.value as Value };
}

/** The receipt's bundle from the fetched repos, or the names of the parts that are missing. */
export function bundleFor(receipt: ExportedRecord, authUri: string | undefined, policy: ExportedRecord, lookup: SettlementContext["lookup"]): { bundle?: ReceiptBundle; missing: string[] } {
  const job = lookup(ref(receipt.value, "job").uri ?? "");
  const attestation = lookup(ref(receipt.value, "attestation").uri ?? "");
  const auth = authUri === undefined ? undefined : lookup(authUri);
  const missing = [...(job ? [] : ["job"]), ...(attestation ? [] : ["attestation"]), ...(auth ? [] : ["paymentAuthorization"])];
  if (!job || !attestation || !auth) return { missing };
  return { bundle: { receipt: asRef(receipt), job: asRef(job), attestation: asRef(attestation), paymentAuthorization: asRef(auth), policy: asRef(policy) }, missing };
}

function money(v: Value, key: string): { amount?: number; currency?: string } {
  const m = obj(v, key);
  return { amount: int(m, "amount"), currency: str(m, "currency") };
}

/**
 * Checks every `settled` settlement record; returns the receipts that verified (in settlement
 * order) for the ledger, and the usage index for judging receipts nobody settled.
 */
export function checkSettlements(settlements: ExportedRecord[], ctx: SettlementContext, report: Report): { settled: SettledReceipt[]; usage: UsageIndex; examined: number } {
  const byReceipt = new Map<string, ExportedRecord[]>();
  for (const s of settlements) {
    if (str(s.value, "status") !== "settled") continue;
    const uri = ref(s.value, "receipt").uri;
    if (uri === undefined) {
      report({ code: "record-invalid", subject: s.uri, expected: null, actual: null, message: "settlement has no receipt reference" });
      continue;
    }
    byReceipt.set(uri, [...(byReceipt.get(uri) ?? []), s]);
  }
  const settledAtOf = (s: ExportedRecord) => time(s.value, "settledAt") ?? Number.MAX_SAFE_INTEGER;
  const primaries: ExportedRecord[] = [];
  for (const [receiptUri, list] of byReceipt) {
    list.sort((a, b) => settledAtOf(a) - settledAtOf(b) || compareBytes(a.uri, b.uri));
    if (list.length > 1) {
      report({ code: "receipt-settled-twice", subject: receiptUri, expected: 1, actual: list.map((s) => s.uri), message: `receipt ${receiptUri} has ${list.length} settlements` });
    }
    primaries.push(list[0]!);
  }
  // The exchange's nonce rule is "first settled wins", so judge in settlement order.
  primaries.sort((a, b) => settledAtOf(a) - settledAtOf(b) || compareBytes(ref(a.value, "receipt").uri!, ref(b.value, "receipt").uri!));

  const usage = new UsageIndex();
  const settled: SettledReceipt[] = [];
  let examined = 0;
  for (const s of primaries) {
    const v = s.value as Value;
    const charged = money(v, "amountCharged");
    const payout = money(v, "providerPayout");
    const fee = money(v, "exchangeFee");
    if (charged.amount === undefined || payout.amount === undefined || fee.amount === undefined || charged.amount !== payout.amount + fee.amount) {
      report({
        code: "settlement-unbalanced",
        subject: s.uri,
        expected: "amountCharged = providerPayout + exchangeFee",
        actual: { amountCharged: charged.amount ?? null, providerPayout: payout.amount ?? null, exchangeFee: fee.amount ?? null },
        message: "the settlement's amounts do not add up",
      });
    }
    if (ctx.exchangePublicKey !== undefined) {
      let good = false;
      try {
        good = verifyRecordSignature(v, "sig", ctx.exchangePublicKey);
      } catch {
        good = false;
      }
      if (!good) report({ code: "settlement-bad-signature", subject: s.uri, expected: ctx.exchangePublicKey, actual: v.sig === undefined ? null : "a signature that does not verify", message: "the settlement's sig does not verify under the exchange's key" });
    }

    const receiptRef = ref(v, "receipt");
    const at = parseAtUri(receiptRef.uri);
    if (!at || at.collection !== NSID.receipt) {
      report({ code: "settlement-receipt-missing", subject: s.uri, expected: "a receipt at-uri", actual: receiptRef.uri ?? null, message: "the settlement does not reference a receipt record" });
      continue;
    }
    if (ctx.unavailable.has(at.repo)) continue;
    const receipt = ctx.lookup(receiptRef.uri!);
    if (!receipt) {
      report({ code: "settlement-receipt-missing", subject: s.uri, expected: receiptRef.uri, actual: null, message: `the settled receipt ${receiptRef.uri} is not in ${at.repo}'s repo` });
      continue;
    }
    examined++;
    if (receipt.cid !== receiptRef.cid) {
      report({ code: "settlement-ref-mismatch", subject: s.uri, expected: receipt.cid, actual: receiptRef.cid ?? null, message: `the settlement names receipt version ${receiptRef.cid ?? "none"}, the repo holds ${receipt.cid}` });
    }
    const authRef = ref(v, "requesterAuthorization");
    const authRec = authRef.uri === undefined ? undefined : ctx.lookup(authRef.uri);
    if (authRec && authRec.cid !== authRef.cid) {
      report({ code: "settlement-ref-mismatch", subject: s.uri, expected: authRec.cid, actual: authRef.cid ?? null, message: `the settlement names authorization version ${authRef.cid ?? "none"}, the repo holds ${authRec.cid}` });
    }
    const policyUri = ref(v, "policy").uri;
    const named = policyUri === undefined ? undefined : ctx.lookup(policyUri);
    if (!named) report({ code: "policy-missing", subject: s.uri, expected: "an exchangePolicy record", actual: policyUri ?? null, message: `the settlement names policy ${policyUri ?? "none"}, which the exchange's repo does not hold` });
    const policy = named ?? ctx.policy;
    const jobUri = ref(receipt.value, "job").uri ?? "";
    const requester = str(receipt.value, "requester") ?? "";
    const unfetched = [parseAtUri(jobUri)?.repo, parseAtUri(authRef.uri)?.repo].some((d) => d !== undefined && ctx.unavailable.has(d));
    if (unfetched) continue;
    const { bundle, missing } = bundleFor(receipt, authRef.uri, policy, ctx.lookup);
    if (!bundle) {
      report({ code: "receipt-invalid", subject: receipt.uri, expected: [], actual: missing.map((m) => `${m}-missing`), message: `the settled receipt cannot be verified: no ${missing.join(", ")} record` });
      continue;
    }
    const verdict = verifyReceipt(bundle, { exchange: ctx.exchangeDid });
    const findings = verdict.findings.map((f) => f.code as string);
    const messages = verdict.findings.map((f) => f.message);
    const conflict = usage.conflict(receipt.uri, requester, jobUri, authRef.uri!, bundle.paymentAuthorization!.value);
    if (conflict?.code === "job-settled-twice") {
      report({ code: "job-settled-twice", subject: jobUri, expected: usage.jobs.get(jobUri), actual: receipt.uri, message: conflict.message });
      continue;
    }
    if (conflict) {
      findings.push(conflict.code);
      messages.push(conflict.message);
    }
    if (findings.length > 0) {
      report({ code: "receipt-invalid", subject: receipt.uri, expected: [], actual: findings, message: `settled by ${s.uri} but does not verify: ${messages.join("; ")}` });
      continue;
    }
    usage.record(receipt.uri, requester, jobUri, authRef.uri!, bundle.paymentAuthorization!.value);
    const rv = receipt.value as Value;
    const tokens = obj(rv, "tokens");
    const price = obj(rv, "price");
    settled.push({
      settlement: s,
      receipt,
      requester,
      provider: at.repo,
      jobUri,
      completedAt: str(rv, "completedAt")!,
      tokens: { in: int(tokens, "in")!, out: int(tokens, "out")! },
      price: { amount: int(price, "amount")!, currency: str(price, "currency")! },
      proBono: rv.proBono === true,
      published: { charged: charged.amount, payout: payout.amount, fee: fee.amount, currencies: [charged.currency, payout.currency, fee.currency], settledAt: str(v, "settledAt") },
    });
  }
  return { settled, usage, examined };
}
