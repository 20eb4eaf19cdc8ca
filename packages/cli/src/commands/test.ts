import { spawnSync } from "node:child_process";
import { globSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "../command.ts";

const root = fileURLToPath(new URL("../../../../", import.meta.url));

function step(label: string, cmd: string, args: string[]): boolean {
  process.stderr.write(`cocore test: ${label}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: process.env });
  return r.status === 0;
}

export const command: Command = {
  summary: "run the whole test suite (type check, lexicon drift, unit, property and integration tests)",
  help: `usage: cocore test [FILE...]

Runs the TypeScript type check and every packages/*/test/**/*.test.ts file with node's test runner.
Given files, runs only those (and skips the type check).
Tests that need PostgreSQL or Chromium skip with a reason when those are absent;
COCORE_REQUIRE_ALL=1 turns every such skip into a failure (CI sets it).`,
  async run(args) {
    // Files named on the command line are relative to where the user is; the runner works from the root.
    const files = args.length > 0 ? args.map((f) => resolve(f)) : globSync("packages/*/test/**/*.test.ts", { cwd: root }).sort();
    if (args.length === 0) {
      const tsc = fileURLToPath(new URL("node_modules/typescript/bin/tsc", `file://${root}`));
      if (!step("type check (tsc --noEmit)", process.execPath, [tsc, "-p", "tsconfig.json"])) return 1;
    }
    const concurrency = process.env.COCORE_TEST_CONCURRENCY ?? "2";
    const ok = step(`${files.length} test files`, process.execPath, [
      "--import",
      "tsx",
      "--test",
      `--test-concurrency=${concurrency}`,
      // A test that hangs (an answer that never comes) fails after 15 minutes instead of holding CI.
      `--test-timeout=${process.env.COCORE_TEST_TIMEOUT_MS ?? "900000"}`,
      "--test-reporter=spec",
      ...files,
    ]);
    return ok ? 0 : 1;
  },
};
