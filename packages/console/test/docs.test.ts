// /docs/inference is generated: every lexicon file under lexicons/ appears with every def and
// field as the file states it, every type link lands on a def on the page, and the API lists are
// the gateway's own. In a browser, the page is public, accessible and fits 390 px.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import type { LexiconDoc } from "@atproto/lexicon";
import { SERVED_PARAMETERS, UNSUPPORTED_PARAMETERS } from "@cocore/gateway";
import { lexiconDocs } from "@cocore/protocol";
import type { Browser } from "playwright-core";
import { startConsole, type RunningConsole } from "../src/index.ts";
import { anchorOf, lexiconReference } from "../src/docs.ts";
import type { InferenceDocs } from "../web/types.ts";
import { checkPage, chromiumSkip, launchBrowser, watchedPage } from "../../../test-support/browser.ts";

const LEXICON_DIR = fileURLToPath(new URL("../../../lexicons/", import.meta.url));

function lexiconFiles(dir = LEXICON_DIR): LexiconDoc[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? lexiconFiles(join(dir, e.name)) : e.name.endsWith(".json") ? [JSON.parse(readFileSync(join(dir, e.name), "utf8")) as LexiconDoc] : [],
  );
}

type Obj = { properties?: Record<string, { description?: string; type: string }>; required?: string[] };

test("every lexicon file, def and field is on the page as its file states it", () => {
  const files = lexiconFiles();
  assert.ok(files.length >= 10, `only ${files.length} lexicon files found under ${LEXICON_DIR}`);
  const ref = lexiconReference(lexiconDocs);
  assert.deepEqual(ref.map((l) => l.id).sort(), files.map((f) => f.id).sort());
  let fields = 0;
  for (const file of files) {
    const view = ref.find((l) => l.id === file.id)!;
    assert.equal(view.description, file.description, file.id);
    assert.deepEqual(view.defs.map((d) => d.name).sort(), Object.keys(file.defs).sort(), file.id);
    for (const [name, def] of Object.entries(file.defs) as [string, Record<string, unknown>][]) {
      const d = view.defs.find((x) => x.name === name)!;
      const obj = (def.type === "record" ? def.record : def.type === "object" ? def : def.type === "query" || def.type === "procedure" ? def.parameters : undefined) as Obj | undefined;
      const rows = def.type === "record" || def.type === "object" ? d.fields : d.parameters;
      for (const [prop, schema] of Object.entries(obj?.properties ?? {})) {
        const row = rows?.find((r) => r.name === prop);
        assert.ok(row, `${file.id}#${name}: field ${prop} missing`);
        assert.equal(row.description, schema.description, `${file.id}#${name}.${prop}`);
        assert.equal(row.required, (obj?.required ?? []).includes(prop), `${file.id}#${name}.${prop} required`);
        fields++;
      }
      const body = (def.input ?? def.output) as { schema?: Obj & { type: string } } | undefined;
      if (body?.schema?.type === "object") for (const prop of Object.keys(body.schema.properties ?? {})) assert.ok([...(d.input?.fields ?? []), ...(d.output?.fields ?? [])].some((r) => r.name === prop), `${file.id}: body field ${prop}`);
    }
  }
  assert.ok(fields > 50, `only ${fields} fields compared`);
  // No dead links: every type that names a def links to an anchor the page has.
  const anchors = new Set(ref.flatMap((l) => [l.anchor, ...l.defs.map((d) => d.anchor)]));
  const links = ref.flatMap((l) => l.defs.flatMap((d) => [...(d.fields ?? []), ...(d.parameters ?? []), ...(d.input?.fields ?? []), ...(d.output?.fields ?? [])]).flatMap((f) => (f.anchor ? [f.anchor] : [])));
  assert.ok(links.length > 10);
  for (const a of links) assert.ok(anchors.has(a), `a link to #${a}, which is not on the page`);
  assert.equal(anchorOf("dev.cocore.compute.defs#money"), "lex-dev-cocore-compute-defs--money");
});

test("a field's constraints are the lexicon's, in words", () => {
  const job = lexiconReference(lexiconDocs).find((l) => l.id === "dev.cocore.compute.job")!.defs.find((d) => d.name === "main")!;
  assert.equal(job.kind, "record");
  assert.equal(job.recordKey, "tid");
  const nonce = job.fields!.find((f) => f.name === "nonce")!;
  assert.deepEqual(nonce.constraints, ["min length 32", "max length 32"]);
  const tools = job.fields!.find((f) => f.name === "tools")!;
  assert.equal(tools.type, "array of dev.cocore.compute.job#tool");
  assert.equal(tools.anchor, "lex-dev-cocore-compute-job--tool");
  assert.deepEqual(tools.constraints, ["at most 128"]);
  assert.match(job.fields!.find((f) => f.name === "inputFormat")!.constraints.join(), /known values "text", "messages-v1"/);
});

let c: RunningConsole;
let dir: string;
let browser: Browser | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "console-docs-"));
  c = await startConsole({ exchangeUrl: "http://127.0.0.1:9", matchmakerUrl: "http://127.0.0.1:9", plcUrl: "http://127.0.0.1:9", gatewayUrl: "http://127.0.0.1:2586/v1", stateDir: dir, log: () => {} });
  if (!chromiumSkip) browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await c.close();
  await rm(dir, { recursive: true, force: true });
});

test("GET /api/docs/inference: public, with the gateway's own parameter lists", async () => {
  const res = await fetch(`${c.url}/api/docs/inference`);
  assert.equal(res.status, 200);
  const d = (await res.json()) as InferenceDocs;
  assert.equal(d.apiBase, "http://127.0.0.1:2586/v1");
  assert.deepEqual(d.served, [...SERVED_PARAMETERS]);
  assert.deepEqual(Object.fromEntries(d.refused.map((r) => [r.param, r.code])), UNSUPPORTED_PARAMETERS);
  assert.ok(d.schemaKeywords.enforced.includes("properties"));
  assert.equal(d.lexicons.length, lexiconFiles().length);
});

test("the docs page in a browser: every lexicon, links that land, accessible at 390 px, no sign-in", { skip: chromiumSkip }, async () => {
  const context = await browser!.newContext();
  const { page, errors } = await watchedPage(context);
  await page.goto(`${c.url}/docs/inference`);
  await page.getByRole("heading", { name: "Inference API and lexicons" }).waitFor();
  assert.equal(await page.getByTestId("lexicon").count(), lexiconFiles().length);
  assert.match(await page.getByTestId("refused-parameters").innerText(), /logprobs_unsupported/);
  assert.match(await page.locator("pre").first().innerText(), /baseURL: "http:\/\/127\.0\.0\.1:2586\/v1"/);
  // A type link moves to its def.
  await page.locator('a[href="#lex-dev-cocore-compute-defs--money"]').first().click();
  assert.equal(new URL(page.url()).hash, "#lex-dev-cocore-compute-defs--money");
  assert.ok(await page.locator("#lex-dev-cocore-compute-defs--money").isVisible());
  assert.equal(await page.getByRole("link", { name: "Docs" }).getAttribute("aria-current"), "page");
  await checkPage(page, "docs-inference");
  assert.deepEqual(errors, []);
  await context.close();
});
