// Record keys chosen before the write, so a job can strong-ref its payment authorization in the
// same commit: atproto TIDs (53 bits of microseconds, 10 bits of clock id, base32-sortable).
import { randomInt } from "node:crypto";

const S32 = "234567abcdefghijklmnopqrstuvwxyz";
const clockId = randomInt(0, 1024);
let last = 0;

export function nextTid(nowMs: number = Date.now()): string {
  let micros = nowMs * 1000;
  if (micros <= last) micros = last + 1;
  last = micros;
  let n = (BigInt(micros) << 10n) | BigInt(clockId);
  let out = "";
  for (let i = 0; i < 13; i++) {
    out = S32[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}
