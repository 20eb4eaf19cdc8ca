// Runtime lexicon validation and the friendly names for the generated record types.
// The lexicon documents are embedded in generated/lexicons.ts (no fs access at runtime);
// lexicons/**/*.json is the source, kept in sync by scripts/gen-lexicons.ts --check.
import { jsonToLex, lexToJson, type Lexicons } from "@atproto/lexicon";
import { lexicons as generatedLexicons, schemas } from "./generated/lexicons.ts";
import type * as StrongRefNs from "./generated/types/com/atproto/repo/strongRef.ts";
import type * as Defs from "./generated/types/dev/cocore/compute/defs.ts";
import type * as Job from "./generated/types/dev/cocore/compute/job.ts";
import type * as PaymentAuthorization from "./generated/types/dev/cocore/compute/paymentAuthorization.ts";
import type * as Provider from "./generated/types/dev/cocore/compute/provider.ts";
import type * as Attestation from "./generated/types/dev/cocore/compute/attestation.ts";
import type * as BrokerageKey from "./generated/types/dev/cocore/compute/brokerageKey.ts";
import type * as Receipt from "./generated/types/dev/cocore/compute/receipt.ts";
import type * as Settlement from "./generated/types/dev/cocore/compute/settlement.ts";
import type * as ExchangePolicy from "./generated/types/dev/cocore/compute/exchangePolicy.ts";
import type * as TermsAcceptance from "./generated/types/dev/cocore/compute/termsAcceptance.ts";
import type * as TokenGrant from "./generated/types/dev/cocore/account/tokenGrant.ts";
import type * as TokenPatronage from "./generated/types/dev/cocore/account/tokenPatronage.ts";
import type * as TokenRefresh from "./generated/types/dev/cocore/account/tokenRefresh.ts";
import type * as GetBalance from "./generated/types/dev/cocore/exchange/getBalance.ts";
import type * as ListHistory from "./generated/types/dev/cocore/exchange/listHistory.ts";
import type * as AdmitJob from "./generated/types/dev/cocore/exchange/admitJob.ts";
import type * as ReleaseHold from "./generated/types/dev/cocore/exchange/releaseHold.ts";
import type * as GetPolicy from "./generated/types/dev/cocore/exchange/getPolicy.ts";
import type * as VerifyReceipt from "./generated/types/dev/cocore/compute/verifyReceipt.ts";
import type * as ListSettlements from "./generated/types/dev/cocore/compute/listSettlements.ts";

/** Every lexicon document we use (ours plus com.atproto.repo.strongRef). */
export const lexicons: Lexicons = generatedLexicons;
/** The raw lexicon documents, e.g. for `@atproto/xrpc-server`'s `createServer(lexiconDocs)`. */
export const lexiconDocs = schemas;

export const NSID = {
  strongRef: "com.atproto.repo.strongRef",
  defs: "dev.cocore.compute.defs",
  job: "dev.cocore.compute.job",
  paymentAuthorization: "dev.cocore.compute.paymentAuthorization",
  provider: "dev.cocore.compute.provider",
  attestation: "dev.cocore.compute.attestation",
  brokerageKey: "dev.cocore.compute.brokerageKey",
  receipt: "dev.cocore.compute.receipt",
  settlement: "dev.cocore.compute.settlement",
  exchangePolicy: "dev.cocore.compute.exchangePolicy",
  termsAcceptance: "dev.cocore.compute.termsAcceptance",
  tokenGrant: "dev.cocore.account.tokenGrant",
  tokenPatronage: "dev.cocore.account.tokenPatronage",
  tokenRefresh: "dev.cocore.account.tokenRefresh",
  getBalance: "dev.cocore.exchange.getBalance",
  listHistory: "dev.cocore.exchange.listHistory",
  admitJob: "dev.cocore.exchange.admitJob",
  releaseHold: "dev.cocore.exchange.releaseHold",
  getPolicy: "dev.cocore.exchange.getPolicy",
  getPatronage: "dev.cocore.exchange.getPatronage",
  verifyReceipt: "dev.cocore.compute.verifyReceipt",
  listSettlements: "dev.cocore.compute.listSettlements",
} as const;
export type Nsid = (typeof NSID)[keyof typeof NSID];

export type ValidationOutcome = { ok: true } | { ok: false; message: string };

/**
 * Validates a record value in lex form (bytes as Uint8Array, cid-links as CID) against the
 * record lexicon `nsid`. Extra fields are allowed, as atproto requires. A value without `$type`
 * is checked as if it carried `$type: nsid` (records being built before a write often lack it);
 * a value with a different `$type` fails. Messages are the validator's own, unchanged.
 */
export function validateRecord(nsid: string, value: unknown): ValidationOutcome {
  let candidate = value;
  if (candidate !== null && typeof candidate === "object" && !Array.isArray(candidate) && !("$type" in candidate)) {
    candidate = { ...candidate, $type: nsid };
  }
  try {
    lexicons.assertValidRecord(nsid, candidate);
    return { ok: true };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/** atproto JSON form (`{"$bytes": base64}`, `{"$link": cid}`) to lex form (Uint8Array, CID). */
export function fromJsonRecord(json: unknown): unknown {
  // jsonToLex's JsonValue type is structural JSON; anything JSON.parse returns fits it.
  return jsonToLex(json as Parameters<typeof jsonToLex>[0]);
}

/** Lex form back to atproto JSON form; the inverse of fromJsonRecord. */
export function toJsonRecord(lex: unknown): unknown {
  return lexToJson(lex);
}

export type JobRecord = Job.Record;
export type PaymentAuthorizationRecord = PaymentAuthorization.Record;
export type ProviderRecord = Provider.Record;
export type AttestationRecord = Attestation.Record;
export type BrokerageKeyRecord = BrokerageKey.Record;
export type ReceiptRecord = Receipt.Record;
export type SettlementRecord = Settlement.Record;
export type ExchangePolicyRecord = ExchangePolicy.Record;
export type TermsAcceptanceRecord = TermsAcceptance.Record;
export type TokenGrantRecord = TokenGrant.Record;
export type TokenPatronageRecord = TokenPatronage.Record;
export type TokenRefreshRecord = TokenRefresh.Record;

export type StrongRef = StrongRefNs.Main;
export type Money = Defs.Money;
export type TokenCounts = Defs.TokenCounts;
export type TokenRate = Defs.TokenRate;
export type ModelPrice = Defs.ModelPrice;
export type TrustLevel = Defs.TrustLevel;
export type Tier = Defs.Tier;
export type SettlementStatus = Defs.SettlementStatus;
export type ReceiptParams = Receipt.Params;
export type BrokerageCountersignature = Receipt.BrokerageCountersignature;
export type ProBono = Provider.ProBono;
export type ProviderFault = Provider.Fault;
export type EngineFault = Provider.EngineFault;
export type PatronagePeriod = TokenPatronage.Period;
export type FeeSchedule = ExchangePolicy.FeeSchedule;
export type RefreshRule = ExchangePolicy.RefreshRule;
export type SelfLoopRule = ExchangePolicy.SelfLoopRule;
export type PatronageRule = ExchangePolicy.PatronageRule;

/** XRPC input/output/params shapes, by method. */
export type { GetBalance, ListHistory, AdmitJob, ReleaseHold, GetPolicy, VerifyReceipt, ListSettlements };
