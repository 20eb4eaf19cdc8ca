import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkDrift, committedDir, diffDirs } from "../scripts/gen-lexicons.ts";

test("generated lexicon code matches lexicons/**/*.json", () => {
  const drift = checkDrift();
  assert.deepEqual(drift, [], `regenerate with: node --import tsx packages/protocol/scripts/gen-lexicons.ts`);
});

test("the drift check reports edited, missing and extra files", () => {
  const dir = mkdtempSync(join(tmpdir(), "cocore-drift-test-"));
  try {
    const copy = join(dir, "generated");
    cpSync(committedDir, copy, { recursive: true });
    assert.deepEqual(diffDirs(committedDir, copy), []);
    appendFileSync(join(copy, "util.ts"), "\n// edited\n");
    rmSync(join(copy, "types/dev/cocore/compute/receipt.ts"));
    writeFileSync(join(copy, "stray.ts"), "export {};\n");
    assert.deepEqual(diffDirs(committedDir, copy), ["stray.ts", "types/dev/cocore/compute/receipt.ts", "util.ts"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
