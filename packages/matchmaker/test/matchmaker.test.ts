// The matchmaker against a scripted exchange and scripted agents speaking the real agent wire
// protocol: routing filters, named refusals, relay, re-dispatch and hold release.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { base64Decode, countersignatureProblems, generateEncryptionKeyPair, generateSigningKey, openReply, outputCipherCommitment } from "@cocore/protocol";
import { startMatchmaker, type Matchmaker } from "../src/index.ts";
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
    // Checked as the exchange and the client check it, against a key record stating mm's key.
    const keyRecord = { value: { keys: [{ publicKey: mm.brokerageKey, validFrom: new Date(0).toISOString() }], createdAt: new Date(0).toISOString() } };
    const ctx = { job: req.job, inputCommitment: String(req.jobRecord.inputCommitment), provider: a.provider, window: { from: 0, to: Date.now() } };
    assert.deepEqual(countersignatureProblems(cs, keyRecord, ctx), []);
    assert.equal(countersignatureProblems(cs, keyRecord, { ...ctx, inputCommitment: "f".repeat(64) }).length, 1);
    const dispatched = r.events[0] as { brokerageCountersignature?: unknown };
    assert.deepEqual(dispatched.brokerageCountersignature, cs, "the requester is shown the countersignature the agent got");
    // Admission named the machine the job went to.
    assert.equal(admit.provider, a.provider);
    assert.equal(typeof admit.machineKey, "string");
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
      // Past setTimeout's 2^31−1 ms a deadline would fire at once and count against the machine.
      ["invalid_job", makeDispatch(key, { model: "m-refusals", expiresInMs: 30 * 86_400_000 })],
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

  test("a machine id is only taken over by the same provider and attestation key", async () => {
    const signingKey = generateSigningKey();
    const victim = await agent({ models: ["m-hijack"], provider: "did:plc:victim0000000000000000000", signingKey });
    let victimClosed = false;
    victim.ws.on("close", () => (victimClosed = true));
    // Someone else, with the victim's machineId as read off /v1/providers.
    const other = fakeAgent(mm.url, { models: ["m-hijack"], provider: "did:plc:attacker00000000000000000", machineId: victim.machineId });
    agents.push(other);
    await assert.rejects(other.registered, /machine_id_taken/);
    // The same provider with a different attestation key is not the same machine either.
    const twin = fakeAgent(mm.url, { models: ["m-hijack"], provider: victim.provider, machineId: victim.machineId });
    agents.push(twin);
    await assert.rejects(twin.registered, /machine_id_taken/);
    assert.equal(victimClosed, false);
    assert.equal(mm.registry.get(victim.machineId)?.provider, victim.provider);
    const r = await postDispatch(mm.url, makeDispatch(victim.encryption.publicKey, { model: "m-hijack" }));
    assert.equal(r.status, 200, JSON.stringify(r.error));
    // The machine itself, reconnecting with its own keys, does replace its old connection.
    const again = await agent({ models: ["m-hijack"], provider: victim.provider, machineId: victim.machineId, encryption: victim.encryption, signingKey });
    await waitFor(() => victimClosed, "old connection replaced");
    assert.equal(mm.registry.get(again.machineId)?.connectionId !== undefined, true);
  });

  test("without attestation checks a machine is self-attested, whatever its register claims", async () => {
    const a = await agent({ trustLevel: "hardware-attested" });
    assert.equal(mm.registry.get(a.machineId)?.trustLevel, "self-attested");
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { acceptedTrustLevel: "hardware-attested" }));
    assert.equal(r.error?.code, "no_providers_for_trust");
    assert.equal(a.jobs.length, 0);
  });

  test("one connection registers one machine id", async () => {
    const a = await agent({ models: ["m-once"], alsoRegister: ["second-id-000", "third-id-0000"] });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(mm.registry.get(a.machineId)?.provider, a.provider);
    assert.equal(mm.registry.get("second-id-000"), undefined);
    assert.equal(mm.registry.get("third-id-0000"), undefined);
  });

  test("the job's own deadline ends it without counting against the machine", async () => {
    // A matchmaker whose per-step timeouts cannot fire first: only the job's expiresAt can.
    const slow = await startMatchmaker({
      did: MM_DID,
      serviceAuth: async () => "tok",
      exchange: { did: fx.did, url: fx.url },
      timeouts: { acceptMs: 60_000, firstChunkMs: 60_000, idleMs: 60_000, reconnectGraceMs: 60_000 },
      log: () => {},
    });
    const a = fakeAgent(slow.url, { models: ["m-deadline"], behaviour: "silent" });
    try {
      await a.registered;
      const r = await postDispatch(slow.url, makeDispatch(a.encryption.publicKey, { model: "m-deadline", expiresInMs: 400 }));
      assert.equal(r.error?.code, "provider_timeout");
      assert.deepEqual(slow.registry.cooldowns().filter((c) => c.machineId === a.machineId), [], "the job's own expiry is no failure of the machine");
    } finally {
      a.close();
      await slow.close();
    }
  });

  test("a drop before the first token is re-dispatched once to the machine when it comes back", async () => {
    const signingKey = generateSigningKey();
    const a = await agent({ models: ["m-redispatch"], behaviour: "drop-before-output", signingKey });
    const req = makeDispatch(a.encryption.publicKey, { model: "m-redispatch" });
    const pending = postDispatch(mm.url, req);
    await waitFor(() => a.jobs.length === 1, "first attempt");
    // The same machine reconnects (same keys, same machine id) and serves it.
    await new Promise((r) => setTimeout(r, 50));
    const b = await agent({ models: ["m-redispatch"], machineId: a.machineId, encryption: a.encryption, signingKey });
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
