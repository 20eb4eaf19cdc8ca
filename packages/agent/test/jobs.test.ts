// A job end to end with the real engine and the bundled model: a fake matchmaker (a WebSocket
// peer started here) dispatches a sealed job written to the requester's PDS; the agent streams
// the output and writes a receipt that verifies offline (verifyReceipt and `cocore verify`) with
// exact token counts. Then the named refusals, and pro bono per the owner's election.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { createRecord, getRecord, putRecord, startLocalNetwork, type Account, type LocalNetwork, type RecordEntry } from "@cocore/atproto";
import { base64Decode, outputCipherCommitment, outputCommitment, tokenRatePrice, verifyReceipt } from "@cocore/protocol";
import { bundledModelPath, LlamaEngine, PROVIDER_COLLECTION, startAgent, type RunningAgent } from "@cocore/agent";
import { makeJob, openChunk, POLICY_NSID, policyValue, startFakeMatchmaker, tempDir, waitFor, type FakeMatchmaker } from "./support.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const RATE = { inputPricePerMTok: 1_000_000, outputPricePerMTok: 2_000_000, currency: "TOK" };

describe("serving a job", () => {
  let net: LocalNetwork;
  let provider: Account;
  let requester: Account;
  let exchange: Account;
  let policy: RecordEntry;
  let mm: FakeMatchmaker;
  let agent: RunningAgent;
  const tmp = tempDir("cocore-agent-jobs-");

  before(async () => {
    net = await startLocalNetwork();
    provider = await net.createAccount("job-provider");
    requester = await net.createAccount("job-requester");
    exchange = await net.createAccount("job-exchange");
    // An exchange whose policy prices output at twice the input, so the price shows the agent used it.
    const ref = await createRecord(exchange.agent, POLICY_NSID, policyValue(exchange.did, RATE));
    policy = (await getRecord(net.pdsUrl, exchange.did, POLICY_NSID, ref.uri.split("/").pop()!))!;
    mm = await startFakeMatchmaker();
    agent = await startAgent({
      pds: net.pdsUrl,
      handle: provider.handle,
      password: provider.password,
      stateDir: tmp.dir,
      matchmaker: mm.url,
      exchange: exchange.did,
      threads: 1,
      log: () => {},
    });
    await waitFor("registration", () => (agent.matchmakerConnected ? true : undefined));
  });
  after(async () => {
    await agent?.stop();
    await mm?.close();
    await net?.close();
    tmp.cleanup();
  });

  const encKey = () => Buffer.from(agent.state.encryption.publicKey).toString("base64");

  async function dispatch(fx: { msg: Parameters<FakeMatchmaker["send"]>[0] & { job: { uri: string } }; reply: Uint8Array }) {
    mm.send(fx.msg);
    const uri = fx.msg.job.uri;
    const end = await mm.next((m) => m.jobUri === uri && (m.type === "done" || m.type === "error"), 120_000);
    const ofJob = mm.messages.filter((m) => m.jobUri === uri);
    const sealed = ofJob.filter((m) => m.type === "chunk");
    return { end, ofJob, sealed, chunks: sealed.map((m) => openChunk(fx.reply, m)) };
  }

  it("serves the bundled model and writes a receipt that verifies offline", async () => {
    assert.deepEqual(agent.supportedModels, ["fortunes-char"]);
    const prompt = "The meaning of life is";
    const fx = await makeJob({ agent: requester.agent, did: requester.did }, { exchange: exchange.did, encryptionPubKey: encKey(), input: { prompt }, maxTokensOut: 24, acceptedProviders: [provider.did] });
    const { end, ofJob, chunks, sealed } = await dispatch(fx);
    assert.equal(end.type, "done", JSON.stringify(end));
    // Output travels sealed to the requester's reply key; nothing in the clear.
    assert.ok(sealed.every((m) => m.text === undefined && typeof m.sealed === "string"));
    const cipher = outputCipherCommitment(sealed.map((m) => base64Decode(String(m.sealed))));
    assert.equal(end.outputCipherCommitment, cipher);
    assert.equal(ofJob[0]!.type, "accepted");
    assert.deepEqual(
      ofJob.filter((m) => m.type === "chunk").map((m) => m.seq),
      chunks.map((_, i) => i),
    );
    const output = chunks.join("");
    assert.equal(end.outputCommitment, outputCommitment(output));
    const tokens = end.tokens as { in: number; out: number };
    assert.ok(tokens.out >= 1 && tokens.out <= 24, `tokens.out ${tokens.out}`);
    assert.deepEqual(end.price, { amount: tokenRatePrice(RATE, tokens), currency: "TOK" });

    // The raw engine on the same prompt, greedy: the same text and exactly the same counts.
    const raw = new LlamaEngine({ model: bundledModelPath(), modelId: "fortunes-char", threads: 1 });
    await raw.load();
    try {
      const r = await raw.generate({ model: "fortunes-char", prompt, maxTokens: 24 }, () => {});
      assert.equal(r.text, output);
      assert.deepEqual({ in: r.tokensIn, out: r.tokensOut }, tokens);
    } finally {
      await raw.close();
    }

    const receiptRef = end.receipt as { uri: string; cid: string; written: boolean };
    assert.equal(receiptRef.written, true);
    const rkey = receiptRef.uri.split("/").pop()!;
    const receipt = (await getRecord(net.pdsUrl, provider.did, "dev.cocore.compute.receipt", rkey))!;
    assert.equal(receipt.cid, receiptRef.cid, "the cid announced in `done` is the record's");
    const attRef = receipt.value.attestation as { uri: string; cid: string };
    const attestation = (await getRecord(net.pdsUrl, provider.did, "dev.cocore.compute.attestation", attRef.uri.split("/").pop()!))!;
    assert.equal(receipt.value.outputCipherCommitment, cipher, "the receipt commits to the sealed frames as sent");
    const params = receipt.value.params as Record<string, number>;
    assert.deepEqual(params, { maxTokens: 24, temperatureMilli: 0, topPMilli: 1000 });
    const bundle = { receipt, job: fx.job, attestation, paymentAuthorization: fx.paymentAuthorization, policy };
    const verdict = verifyReceipt(bundle);
    assert.deepEqual(verdict.findings, []);
    assert.equal(verdict.ok, true);

    // And through the CLI, from the JSON a user would save.
    const file = join(tmp.dir, "bundle.json");
    const { lexToJson } = await import("@cocore/atproto");
    writeFileSync(file, JSON.stringify(lexToJson(bundle as never)));
    const cli = spawnSync(process.execPath, [join(ROOT, "packages/cli/bin/cocore.mjs"), "verify", file], { encoding: "utf8" });
    assert.equal(cli.status, 0, cli.stdout + cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as { ok: boolean }).ok, true);
  });

  it("refuses with named codes and writes no receipt", async () => {
    const r = { agent: requester.agent, did: requester.did };
    const base = { exchange: exchange.did, encryptionPubKey: encKey(), input: { prompt: "Hello" } };
    const cases: Array<[string, Parameters<typeof makeJob>[1]]> = [
      ["commitment_mismatch", { ...base, tamper: true }],
      ["model_unsupported", { ...base, model: "llama-70b" }],
      ["job_expired", { ...base, expiresAt: new Date(Date.now() - 1000).toISOString() }],
      ["provider_not_accepted", { ...base, acceptedProviders: [exchange.did] }],
      ["ceiling_too_low", { ...base, ceiling: 2 }],
      ["reply_key_missing", { ...base, noReplyKey: true }],
      ["reply_key_missing", { ...base, input: "a raw prompt has nowhere to put a reply key" }],
    ];
    const before = await listReceipts();
    for (const [code, opts] of cases) {
      const fx = await makeJob(r, opts);
      const { end, ofJob } = await dispatch(fx);
      assert.equal(end.type, "error", `${code}: ${JSON.stringify(end)}`);
      assert.equal(end.code, code, String(end.message));
      assert.ok(!ofJob.some((m) => m.type === "chunk" || m.type === "accepted"), `${code}: nothing streamed`);
    }
    // A record with no dag-cbor form (a float) has no CID to check against the strong ref: refused, not skipped.
    const noCid = await makeJob(r, base);
    noCid.msg.jobRecord = { ...noCid.msg.jobRecord, extra: 1.5 };
    const { end } = await dispatch(noCid);
    assert.equal(end.code, "job_mismatch", JSON.stringify(end));
    assert.equal(await listReceipts(), before);
  });

  it("drops a malformed brokerageCountersignature before running instead of failing after", async () => {
    const good = { authority: "did:plc:matchmaker0000000000000", machineId: agent.rkey, nonce: "ab".repeat(16), sig: Buffer.alloc(70, 1).toString("base64") };
    const malformed = [
      { ...good, sig: "!!! not base64 !!!" },
      { ...good, sig: Buffer.alloc(300, 1).toString("base64") },
      { ...good, authority: "not a did" },
      { ...good, nonce: "n".repeat(200) },
    ];
    for (const cs of malformed) {
      const fx = await makeJob({ agent: requester.agent, did: requester.did }, { exchange: exchange.did, encryptionPubKey: encKey(), input: { prompt: "A" }, maxTokensOut: 4 });
      fx.msg.brokerageCountersignature = cs;
      const { end } = await dispatch(fx);
      assert.equal(end.type, "done", JSON.stringify(end));
      const receipt = (await getRecord(net.pdsUrl, provider.did, "dev.cocore.compute.receipt", (end.receipt as { uri: string }).uri.split("/").pop()!))!;
      assert.equal(receipt.value.brokerageCountersignature, undefined, JSON.stringify(cs));
    }
    // A well-formed one is kept.
    const fx = await makeJob({ agent: requester.agent, did: requester.did }, { exchange: exchange.did, encryptionPubKey: encKey(), input: { prompt: "A" }, maxTokensOut: 4 });
    fx.msg.brokerageCountersignature = good;
    const { end } = await dispatch(fx);
    assert.equal(end.type, "done", JSON.stringify(end));
    const receipt = (await getRecord(net.pdsUrl, provider.did, "dev.cocore.compute.receipt", (end.receipt as { uri: string }).uri.split("/").pop()!))!;
    assert.equal((receipt.value.brokerageCountersignature as { authority: string }).authority, good.authority);
  });

  it("admission pending: generates at once, writes the receipt only after `admitted`", async () => {
    const fx = await makeJob({ agent: requester.agent, did: requester.did }, { exchange: exchange.did, encryptionPubKey: encKey(), input: { prompt: "A" }, maxTokensOut: 6 });
    const before = await listReceipts();
    mm.send({ ...fx.msg, admission: "pending" });
    const uri = fx.msg.job.uri;
    await mm.next((m) => m.jobUri === uri && m.type === "chunk", 60_000);
    mm.send({ type: "admitted", jobUri: uri });
    const end = await mm.next((m) => m.jobUri === uri && (m.type === "done" || m.type === "error"), 60_000);
    assert.equal(end.type, "done", JSON.stringify(end));
    assert.equal(await listReceipts(), before + 1);
  });

  it("admission refused (cancel with discard): stops, writes no receipt, ends with not_admitted", async () => {
    const fx = await makeJob({ agent: requester.agent, did: requester.did }, { exchange: exchange.did, encryptionPubKey: encKey(), input: { prompt: "A" }, maxTokensOut: 200 });
    const before = await listReceipts();
    mm.send({ ...fx.msg, admission: "pending" });
    const uri = fx.msg.job.uri;
    await mm.next((m) => m.jobUri === uri && (m.type === "accepted" || m.type === "error"), 60_000);
    mm.send({ type: "cancel", jobUri: uri, reason: "below_floor", discard: true });
    const end = await mm.next((m) => m.jobUri === uri && (m.type === "done" || m.type === "error"), 60_000);
    assert.equal(end.type, "error", JSON.stringify(end));
    assert.equal(end.code, "not_admitted");
    assert.equal(await listReceipts(), before);
  });

  it("serves pro bono for requesters the owner elected: zero tokens and price, still verifies", async () => {
    const cur = (await getRecord(provider.agent, provider.did, PROVIDER_COLLECTION, agent.rkey))!;
    await putRecord(provider.agent, PROVIDER_COLLECTION, agent.rkey, { ...cur.value, proBono: { mode: "direct", dids: [requester.did] } }, { swapRecord: cur.cid });
    await agent.syncWithRecord();
    const fx = await makeJob({ agent: requester.agent, did: requester.did }, { exchange: exchange.did, encryptionPubKey: encKey(), input: { prompt: "A" }, maxTokensOut: 8 });
    const { end, chunks } = await dispatch(fx);
    assert.equal(end.type, "done", JSON.stringify(end));
    assert.equal(end.proBono, true);
    assert.ok(chunks.join("").length > 0, "the work was done");
    const receipt = (await getRecord(net.pdsUrl, provider.did, "dev.cocore.compute.receipt", (end.receipt as { uri: string }).uri.split("/").pop()!))!;
    assert.equal(receipt.value.proBono, true);
    assert.deepEqual(receipt.value.tokens, { in: 0, out: 0 });
    assert.deepEqual(receipt.value.price, { amount: 0, currency: "TOK" });
    const attRef = receipt.value.attestation as { uri: string };
    const attestation = (await getRecord(net.pdsUrl, provider.did, "dev.cocore.compute.attestation", attRef.uri.split("/").pop()!))!;
    const verdict = verifyReceipt({ receipt, job: fx.job, attestation, paymentAuthorization: fx.paymentAuthorization, policy });
    assert.deepEqual(verdict.findings, []);
  });

  async function listReceipts(): Promise<number> {
    const { listRecords } = await import("@cocore/atproto");
    return (await listRecords(net.pdsUrl, provider.did, "dev.cocore.compute.receipt")).length;
  }
});
