// How a receipt's price divides and which movements settle it (PROTOCOL.md §5.2, §6; README:
// "Amounts").
import { ledgerFee, type LedgerPolicy } from "./policy.ts";
import type { Movement, SettlementKind } from "./types.ts";
import { iso } from "./util.ts";

export interface ReceiptSplit {
  kind: SettlementKind;
  /** What the requester must hold and what leaves its balance. */
  debit: number;
  /** What the settlement record states: charged = payout + fee. */
  charged: number;
  payout: number;
  fee: number;
}

/**
 * Pro bono moves nothing and states zeros. A fee-waived self-loop moves nothing and states what was
 * consumed (charged = payout = price, fee 0). A self-loop without the waiver is charged like any
 * receipt (its fee floor is the self-loop rule's minMinor when set); its payout returns to itself.
 */
export function splitReceipt(r: { requester: string; provider: string; price: number; proBono: boolean }, policy: LedgerPolicy): ReceiptSplit {
  if (r.proBono) return { kind: "pro-bono", debit: 0, charged: 0, payout: 0, fee: 0 };
  const selfLoop = r.requester === r.provider;
  if (selfLoop && policy.selfLoopFeeWaived) return { kind: "self-loop", debit: 0, charged: r.price, payout: r.price, fee: 0 };
  const minMinor = selfLoop ? (policy.selfLoopMinMinor ?? policy.feeMinMinor) : policy.feeMinMinor;
  const fee = ledgerFee(r.price, policy.feeBps, minMinor);
  return { kind: selfLoop ? "self-loop" : "transfer", debit: selfLoop ? fee : r.price, charged: r.price, payout: r.price - fee, fee };
}

/** The movements settling one receipt at `atMs`; zero amounts and self-to-self transfers are left out. */
export function receiptMovements(r: { uri: string; requester: string; provider: string }, split: ReceiptSplit, treasury: string, atMs: number): Movement[] {
  const at = iso(atMs);
  const out: Movement[] = [];
  if (split.kind === "pro-bono" || split.debit === 0) return out;
  if (split.payout > 0 && r.requester !== r.provider) {
    out.push({ key: `rcpt:${r.uri}:payout`, kind: "payout", from: r.requester, to: r.provider, amount: split.payout, at });
  }
  if (split.fee > 0 && r.requester !== treasury) {
    out.push({ key: `rcpt:${r.uri}:fee`, kind: "fee", from: r.requester, to: treasury, amount: split.fee, at });
  }
  return out;
}
