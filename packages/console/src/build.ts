// Builds the browser app (web/) into dist/ with Vite and prints what the browser downloads: each
// JS file's size raw and gzipped, and the total, which must stay under JS_GZIP_BUDGET. The lexicon
// reference of /docs/inference is compiled in from lexicons/ (virtual module `virtual:lexicons`),
// so the page can never drift from the source of truth.
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { Plugin } from "vite";

export const CONSOLE_ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DIST_DIR = join(CONSOLE_ROOT, "dist");
const LEXICON_ROOT = fileURLToPath(new URL("../../../lexicons", import.meta.url));
export const JS_GZIP_BUDGET = 300 * 1024;

/** Every lexicon document under lexicons/, sorted by NSID. */
export function readLexicons(root = LEXICON_ROOT): Array<Record<string, unknown> & { id: string }> {
  const out: Array<Record<string, unknown> & { id: string }> = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".json")) out.push(JSON.parse(readFileSync(p, "utf8")) as Record<string, unknown> & { id: string });
    }
  };
  walk(root);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

function lexiconsPlugin(): Plugin {
  const id = "virtual:lexicons";
  return {
    name: "cocore-lexicons",
    resolveId: (source) => (source === id ? `\0${id}` : undefined),
    load: (resolved) => (resolved === `\0${id}` ? `export default ${JSON.stringify(readLexicons())};` : undefined),
  };
}

export interface BuildReport {
  files: Array<{ file: string; bytes: number; gzipBytes: number }>;
  jsGzipBytes: number;
}

/** The JS files in dist/ and their gzipped sizes. */
export function measureDist(dir = DIST_DIR): BuildReport {
  const files: BuildReport["files"] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".js")) {
        const buf = readFileSync(p);
        files.push({ file: relative(dir, p), bytes: buf.length, gzipBytes: gzipSync(buf, { level: 9 }).length });
      }
    }
  };
  walk(dir);
  return { files, jsGzipBytes: files.reduce((t, f) => t + f.gzipBytes, 0) };
}

export async function buildConsole(opts: { outDir?: string; log?: (line: string) => void } = {}): Promise<BuildReport> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const [{ build }, { default: react }] = await Promise.all([import("vite"), import("@vitejs/plugin-react")]);
  const outDir = opts.outDir ?? DIST_DIR;
  // Built beside and swapped in, so a console serving from dist/ never sees half a build.
  const tmp = `${outDir}.tmp-${process.pid}`;
  await build({
    root: CONSOLE_ROOT,
    configFile: false,
    logLevel: "warn",
    plugins: [react(), lexiconsPlugin()],
    build: { outDir: tmp, emptyOutDir: true, sourcemap: false, target: "es2022", chunkSizeWarningLimit: 400 },
  });
  const report = measureDist(tmp);
  for (const f of report.files) log(`  ${f.file}  ${(f.bytes / 1024).toFixed(1)} kB, ${(f.gzipBytes / 1024).toFixed(1)} kB gzip`);
  log(`console JS: ${(report.jsGzipBytes / 1024).toFixed(1)} kB gzip (budget ${JS_GZIP_BUDGET / 1024} kB)`);
  if (report.jsGzipBytes > JS_GZIP_BUDGET) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`the console's JS is ${report.jsGzipBytes} bytes gzipped, over the ${JS_GZIP_BUDGET}-byte budget`);
  }
  // The launcher's stamp: it rebuilds when a source is newer than this file.
  writeFileSync(join(tmp, ".built"), `${new Date().toISOString()}\n`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildConsole().catch((err: unknown) => {
    process.stderr.write(`console build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
