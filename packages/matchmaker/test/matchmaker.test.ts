// The matchmaker against a scripted exchange and scripted agents speaking the real agent wire
// protocol: routing filters, named refusals, relay, re-dispatch and hold release.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { base64Decode, generateEncryptionKeyPair, openReply, outputCipherCommitment } from "@cocore/protocol";
import { startMatchmaker, verifyCountersignature, type Matchmaker } from "../src/index.ts";
import { fakeAgent, fakeExchange, makeDispatch, postDispatch, replyKeys, SERVED_PIECES, waitFor, type FakeAgent, type FakeExchange } from "./support.ts";

const MM_DID = "did:plc:matchmaker0000000000000";

describe("matchmaker", () => {
  let fx: FakeExchange;
  let mm: Matchmaker;
  const agents: FakeAgent[] = [];

  before(async () => {
    fx = await fakeExchange();
    mm = await startMatchmaker({
      did: MM_DID,
      serviceAuth: async (aud, lxm) => `token-for-${aud}-${lxm}`,
      exchange: { did: fx.did, url: fx.url },
      heartbeatIntervalMs: 200,
      timeouts: { acceptMs: 800, firstChunkMs: 800, idleMs: 800, reconnectGraceMs: 800 },
      log: () => {},
    });
  });
  after(async () => {
    for (const a of agents) a.close();
    await mm.close();
    await fx.close();
  });

  async function agent(opts: Parameters<typeof fakeAgent>[1] = {}): Promise<FakeAgent> {
    const a = fakeAgent(mm.url, opts);
    agents.push(a);
    await a.registered;
    return a;
  }

  test("serves a job: admission, countersigned job message, relayed stream, no release", async () => {
    const a = await agent();
    const req = makeDispatch(a.encryption.publicKey);
    const admitsBefore = fx.admits.length;
    const r = await postDispatch(mm.url, req);
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.deepEqual(r.events.map((e) => e.type), ["dispatched", "chunk", "chunk", "done"]);
    // The relay carries sealed frames only: no plaintext anywhere in what the matchmaker sent.
    const chunks = r.events.filter((e) => e.type === "chunk");
    for (const c of chunks) assert.deepEqual(Object.keys(c).sort(), ["sealed", "seq", "type"]);
    assert.deepEqual(a.plaintext.get(req.job.uri), SERVED_PIECES);
    for (const piece of SERVED_PIECES) assert.ok(!r.raw!.includes(piece), `plaintext ${JSON.stringify(piece)} was relayed`);
    const frames = chunks.map((c) => base64Decode(c.sealed));
    const key = replyKeys.get(req.job.uri)!;
    assert.equal(frames.map((f) => Buffer.from(openReply(f, key)!).toString("utf8")).join(""), SERVED_PIECES.join(""));
    assert.equal(openReply(frames[0]!, generateEncryptionKeyPair().secretKey), null, "only the reply key opens it");
    const done = r.events.at(-1) as { outputCipherCommitment: string };
    assert.equal(done.outputCipherCommitment, outputCipherCommitment(frames), "commitment over the relayed frames in order");
    // Admission ran in parallel: the job went out pending, and `admitted` followed.
    assert.equal(a.jobs.at(-1)!.admission, "pending");
    assert.deepEqual(a.control.filter((m) => m.jobUri === req.job.uri), [{ type: "admitted", jobUri: req.job.uri }]);
    assert.equal(fx.admits.length, admitsBefore + 1);
    const admit = fx.admits.at(-1)!;
    assert.deepEqual(admit.job, req.job);
    assert.equal(admit.requester, "did:plc:requester00000000000000");
    assert.deepEqual(admit.priceCeiling, { amount: 1000, currency: "TOK" });
    const sent = a.jobs.at(-1)!;
    assert.equal(sent.sealedInput, req.sealedInput);
    assert.equal(sent.exchange, fx.did);
    const cs = sent.brokerageCountersignature!;
    assert.equal(cs.authority, MM_DID);
    const receiptLike = { job: req.job, inputCommitment: req.jobRecord.inputCommitment, brokerageCountersignature: cs };
    assert.equal(verifyCountersignature(receiptLike, mm.brokerageKey), true);
    assert.equal(verifyCountersignature({ ...receiptLike, inputCommitment: "f".repeat(64) }, mm.brokerageKey), false);
    assert.equal(fx.releases.length, 0);
    // A job runs once.
    const again = await postDispatch(mm.url, req);
    assert.equal(again.error?.code, "job_already_dispatched");
  });

  test("offers and provider listings carry the encryption key", async () => {
    const a = await agent({ models: ["offer-model"] });
    const offer = (await (await fetch(`${mm.url}/v1/offer?model=offer-model`)).json()) as { offer: { machineId: string; encryptionPubKey: string } };
    assert.equal(offer.offer.machineId, a.machineId);
    assert.deepEqual(base64Decode(offer.offer.encryptionPubKey), a.encryption.publicKey);
    const list = (await (await fetch(`${mm.url}/v1/providers?model=offer-model`)).json()) as { providers: unknown[] };
    assert.equal(list.providers.length, 1);
    const none = await fetch(`${mm.url}/v1/offer?model=nope`);
    assert.equal(none.status, 503);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, "no_providers_for_model");
  });

  test("every refusal is a named code with a sentence", async () => {
    const a = await agent({ models: ["m-refusals"], acceptedExchanges: [] });
    await agent({ models: ["m-other-exchange"], acceptedExchanges: ["did:plc:someotherexchange0000000"] });
    await agent({ models: ["m-loading"], engineState: "loading" });
    const key = a.encryption.publicKey;
    const cases: Array<[string, ReturnType<typeof makeDispatch>]> = [
      ["no_providers_for_model", makeDispatch(key, { model: "no-such-model" })],
      ["no_providers_for_model", makeDispatch(key, { model: "m-loading" })],
      ["no_providers_for_trust", makeDispatch(key, { model: "m-refusals", acceptedTrustLevel: "hardware-attested" })],
      ["no_accepted_providers", makeDispatch(key, { model: "m-refusals", acceptedProviders: ["did:plc:nobody00000000000000000"] })],
      ["no_providers_for_exchange", makeDispatch(key, { model: "m-other-exchange" })],
      ["job_expired", makeDispatch(key, { model: "m-refusals", expiresInMs: -1000 })],
      ["exchange_not_accepted", makeDispatch(key, { model: "m-refusals", acceptedExchanges: ["did:plc:someotherexchange0000000"] })],
      ["provider_unavailable", makeDispatch(generateEncryptionKeyPair().publicKey, { model: "m-refusals" })],
    ];
    const tampered = makeDispatch(key, { model: "m-refusals" });
    tampered.sealedInput = Buffer.from("x".repeat(60)).toString("base64");
    cases.push(["commitment_mismatch", tampered]);
    const wrongCid = makeDispatch(key, { model: "m-refusals" });
    wrongCid.jobRecord.maxTokensOut = 17;
    cases.push(["invalid_job", wrongCid]);
    const admitsBefore = fx.admits.length;
    for (const [code, req] of cases) {
      const r = await postDispatch(mm.url, req);
      assert.notEqual(r.status, 200, code);
      assert.equal(r.error?.code, code);
      assert.ok(r.error!.message.length > 10, `${code} has a sentence`);
    }
    assert.equal(fx.admits.length, admitsBefore, "refused before asking the exchange");
  });

  test("the exchange's refusals are relayed with their code", async () => {
    const a = await agent({ models: ["m-floor"] });
    fx.decide = () => ({ status: 200, body: { admitted: false, code: "below_floor", message: "Balance would fall below the floor.", balance: 5, available: 5, nextRefreshAt: "2030-01-01T00:00:00.000Z" } });
    const r1 = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-floor" }));
    assert.equal(r1.status, 402);
    assert.equal(r1.error?.code, "below_floor");
    assert.equal((r1.error as Record<string, unknown>).nextRefreshAt, "2030-01-01T00:00:00.000Z");
    fx.decide = () => ({ status: 400, body: { error: "TermsNotAccepted", message: "Accept terms v2 first." } });
    const r2 = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-floor" }));
    assert.equal(r2.error?.code, "terms_not_accepted");
    fx.decide = () => ({ status: 200, body: { admitted: true, holdKey: "h", balance: 10, available: 9 } });
    // The provider got the jobs while admission was pending, and was told to discard them: never
    // `admitted`, so it writes no receipt (the fake, like the real agent, sends `done` only after it).
    assert.equal(a.jobs.length, 2);
    await waitFor(() => a.control.length === 2, "the cancels");
    assert.deepEqual(a.control.map((m) => [m.type, m.discard]), [["cancel", true], ["cancel", true]]);
    assert.equal(fx.releases.length, 0, "nothing was held");
  });

  test("admission refused while the agent already refused: the admission refusal wins, nothing held", async () => {
    const a = await agent({ models: ["m-both-refuse"], behaviour: "refuse" });
    fx.decide = () => ({ status: 200, body: { admitted: false, code: "below_floor", message: "Balance would fall below the floor." } });
    try {
      const releases = fx.releases.length;
      const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-both-refuse" }));
      assert.equal(r.error?.code, "below_floor");
      assert.equal(fx.releases.length, releases);
    } finally {
      fx.decide = () => ({ status: 200, body: { admitted: true, holdKey: "h", balance: 10, available: 9 } });
    }
  });

  test("an agent that streams plaintext is not relayed: provider_error, hold released", async () => {
    const a = await agent({ models: ["m-plaintext"], behaviour: "plaintext" });
    const releases = fx.releases.length;
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-plaintext" }));
    // Before or after admission completes (a race here): an HTTP error, or a terminal error event.
    const code = r.status === 200 ? (r.events.at(-1) as { code?: string }).code : r.error?.code;
    assert.equal(code, "provider_error");
    assert.ok(!(r.raw ?? "").includes("in the clear"));
    assert.ok(!r.events.some((e) => e.type === "chunk"));
    assert.equal(fx.releases.length, releases + 1);
  });

  test("an agent's refusal is relayed and the hold released", async () => {
    const a = await agent({ models: ["m-refuse"], behaviour: "refuse" });
    const releases = fx.releases.length;
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-refuse" }));
    assert.equal(r.error?.code, "decrypt_failed");
    assert.equal(fx.releases.length, releases + 1);
  });

  test("a silent agent times out with provider_timeout, hold released", async () => {
    const a = await agent({ models: ["m-silent"], behaviour: "silent" });
    const releases = fx.releases.length;
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-silent" }));
    assert.equal(r.error?.code, "provider_timeout");
    assert.equal(fx.releases.length, releases + 1);
  });

  test("a drop before the first token is re-dispatched once to the machine when it comes back", async () => {
    const a = await agent({ models: ["m-redispatch"], behaviour: "drop-before-output" });
    const req = makeDispatch(a.encryption.publicKey, { model: "m-redispatch" });
    const pending = postDispatch(mm.url, req);
    await waitFor(() => a.jobs.length === 1, "first attempt");
    // The same machine reconnects (same keys, same machine id) and serves it.
    await new Promise((r) => setTimeout(r, 50));
    const b = await agent({ models: ["m-redispatch"], machineId: a.machineId, encryption: a.encryption });
    const r = await pending;
    assert.equal(r.status, 200);
    assert.deepEqual(r.events.map((e) => e.type), ["dispatched", "redispatched", "dispatched", "chunk", "chunk", "done"]);
    assert.equal(b.jobs.length, 1);
  });

  test("a drop with no machine to take over ends in provider_lost and releases the hold", async () => {
    const a = await agent({ models: ["m-lost"], behaviour: "drop-before-output" });
    const releases = fx.releases.length;
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-lost" }));
    assert.equal(r.status, 200);
    const last = r.events.at(-1)!;
    assert.equal(last.type, "error");
    assert.equal((last as { code: string }).code, "provider_lost");
    assert.equal(fx.releases.length, releases + 1);
  });

  test("a drop mid-answer is not re-dispatched: provider_lost, hold released", async () => {
    const a = await agent({ models: ["m-mid"], behaviour: "drop-mid-output" });
    const releases = fx.releases.length;
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-mid" }));
    assert.deepEqual(r.events.map((e) => e.type), ["dispatched", "chunk", "error"]);
    assert.equal((r.events.at(-1) as { code: string }).code, "provider_lost");
    assert.equal(fx.releases.length, releases + 1);
  });

  test("a machine that stops answering pings is dropped from routing", async () => {
    const a = await agent({ models: ["m-stale"] });
    assert.ok(mm.registry.get(a.machineId));
    a.ws.pause(); // no more pongs or heartbeats
    await waitFor(() => mm.registry.get(a.machineId) === undefined, "stale drop", 4000);
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { model: "m-stale" }));
    assert.equal(r.error?.code, "no_providers_for_model");
  });
});
