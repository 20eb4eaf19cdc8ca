// Generates the TypeScript lexicon types from lexicons/**/*.json with @atproto/lex-cli, then
// rewrites the output so it type-checks under our tsconfig and stays free of I/O dependencies.
//
//   node --import tsx packages/protocol/scripts/gen-lexicons.ts            regenerate in place
//   node --import tsx packages/protocol/scripts/gen-lexicons.ts --out DIR  generate into DIR
//   node --import tsx packages/protocol/scripts/gen-lexicons.ts --check    exit 1 on drift
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../../..");
export const lexiconRoot = join(repoRoot, "lexicons");
export const committedDir = join(repoRoot, "packages/protocol/src/lexicon/generated");
const lexCli = join(repoRoot, "node_modules/@atproto/lex-cli/dist/index.js");

const HEADER = "/**\n * GENERATED CODE - DO NOT MODIFY\n */";

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export function lexiconFiles(): string[] {
  return walk(lexiconRoot).filter((f) => f.endsWith(".json"));
}

/** Deterministic fixes so lex-cli's output fits strict NodeNext + verbatimModuleSyntax + `.ts` imports. */
export function postProcess(source: string): string {
  // Our convention is `.ts` specifiers; lex-cli emits `.js`.
  let s = source.replace(/(from\s+['"])(\.{1,2}\/[^'"]*?)\.js(['"])/g, "$1$2.ts$3");
  // lex-cli imports CID and BlobRef into every types file whether used or not. Dropping the
  // unused ones keeps undeclared packages (multiformats) out of @cocore/protocol's imports.
  const count = (name: string) => s.match(new RegExp(`\\b${name}\\b`, "g"))?.length ?? 0;
  if (count("CID") === 1) s = s.replace(/^import \{ CID \} from 'multiformats\/cid'\n/m, "");
  if (count("BlobRef") === 1) s = s.replace(/^(import \{[^}\n]*?), BlobRef( \} from '@atproto\/lexicon')$/m, "$1$2");
  return s;
}

/** Runs lex-cli into a fresh directory and post-processes the result into `outDir` (replaced). */
export function generate(outDir: string): string[] {
  const files = lexiconFiles();
  const staging = mkdtempSync(join(tmpdir(), "cocore-lexgen-"));
  try {
    const res = spawnSync(process.execPath, [lexCli, "gen-server", "--yes", staging, ...files], {
      encoding: "utf8",
    });
    const output = `${res.stdout ?? ""}${res.stderr ?? ""}`;
    // lex-cli skips an invalid lexicon with a message but still exits 0.
    if (res.status !== 0 || /Invalid lexicon/.test(output)) {
      throw new Error(`lex-cli failed (exit ${res.status}):\n${output}`);
    }
    rmSync(outDir, { recursive: true, force: true });
    const written: string[] = [];
    for (const file of walk(staging)) {
      const rel = relative(staging, file);
      // The server wrapper imports @atproto/xrpc-server; the protocol package does no I/O.
      if (rel === "index.ts") continue;
      const text = readFileSync(file, "utf8");
      if (!text.startsWith(HEADER)) throw new Error(`unexpected lex-cli output in ${rel}`);
      const target = join(outDir, rel);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, postProcess(text));
      written.push(rel);
    }
    return written.sort();
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Relative paths that differ between two trees (missing on either side or different bytes). */
export function diffDirs(expected: string, actual: string): string[] {
  const list = (d: string) => {
    try {
      return walk(d).map((f) => relative(d, f));
    } catch {
      return [];
    }
  };
  const a = new Set(list(expected));
  const b = new Set(list(actual));
  const drift: string[] = [];
  for (const rel of [...new Set([...a, ...b])].sort()) {
    if (!a.has(rel) || !b.has(rel)) drift.push(rel);
    else if (!readFileSync(join(expected, rel)).equals(readFileSync(join(actual, rel)))) drift.push(rel);
  }
  return drift;
}

/** Generates into a temporary directory and compares with `committed`. */
export function checkDrift(committed: string = committedDir): string[] {
  const fresh = mkdtempSync(join(tmpdir(), "cocore-lexcheck-"));
  try {
    generate(join(fresh, "out"));
    return diffDirs(join(fresh, "out"), committed);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}

function main(argv: string[]): number {
  if (argv.includes("--help")) {
    console.log("usage: gen-lexicons.ts [--out DIR] [--check]");
    return 0;
  }
  if (argv.includes("--check")) {
    const drift = checkDrift();
    if (drift.length === 0) {
      console.log("lexicon types are up to date");
      return 0;
    }
    console.error("generated lexicon code drifts from lexicons/ in:");
    for (const rel of drift) console.error(`  ${relative(repoRoot, join(committedDir, rel))}`);
    console.error("regenerate with: node --import tsx packages/protocol/scripts/gen-lexicons.ts");
    return 1;
  }
  const i = argv.indexOf("--out");
  const out = i >= 0 && argv[i + 1] ? resolve(argv[i + 1]!) : committedDir;
  const written = generate(out);
  console.log(`wrote ${written.length} files to ${relative(process.cwd(), out) || "."}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
