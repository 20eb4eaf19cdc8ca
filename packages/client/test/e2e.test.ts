// End to end on the real local network with the real engine (the bundled model): SDK → records on
// the PDS → matchmaker → exchange admission → agent → receipt → firehose → settlement.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { base64Encode, generateEncryptionKeyPair, generateSigningKey } from "@cocore/protocol";
import { collectHostFacts, publishAttestation } from "@cocore/agent";
import { ClientError, type CocoreClient } from "../src/index.ts";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { fakeAgent } from "../../matchmaker/test/support.ts";

const MODEL_FILE = new URL("../../../models/fortunes-char.gguf", import.meta.url).pathname;

describe("job dispatch end to end", { skip: existsSync(MODEL_FILE) ? false : `bundled model missing (${MODEL_FILE})` }, () => {
  let coop: Cooperative;
  let alice: CocoreClient;

  before(async () => {
    coop = await startCooperative({ requesters: ["alice", "bob", "carol"], engine: "llama" });
    alice = coop.clientFor(coop.accounts.requesters[0]!);
  });
  after(async () => {
    await coop?.close();
  });

  test("job → receipt → settlement, balances exactly as the policy says", async () => {
    const requester = coop.accounts.requesters[0]!.did;
    const provider = coop.accounts.provider.did;
    const treasury = coop.exchange.did;
    // First touches (grants) before measuring, so the deltas are the receipt's alone.
    for (const did of [requester, provider, treasury]) await coop.exchange.touch(did);
    const before = { r: await coop.exchange.balance(requester), p: await coop.exchange.balance(provider), t: await coop.exchange.balance(treasury) };
    let streamed = "";
    const result = await alice.run("Tell me a fortune.", { model: coop.model, maxTokens: 24, onChunk: (t) => (streamed += t) });
    assert.ok(result.text.length > 0, "the model produced text");
    // Only the chosen provider may write a receipt for this job (no sniping from the firehose).
    assert.deepEqual(result.jobRecord.acceptedProviders, [provider]);
    assert.equal(streamed, result.text);
    assert.equal(result.outputMatches, true, "outputCommitment matches what we received");
    // The output crossed the matchmaker sealed; the provider committed to the frames as relayed.
    assert.match(result.outputCipherCommitment, /^[0-9a-f]{64}$/);
    assert.equal(result.cipherMatches, true, "done's outputCipherCommitment is over the frames we received");
    assert.ok(result.tokens.out > 0 && result.tokens.out <= 24);
    assert.equal(result.price.amount, result.tokens.in + result.tokens.out, "TOK rate: price = in + out");
    const verdict = await alice.verify(result);
    assert.deepEqual(verdict.findings, []);
    assert.equal(verdict.ok, true);
    assert.equal(verdict.receipt.value.outputCipherCommitment, result.outputCipherCommitment, "the signed receipt commits to the sealed reply we got");
    const tampered = await alice.verify({ ...result, outputCipherCommitment: "0".repeat(64) });
    assert.equal(tampered.ok, false, "a different sealed reply does not verify");
    assert.ok(verdict.receipt.value.brokerageCountersignature, "the receipt carries the matchmaker's countersignature (verify checked it against the published key)");
    const settlement = await alice.waitForSettlement(result.receipt.uri, { timeoutMs: 30_000 });
    const price = result.price.amount;
    const fee = Math.floor((price * 500) / 10_000);
    assert.equal(settlement.amountCharged, price);
    assert.equal(settlement.exchangeFee, fee);
    assert.equal(settlement.providerPayout, price - fee);
    assert.equal(await coop.exchange.balance(requester), before.r - price);
    assert.equal(await coop.exchange.balance(provider), before.p + price - fee);
    assert.equal(await coop.exchange.balance(treasury), before.t + fee);
    const acct = await coop.exchange.account(requester);
    assert.equal(acct.held, 0, "the hold is gone once settled");
  });

  test("self-loop: the provider pays itself, nothing moves", async () => {
    const self = coop.clientFor(coop.accounts.provider);
    await self.balance();
    const before = await coop.exchange.balance(coop.accounts.provider.did);
    const result = await self.run("Another one.", { model: coop.model, maxTokens: 8 });
    const s = await self.waitForSettlement(result.receipt.uri, { timeoutMs: 30_000 });
    // The record states what was consumed (as cocore.dev writes it); the member nets to zero.
    const price = result.price.amount;
    assert.ok(price > 0);
    assert.deepEqual([s.amountCharged, s.providerPayout, s.exchangeFee], [price, price, 0]);
    assert.equal(await coop.exchange.balance(coop.accounts.provider.did), before);
  });

  test("refusals are named: unknown model, trust level, below the floor", async () => {
    await assert.rejects(alice.run("x", { model: "no-such-model", maxTokens: 4 }), (e: ClientError) => e.code === "no_providers_for_model");
    await assert.rejects(alice.run("x", { model: coop.model, maxTokens: 4, acceptedTrustLevel: "hardware-attested" }), (e: ClientError) => e.code === "no_providers_for_trust");
    const before = await coop.exchange.account(coop.accounts.requesters[0]!.did);
    await assert.rejects(alice.run("x", { model: coop.model, maxTokens: 4, priceCeiling: before.balance }), (e: ClientError) => e.code === "below_floor" && e.message.length > 10);
    const afterAcct = await coop.exchange.account(coop.accounts.requesters[0]!.did);
    assert.equal(afterAcct.held, before.held, "a refused job holds nothing");
  });

  test("concurrent jobs near the floor: never more admitted than the balance allows", async () => {
    const bob = coop.clientFor(coop.accounts.requesters[1]!);
    await bob.balance();
    const start = await coop.exchange.account(coop.accounts.requesters[1]!.did);
    const floor = 100_000;
    const ceiling = 300_000;
    const allowed = Math.floor((start.balance - start.held - floor) / ceiling);
    const runs = await Promise.allSettled(Array.from({ length: allowed + 2 }, () => bob.run("Go.", { model: coop.model, maxTokens: 4, priceCeiling: ceiling })));
    const ok = runs.filter((r) => r.status === "fulfilled");
    const refused = runs.filter((r) => r.status === "rejected").map((r) => String(((r as PromiseRejectedResult).reason as ClientError).code));
    assert.equal(ok.length, allowed, `refused: ${refused.join(", ")}`);
    assert.deepEqual(refused, ["below_floor", "below_floor"]);
    for (const r of ok) await bob.waitForSettlement((r as PromiseFulfilledResult<Awaited<ReturnType<typeof bob.run>>>).value.receipt.uri, { timeoutMs: 30_000 });
    const end = await coop.exchange.account(coop.accounts.requesters[1]!.did);
    const spent = ok.reduce((n, r) => n + (r as PromiseFulfilledResult<Awaited<ReturnType<typeof bob.run>>>).value.price.amount, 0);
    assert.equal(end.balance, start.balance - spent);
    assert.equal(end.held, 0);
  });

  test("provider lost mid-answer: the requester gets provider_lost, is not charged and the hold is released", async () => {
    // A second provider whose machine drops after its first chunk, registered with a real attestation.
    const flaky = await coop.network.createAccount("flaky");
    const key = generateSigningKey();
    const enc = generateEncryptionKeyPair();
    const att = await publishAttestation(flaky.agent, {
      signingKey: key, encryptionPublicKey: enc.publicKey, host: collectHostFacts(), serialSalt: "00", binaryHash: "0".repeat(64), now: new Date(),
    });
    const fa = fakeAgent(coop.matchmaker.url, { provider: flaky.did, models: ["flaky-model"], signingKey: key, encryption: enc, attestation: { uri: att.uri, cid: att.cid }, behaviour: "drop-mid-output" });
    await fa.registered;
    const carolAcct = coop.accounts.requesters[2]!;
    const carol = coop.clientFor(carolAcct);
    await carol.balance();
    const before = await coop.exchange.account(carolAcct.did);
    await assert.rejects(carol.run("x", { model: "flaky-model", maxTokens: 4 }), (e: ClientError) => e.code === "provider_lost");
    // The matchmaker releases the hold before it reports the error, so it is gone by now (not
    // merely lapsing at expiresAt).
    const afterAcct = await coop.exchange.account(carolAcct.did);
    assert.equal(afterAcct.balance, before.balance, "no charge");
    assert.equal(afterAcct.held, before.held, "hold released");
    assert.equal(afterAcct.available, before.available, "available restored");
    assert.ok(base64Encode(enc.publicKey).length > 0);
  });
});
