// The auditor against a real cooperative on the local network (PLC + PDS, exchange, matchmaker,
// an agent running the bundled model): settled jobs audit clean; each kind of tampering the
// exchange account could do to its public records surfaces under its own discrepancy code.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createRecord, deleteRecord, exportRepo, lexToJson, putRecord, type ExportedRecord } from "@cocore/atproto";
import { NSID } from "@cocore/protocol";
import { audit, DISCREPANCY_CODES, type AuditReport } from "../src/index.ts";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";

const MODEL_FILE = fileURLToPath(new URL("../../../models/fortunes-char.gguf", import.meta.url));
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

describe("auditor on a real cooperative", { skip: existsSync(MODEL_FILE) ? false : `bundled model missing (${MODEL_FILE})` }, () => {
  let coop: Cooperative;
  const receipts: string[] = [];

  const auditNow = (extra: { exchangeUrl?: string } = {}): Promise<AuditReport> =>
    audit({
      exchangeDid: coop.exchange.did,
      idResolver: coop.network.idResolver,
      pdsUrls: [coop.network.pdsUrl],
      exchangeUrl: extra.exchangeUrl ?? coop.exchange.url,
    });
  const codes = (r: AuditReport) => [...new Set(r.discrepancies.map((d) => d.code))].sort();
  const exchangeRecords = async (collection: string): Promise<ExportedRecord[]> =>
    (await exportRepo(coop.network.pdsUrl, coop.exchange.did, { idResolver: coop.network.idResolver, collectionPrefix: "dev.cocore." })).records.filter(
      (r) => r.collection === collection,
    );
  const asJson = (r: ExportedRecord) => lexToJson(r.value) as Record<string, unknown>;

  before(async () => {
    coop = await startCooperative({ requesters: ["alice", "bob"], engine: "llama" });
    const [alice, bob] = coop.accounts.requesters;
    for (const [who, prompt] of [
      [alice!, "Tell me a fortune."],
      [bob!, "What does the future hold?"],
      [coop.accounts.provider, "A fortune for myself."],
    ] as const) {
      const client = coop.clientFor(who);
      const result = await client.run(prompt, { model: coop.model, maxTokens: 48 });
      await client.waitForSettlement(result.receipt.uri, { timeoutMs: 60_000 });
      receipts.push(result.receipt.uri);
    }
    await coop.exchange.waitForPublished();
  });
  after(async () => {
    await coop?.close();
  });

  test("settled jobs audit clean, and the re-derived balances are the exchange's", async () => {
    const report = await auditNow();
    assert.deepEqual(report.discrepancies, []);
    assert.equal(report.ok, true);
    assert.equal(report.signaturesChecked, true, "the settlement key comes from the published policy");
    assert.equal(report.stats.receipts, 3);
    assert.equal(report.stats.settlements, 3);
    assert.ok(report.stats.grants >= 3, "alice, bob and the provider were granted");
    assert.equal(report.signaturesChecked, true);
    assert.equal(report.balancesCompared, true);
    for (const did of [...coop.accounts.requesters.map((a) => a.did), coop.accounts.provider.did, coop.exchange.did]) {
      assert.equal(report.balances[did], await coop.exchange.balance(did), `balance of ${did}`);
    }
    const unaccounted = Object.values(report.balances).reduce((t, b) => t + b, 0) - report.stats.grants * 1_000_000;
    assert.equal(unaccounted, 0, "nothing minted beyond the grants");
    assert.ok(report.balances[coop.exchange.did]! > 0, "fees reached the treasury (so the split was exercised)");
  });

  test("a forged settlement of a receipt that does not exist, and a second settlement of a real one", async () => {
    const [real] = await exchangeRecords(NSID.settlement);
    const ghost = { ...asJson(real!), receipt: { uri: `at://${coop.accounts.provider.did}/${NSID.receipt}/3kzzzzzzzzzz2`, cid: "bafyreihxd7tn2tzhnoq3qgc6dx3elcwk5mbb5nyqatgzfd5t6h6rjldwry" } };
    const again = { ...asJson(real!), settledAt: new Date().toISOString() };
    const forged = [await createRecord(coop.accounts.exchange.agent, NSID.settlement, ghost), await createRecord(coop.accounts.exchange.agent, NSID.settlement, again)];
    try {
      const report = await auditNow();
      assert.equal(report.ok, false);
      // Written by hand, neither forgery sits at a decision's place in the log (its record key),
      // nor is it signed; the ghost moves tokens the exchange's own balances do not show. A
      // receipt that is not there is indistinguishable from one deleted after it settled: a warning.
      assert.deepEqual(codes(report), ["balance-mismatch", "log-order-invalid", "receipt-settled-twice", "settlement-bad-signature"]);
      const twice = report.discrepancies.find((d) => d.code === "receipt-settled-twice")!;
      assert.equal(twice.subject, (real!.value.receipt as { uri: string }).uri);
      assert.equal(twice.actual, forged[1]!.uri);
      assert.deepEqual(report.warnings.map((w) => [w.code, w.subject]), [["record-changed-after-settlement", ghost.receipt.uri]]);
    } finally {
      for (const f of forged) await deleteRecord(coop.accounts.exchange.agent, NSID.settlement, f.uri.split("/").pop()!);
    }
    assert.equal((await auditNow()).ok, true, "clean again once the forgeries are deleted");
  });

  test("a second tokenGrant for a member", async () => {
    const bob = coop.accounts.requesters[1]!.did;
    const [grant] = (await exchangeRecords(NSID.tokenGrant)).filter((g) => g.value.recipient === bob);
    assert.ok(grant, "bob has a grant");
    const second = await createRecord(coop.accounts.exchange.agent, NSID.tokenGrant, { ...asJson(grant), createdAt: new Date().toISOString() });
    try {
      const report = await auditNow();
      assert.deepEqual(codes(report), ["grant-duplicate", "log-order-invalid"]);
      assert.equal(report.discrepancies.find((d) => d.code === "grant-duplicate")!.subject, bob);
    } finally {
      await deleteRecord(coop.accounts.exchange.agent, NSID.tokenGrant, second.uri.split("/").pop()!);
    }
  });

  test("a settlement rewritten with wrong amounts", async () => {
    const settlements = await exchangeRecords(NSID.settlement);
    const target = settlements.find((s) => (s.value.receipt as { uri: string }).uri === receipts[0]);
    assert.ok(target, "alice's settlement is published");
    const original = asJson(target);
    const rkey = target.uri.split("/").pop()!;
    const amount = (k: string) => (original[k] as { amount: number }).amount;
    // Still balanced (charged = payout + fee), so only the comparison with the rules can tell.
    const wrong = {
      ...original,
      amountCharged: { amount: amount("amountCharged") + 10, currency: "TOK" },
      providerPayout: { amount: amount("providerPayout") + 10, currency: "TOK" },
    };
    await putRecord(coop.accounts.exchange.agent, NSID.settlement, rkey, wrong);
    try {
      const report = await auditNow();
      assert.deepEqual(codes(report), ["settlement-amount-mismatch", "settlement-bad-signature"]);
      const d = report.discrepancies.find((x) => x.code === "settlement-amount-mismatch")!;
      assert.equal(d.subject, target.uri);
      assert.deepEqual((d.expected as { amountCharged: number }).amountCharged, amount("amountCharged"));
    } finally {
      await putRecord(coop.accounts.exchange.agent, NSID.settlement, rkey, original);
    }
    const clean = await auditNow();
    assert.deepEqual(clean.discrepancies, []);
  });

  test("an exchange whose reported balances differ from its public records", async () => {
    const liar: Server = createServer((req, res) => {
      const did = new URL(req.url ?? "/", "http://x").searchParams.get("did");
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ did, balance: did === coop.accounts.provider.did ? 5 : 1_000_000, held: 0, available: 0, granted: true }));
    });
    await new Promise<void>((r) => liar.listen(0, "127.0.0.1", r));
    try {
      const report = await auditNow({ exchangeUrl: `http://127.0.0.1:${(liar.address() as AddressInfo).port}` });
      assert.ok(codes(report).every((c) => c === "balance-mismatch"));
      assert.ok(report.discrepancies.some((d) => d.subject === coop.accounts.provider.did && d.actual === 5));
    } finally {
      await new Promise<void>((r) => liar.close(() => r()));
    }
  });

  test("cocore audit: exit 0 and the JSON report; exit 2 with one line when the PLC is unreachable", async () => {
    // Asynchronously: the cooperative the command audits runs in this very process.
    const run = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", "packages/cli/src/main.ts", "audit", ...args], { cwd: ROOT });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
        child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, stdout, stderr }));
      });
    const ok = await run(["--exchange", coop.exchange.did, "--plc", coop.network.plcUrl, "--pds", coop.network.pdsUrl, "--exchange-url", coop.exchange.url, "--json"]);
    assert.equal(ok.status, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as AuditReport;
    assert.equal(report.ok, true);
    assert.equal(report.stats.receipts, 3);
    const down = await run(["--exchange", coop.exchange.did, "--plc", "http://127.0.0.1:9", "--json"]);
    assert.equal(down.status, 2);
    assert.equal(down.stderr.trim().split("\n").length, 1, down.stderr);
  });
});

test("discrepancy codes are unique and documented", async () => {
  const { readFileSync } = await import("node:fs");
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  assert.equal(new Set(DISCREPANCY_CODES).size, DISCREPANCY_CODES.length);
  for (const code of DISCREPANCY_CODES) assert.ok(readme.includes(`\`${code}\``), `${code} is documented in the README`);
});
