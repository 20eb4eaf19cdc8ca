// Tests that need an outside program (PostgreSQL, Chromium) run when it is there and otherwise
// skip with a reason. COCORE_REQUIRE_ALL=1 (set by CI) turns a skip into a failure instead.

/** Returns node:test's `skip` option: false when available, a reason string when not. */
export function requirement(name: string, available: boolean, why: string): false | string {
  if (available) return false;
  const reason = `${name} not available: ${why}`;
  if (process.env.COCORE_REQUIRE_ALL === "1") {
    throw new Error(`${reason} (COCORE_REQUIRE_ALL=1 forbids skipping)`);
  }
  return reason;
}
