// @cocore/limits: the abuse limits shared by the gateway and the matchmaker — token buckets per
// key and caps on how many jobs a key runs at once. No I/O, no clock of its own.
export { ConcurrencyCaps } from "./concurrency.ts";
export { TokenBuckets, type RateSpec, type TakeResult } from "./token-buckets.ts";
