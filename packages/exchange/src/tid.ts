// Deterministic record keys for everything the exchange publishes. A TID is 64 bits: a zero top
// bit, 53 bits of microseconds, 10 bits of clock id, written in base32-sortable. We take the
// milliseconds from the ledger time of the fact (so keys still sort roughly by time) and fill the
// sub-millisecond digits and the clock id from a hash of the idempotency key, so the same fact
// always lands on the same rkey: a retried putRecord overwrites instead of duplicating.
import { createHash } from "node:crypto";
import { TID } from "@atproto/common-web";

/** `salt` > 0 picks another key for the same fact (used only if two facts would collide). */
export function deterministicTid(key: string, atMs: number, salt = 0): string {
  const h = createHash("sha256").update(salt === 0 ? key : `${key}#${salt}`).digest();
  const subMs = h.readUInt16BE(0) % 1000;
  const clockId = h.readUInt16BE(2) & 0x3ff;
  const micros = Math.max(0, Math.floor(atMs)) * 1000 + subMs;
  return TID.fromTime(micros, clockId).toString();
}
