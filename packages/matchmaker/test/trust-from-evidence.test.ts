// The attack: an agent registers saying `hardware-attested` (and publishes an attestation whose
// fields claim a secure enclave) to take the jobs that ask for hardware attestation. The real
// matchmaker derives the level from the attestation record on the provider's PDS with the shared
// check — a key that signs its own posture proves nothing about the hardware — so the machine is
// routed as self-attested: a hardware-attested job is refused `no_providers_for_trust` and never
// reaches it, while a self-attested job still does.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRecord, type Account } from "@cocore/atproto";
import { base64Encode, generateEncryptionKeyPair, generateSigningKey, NSID, signRecord, type EncryptionKeyPair, type SigningKey } from "@cocore/protocol";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { ClientError } from "../../client/src/errors.ts";
import type { ProviderOffer } from "../src/wire.ts";
import { fakeAgent, makeDispatch, postDispatch, waitFor, type FakeAgent } from "./support.ts";

/** An attestation claiming every hardware protection there is, properly self-signed. */
function boastfulAttestation(key: SigningKey, enc: EncryptionKeyPair): Record<string, unknown> {
  const now = Date.now();
  const unsigned = {
    $type: NSID.attestation,
    publicKey: key.publicKey,
    encryptionPubKey: base64Encode(enc.publicKey),
    sigScheme: "p256",
    encScheme: "x25519",
    chipName: "Apple M4 Max",
    hardwareModel: "Mac16,5",
    serialNumberHash: "a".repeat(64),
    osVersion: "macOS 26.1",
    binaryHash: "b".repeat(64),
    sipEnabled: true,
    secureBootEnabled: true,
    secureEnclaveAvailable: true,
    authenticatedRootEnabled: true,
    attestedAt: new Date(now - 1000).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    tier: "attested-confidential",
  };
  const signed = signRecord(unsigned, "selfSignature", key);
  return { ...signed, selfSignature: { $bytes: base64Encode(signed.selfSignature) } };
}

describe("trust comes from the attestation, not from the agent's register", () => {
  let coop: Cooperative;
  let mallory: Account;
  let liar: FakeAgent;

  before(async () => {
    coop = await startCooperative({ requesters: ["alice"], engine: "stub" });
    mallory = await coop.network.createAccount("mallory");
    const key = generateSigningKey();
    const encryption = generateEncryptionKeyPair();
    const attestation = await createRecord(mallory.agent, NSID.attestation, boastfulAttestation(key, encryption));
    liar = fakeAgent(coop.matchmaker.url, { provider: mallory.did, signingKey: key, encryption, attestation, trustLevel: "hardware-attested", models: [coop.model] });
    await liar.registered;
  });
  after(async () => {
    liar?.close();
    await coop?.close();
  });

  test("the machine is listed and offered as self-attested", async () => {
    const { providers } = (await (await fetch(`${coop.matchmaker.url}/v1/providers`)).json()) as { providers: ProviderOffer[] };
    const listed = providers.find((p) => p.provider === mallory.did);
    assert.equal(listed?.trustLevel, "self-attested");
    const res = await fetch(`${coop.matchmaker.url}/v1/offer?model=${coop.model}&trust=hardware-attested&provider=${mallory.did}`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "no_providers_for_trust");
  });

  test("a job requiring hardware-attested is refused by name and never reaches the machine", async () => {
    const client = coop.clientFor(coop.accounts.requesters[0]!);
    await assert.rejects(
      client.run("Tell me a fortune.", { model: coop.model, maxTokens: 4, acceptedTrustLevel: "hardware-attested", acceptedProviders: [mallory.did] }),
      (e: unknown) => e instanceof ClientError && e.code === "no_providers_for_trust",
    );
    // Straight at the dispatch endpoint, sealed to the liar's key, the same refusal before any admission.
    const r = await postDispatch(coop.matchmaker.url, makeDispatch(liar.encryption.publicKey, { requester: coop.accounts.requesters[0]!.did, model: coop.model, acceptedTrustLevel: "hardware-attested" }));
    assert.equal(r.status, 503);
    assert.equal(r.error?.code, "no_providers_for_trust");
    assert.equal(liar.jobs.length, 0, "the machine got no job");
  });

  test("a self-attested job is routed to the same machine (the test can tell the difference)", async () => {
    const client = coop.clientFor(coop.accounts.requesters[0]!);
    const result = await client.run("Tell me a fortune.", { model: coop.model, maxTokens: 4, acceptedProviders: [mallory.did] });
    assert.equal(result.provider, mallory.did);
    assert.equal(liar.jobs.length, 1);
  });

  test("a renewed attestation is checked like the first: one for other keys ends the session", async () => {
    const key = generateSigningKey();
    const encryption = generateEncryptionKeyPair();
    const first = await createRecord(mallory.agent, NSID.attestation, boastfulAttestation(key, encryption));
    const a = fakeAgent(coop.matchmaker.url, { provider: mallory.did, signingKey: key, encryption, attestation: first, models: [coop.model] });
    await a.registered;
    // "Renewed" to an attestation of another machine's keys (valid on its own, but not this machine's).
    const other = await createRecord(mallory.agent, NSID.attestation, boastfulAttestation(generateSigningKey(), generateEncryptionKeyPair()));
    const closed = new Promise<string>((resolve) => a.ws.once("close", (_code, reason) => resolve(reason.toString())));
    a.ws.send(JSON.stringify({ type: "heartbeat", at: new Date().toISOString(), models: [coop.model], engineState: "ready", activeJobs: 0, attestation: other }));
    assert.equal(await closed, "bad_attestation");
    await waitFor(() => coop.matchmaker.registry.get(a.machineId) === undefined, "the machine to leave routing");
  });
});
