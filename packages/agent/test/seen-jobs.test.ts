import assert from "node:assert/strict";
import { test } from "node:test";
import { SeenJobs } from "../src/seen-jobs.ts";

const T0 = Date.parse("2030-01-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

test("a job uri is refused while its job is live", () => {
  const seen = new SeenJobs();
  assert.equal(seen.add("at://a/job/1", iso(T0 + 60_000), T0), true);
  assert.equal(seen.add("at://a/job/1", iso(T0 + 60_000), T0 + 30_000), false);
  assert.equal(seen.has("at://a/job/1"), true);
});

test("entries are pruned once their job has expired", () => {
  const seen = new SeenJobs();
  seen.add("at://a/job/1", iso(T0 + 60_000), T0);
  seen.add("at://a/job/2", iso(T0 + 600_000), T0);
  assert.equal(seen.size, 2);
  // A new job after job 1's expiry drops job 1 but keeps the still-live job 2.
  assert.equal(seen.add("at://a/job/3", iso(T0 + 700_000), T0 + 61_000), true);
  assert.equal(seen.has("at://a/job/1"), false);
  assert.equal(seen.has("at://a/job/2"), true);
  assert.equal(seen.size, 2);
  seen.prune(T0 + 10_000_000);
  assert.equal(seen.size, 0);
});

test("a job without a readable expiresAt is remembered for a fallback period, then pruned", () => {
  const seen = new SeenJobs();
  seen.add("at://a/job/x", undefined, T0);
  seen.add("at://a/job/y", "not a date", T0);
  seen.prune(T0 + 60_000);
  assert.equal(seen.size, 2);
  seen.prune(T0 + 24 * 3600_000);
  assert.equal(seen.size, 0);
});
