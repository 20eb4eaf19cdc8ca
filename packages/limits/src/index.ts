// @cocore/limits: the abuse limits shared by the gateway and the matchmaker — token buckets per
// key and caps on how many jobs a key runs at once (no I/O, no clock of its own), and the body cap
// both HTTP services apply to a request stream.
export { ConcurrencyCaps } from "./concurrency.ts";
export { TokenBuckets, type RateSpec, type TakeResult } from "./token-buckets.ts";
export { BodyTimeoutError, BodyTooLargeError, readCappedBody } from "./body.ts";
