// Record keys for records whose rkey we must know before the write succeeds (receipts retried from
// the durable queue reuse the same rkey, so a write whose answer was lost cannot create a twin).
// Format: atproto TID — 53 bits of microseconds since the epoch and 10 bits of clock id,
// base32-sortable, 13 characters.
import { randomInt } from "node:crypto";

const S32 = "234567abcdefghijklmnopqrstuvwxyz";
const clockId = randomInt(0, 1024);
let lastMicros = 0;

function encode(n: bigint, len: number): string {
  let out = "";
  for (let i = 0; i < len; i++) {
    out = S32[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}

/** A fresh TID, strictly increasing within this process. */
export function nextTid(nowMs: number = Date.now()): string {
  let micros = nowMs * 1000;
  if (micros <= lastMicros) micros = lastMicros + 1;
  lastMicros = micros;
  return encode((BigInt(micros) << 10n) | BigInt(clockId), 13);
}
