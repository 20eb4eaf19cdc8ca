import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { computeFee, PricingError, tokenRatePrice } from "../src/pricing.ts";
import { splitReceipt, type LedgerPolicy } from "../src/ledger/index.ts";

const base: LedgerPolicy = {
  exchange: "did:x",
  feeBps: 500,
  feeMinMinor: 0,
  currency: "TOK",
  tokenGrant: 1_000_000,
  tokenFloor: 100_000,
  selfLoopFeeWaived: true,
  treasury: "did:x",
  createdAt: 0,
};
const policy = (over: Partial<LedgerPolicy> = {}): LedgerPolicy => ({ ...base, ...over });
const split = (price: number, requester: string, provider: string, p: LedgerPolicy, proBono = false) =>
  splitReceipt({ price, requester, provider, proBono }, p);

test("tokenRate price floors the exact sum once", () => {
  const tok = { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000 };
  assert.equal(tokenRatePrice(tok, { in: 40, out: 64 }), 104);
  assert.equal(tokenRatePrice({ inputPricePerMTok: 500_000, outputPricePerMTok: 500_000 }, { in: 1, out: 1 }), 1, "0.5 + 0.5 = 1, not 0 + 0");
  assert.equal(tokenRatePrice({ inputPricePerMTok: 3, outputPricePerMTok: 15 }, { in: 999_999, out: 0 }), 2);
  assert.equal(tokenRatePrice({ inputPricePerMTok: 2 ** 40, outputPricePerMTok: 0 }, { in: 2 ** 30, out: 5 }), Number(2n ** 70n / 1_000_000n), "exact beyond 2^53 intermediates");
  assert.throws(() => tokenRatePrice({ inputPricePerMTok: 2 ** 52, outputPricePerMTok: 0 }, { in: 2 ** 52, out: 0 }), PricingError);
  assert.throws(() => tokenRatePrice(tok, { in: -1, out: 0 }), PricingError);
  fc.assert(
    fc.property(fc.nat(2_000_000), fc.nat(2_000_000), (i, o) => {
      assert.equal(tokenRatePrice(tok, { in: i, out: o }), i + o);
    }),
  );
});

test("fee = min(price, max(floor(price·bps/10000), minMinor))", () => {
  assert.equal(computeFee(104, { bps: 500, minMinor: 0 }), 5);
  assert.equal(computeFee(19, { bps: 500, minMinor: 0 }), 0);
  assert.equal(computeFee(19, { bps: 500, minMinor: 3 }), 3);
  assert.equal(computeFee(2, { bps: 500, minMinor: 3 }), 2, "never more than the price");
  assert.equal(computeFee(0, { bps: 500, minMinor: 3 }), 0);
  fc.assert(
    fc.property(fc.maxSafeNat(), fc.nat(10_000), fc.nat(1_000_000), (price, bps, minMinor) => {
      const fee = computeFee(price, { bps, minMinor });
      assert.ok(fee >= 0 && fee <= price);
      const proportional = Number((BigInt(price) * BigInt(bps)) / 10_000n);
      assert.equal(fee, Math.min(price, Math.max(proportional, minMinor)));
    }),
  );
});

test("receipt split conserves value and handles self-loop and pro bono", () => {
  assert.deepEqual(split(104, "did:a", "did:b", policy()), { kind: "transfer", debit: 104, charged: 104, payout: 99, fee: 5 });
  // A fee-waived self-loop moves nothing and states what was consumed (as cocore.dev writes it).
  assert.deepEqual(split(104, "did:a", "did:a", policy()), { kind: "self-loop", debit: 0, charged: 104, payout: 104, fee: 0 });
  assert.deepEqual(split(0, "did:a", "did:b", policy(), true), { kind: "pro-bono", debit: 0, charged: 0, payout: 0, fee: 0 });
  // Without the waiver only the fee leaves the member (its payout returns to itself).
  assert.deepEqual(split(100, "did:a", "did:a", policy({ selfLoopFeeWaived: false, selfLoopMinMinor: 10 })), {
    kind: "self-loop",
    debit: 10,
    charged: 100,
    payout: 90,
    fee: 10,
  });
  fc.assert(
    fc.property(fc.maxSafeNat(), fc.nat(10_000), fc.nat(1000), (price, feeBps, feeMinMinor) => {
      const s = split(price, "did:a", "did:b", policy({ feeBps, feeMinMinor }));
      assert.equal(s.charged, s.payout + s.fee);
      assert.equal(s.charged, price);
      assert.equal(s.debit, price);
      assert.ok(s.payout >= 0);
    }),
  );
});
