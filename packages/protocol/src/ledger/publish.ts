// The records the exchange publishes, built here byte for byte so that the exchange, a rebuild and
// the auditor make identical values, and the record keys that make its repo an ordered log
// (README: "The log is public").
import { TID } from "@atproto/common-web";
import { NSID } from "../lexicon/index.ts";
import { base64Encode } from "../base64.ts";
import type { PolicyEntry } from "./timeline.ts";
import { LedgerError } from "./types.ts";
import { iso } from "./util.ts";

/**
 * The record key of the `seq`-th decision made in ledger millisecond `ms`: a TID whose
 * microseconds are ms·1000 + ⌊seq/1024⌋ and whose clock id is seq mod 1024, so keys sort exactly
 * in decision order (up to 1,024,000 decisions in one millisecond).
 */
export function decisionTid(ms: number, seq: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0 || !Number.isSafeInteger(seq) || seq < 0 || seq >= 1_024_000) {
    throw new LedgerError("invariant", `no decision key for ms ${ms}, seq ${seq}`);
  }
  return TID.fromTime(ms * 1000 + Math.floor(seq / 1024), seq % 1024).toString();
}

/** The inverse of decisionTid: the decision's ms and its sequence in that ms. */
export function decisionOf(rkey: string): { ms: number; seq: number } | undefined {
  let tid: TID;
  try {
    tid = TID.fromStr(rkey);
  } catch {
    return undefined;
  }
  const micros = tid.timestamp();
  return { ms: Math.floor(micros / 1000), seq: (micros % 1000) * 1024 + tid.clockid() };
}

export function strongRef(p: { uri: string; cid: string }): { uri: string; cid: string } {
  return { uri: p.uri, cid: p.cid };
}

export function settlementKey(receiptUri: string): string {
  return `settlement:${receiptUri}`;
}

export interface SettlementInput {
  receipt: { uri: string; cid: string };
  auth: { uri: string; cid: string };
  charged: number;
  payout: number;
  fee: number;
  currency: string;
  policy: PolicyEntry;
  settledAt: number;
}

/** An unsigned dev.cocore.compute.settlement (the publisher adds `sig`). */
export function settlementRecord(s: SettlementInput): Record<string, unknown> {
  return {
    $type: NSID.settlement,
    receipt: strongRef(s.receipt),
    requesterAuthorization: strongRef(s.auth),
    amountCharged: { amount: s.charged, currency: s.currency },
    providerPayout: { amount: s.payout, currency: s.currency },
    exchangeFee: { amount: s.fee, currency: s.currency },
    processorReference: { $bytes: base64Encode(new TextEncoder().encode(`rcpt:${s.receipt.uri}`).subarray(0, 1024)) },
    status: "settled",
    policy: strongRef(s.policy),
    settledAt: iso(s.settledAt),
  };
}

export function mintRecord(kind: "grant" | "refresh", exchange: string, recipient: string, amount: number, policy: PolicyEntry, atMs: number): Record<string, unknown> {
  const collection = kind === "grant" ? NSID.tokenGrant : NSID.tokenRefresh;
  return { $type: collection, exchange, recipient, amount, policy: strongRef(policy), createdAt: iso(atMs) };
}

export function patronageRecord(o: {
  exchange: string;
  recipient: string;
  start: number;
  end: number;
  score: number;
  total: number;
  credited: number;
  treasuryBefore: number;
  policy: PolicyEntry;
}): Record<string, unknown> {
  return {
    $type: NSID.tokenPatronage,
    exchange: o.exchange,
    recipient: o.recipient,
    period: { start: iso(o.start), end: iso(o.end) },
    patronageScore: o.score,
    totalPatronage: o.total,
    tokensCredited: o.credited,
    treasuryBefore: o.treasuryBefore,
    policy: strongRef(o.policy),
    createdAt: iso(o.end),
  };
}
