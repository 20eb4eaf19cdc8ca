// Pairing a machine with a code and the console's write proxy, on a real cooperative (PLC, PDS,
// console with the owner signed in through OAuth): the machine gets a credential once, writes
// its own provider/attestation records into the owner's repo through the proxy, and everything
// else is refused with a stable code — other collections, other repos, another machine's
// records, other XRPC methods, unsigned/forged/replayed requests, and a revoked device.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Agent } from "@atproto/api";
import { createRecord, deleteRecord, getRecord, listRecords, putRecord } from "@cocore/atproto";
import { buildAttestation, collectHostFacts, deviceAgent, deviceRequestHeaders, pairMachine, PROVIDER_COLLECTION, type DeviceCredential } from "@cocore/agent";
import { generateEncryptionKeyPair, generateSigningKey, NSID, type SigningKey } from "@cocore/protocol";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { signInWithoutBrowser } from "../../../test-support/oauth.ts";

let coop: Cooperative;
let consoleUrl: string;
let cookie: string;
let dir: string;
const key: SigningKey = generateSigningKey();
let cred: DeviceCredential;
let device: Agent;

const owner = (path: string, init: RequestInit = {}) =>
  fetch(`${consoleUrl}${path}`, { ...init, headers: { cookie, origin: consoleUrl, "content-type": "application/json", ...(init.headers as Record<string, string> | undefined) } });
const codeOf = async (r: Response | Promise<Response>) => {
  const j = (await (await r).json()) as { error: { code: string } | string };
  return typeof j.error === "string" ? j.error : j.error.code;
};
/** The XRPC error name an Agent call failed with. */
async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { error?: string; cause?: { error?: string } }).cause?.error ?? (err as { error?: string }).error ?? (err as Error).message);
  }
  return "accepted";
}

/** Pairs `k` as `label`, the owner approving through the console's API; answers the credential. */
async function pair(k: SigningKey, label: string, stateDir: string): Promise<DeviceCredential> {
  let seen: (code: string) => void;
  const code = new Promise<string>((r) => (seen = r));
  const paired = pairMachine({ console: consoleUrl, stateDir, signingKey: k, label, onCode: (p) => seen(p.code) });
  const c = await code;
  const view = (await (await owner(`/api/pairings/${c}`)).json()) as { label: string; publicKey: string; status: string };
  assert.deepEqual([view.label, view.publicKey, view.status], [label, k.publicKey, "pending"]);
  assert.equal((await owner(`/api/pairings/${c}/approve`, { method: "POST", body: "{}" })).status, 200);
  return (await paired).credential;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "pairing-test-"));
  coop = await startCooperative({ console: true, engine: "stub" });
  consoleUrl = coop.console!.url;
  cookie = await signInWithoutBrowser(consoleUrl, coop.accounts.provider);
  cred = await pair(key, "lab box", dir);
  device = deviceAgent(cred, key);
});
after(async () => {
  await coop?.close();
  await rm(dir, { recursive: true, force: true });
});

test("a code approved by the signed-in owner gives the machine a 0600 credential for the owner's repo, once", async () => {
  assert.equal(cred.owner, coop.accounts.provider.did);
  assert.equal(cred.console, consoleUrl);
  assert.equal(statSync(join(dir, "device.json")).mode & 0o777, 0o600);
  const listed = (await (await owner("/api/devices")).json()) as { devices: Array<{ id: string; label: string; publicKey: string }> };
  assert.deepEqual(listed.devices.map((d) => [d.id, d.label, d.publicKey]), [[cred.deviceId, "lab box", key.publicKey]]);
  // A machine key already paired cannot be paired again (nor by another account) until revoked.
  let code = "";
  const again = pairMachine({ console: consoleUrl, stateDir: dir, signingKey: key, label: "again", onCode: (p) => (code = p.code) });
  again.catch(() => {});
  while (!code) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await codeOf(owner(`/api/pairings/${code}/approve`, { method: "POST", body: "{}" })), "machine_already_paired");
  // The poll secret is the machine's alone; and the owner's approve needs the owner, same-origin.
  assert.equal(await codeOf(fetch(`${consoleUrl}/api/pair/poll`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ code, pollSecret: "guess" }) })), "bad_poll_secret");
  assert.equal(await codeOf(fetch(`${consoleUrl}/api/pairings/${code}/approve`, { method: "POST", headers: { "content-type": "application/json", origin: consoleUrl }, body: "{}" })), "not_signed_in");
  assert.equal(await codeOf(owner(`/api/pairings/${code}/approve`, { method: "POST", body: "{}", headers: { origin: "http://evil.example" } })), "cross_origin");
  assert.equal((await owner(`/api/pairings/${code}/deny`, { method: "POST", body: "{}" })).status, 200);
  await assert.rejects(again, { code: "pairing_denied" });
  // A forged pairing request (a key the sender does not hold) is refused.
  const other = generateSigningKey();
  const forged = await fetch(`${consoleUrl}/api/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ publicKey: other.publicKey, label: "x", at: new Date().toISOString(), sig: "MEUCIQ" }) });
  assert.equal(await codeOf(forged), "bad_signature");
});

test("the proxy writes the machine's own records into the owner's repo", async () => {
  const did = coop.accounts.provider.did;
  const att = buildAttestation({ signingKey: key, encryptionPublicKey: generateEncryptionKeyPair().publicKey, host: collectHostFacts(), serialSalt: "s", binaryHash: "0".repeat(64), now: new Date() });
  const a = await createRecord(device, NSID.attestation, att);
  assert.ok(await getRecord(coop.network.pdsUrl, did, NSID.attestation, a.uri.split("/").pop()!));
  const p = await createRecord(device, PROVIDER_COLLECTION, { attestationPubKey: key.publicKey, machineLabel: "lab box", createdAt: new Date().toISOString() });
  const rkey = p.uri.split("/").pop()!;
  const mine = await getRecord(device, did, PROVIDER_COLLECTION, rkey);
  await putRecord(device, PROVIDER_COLLECTION, rkey, { ...mine!.value, serving: true }, { swapRecord: mine!.cid });
  assert.equal((await getRecord(coop.network.pdsUrl, did, PROVIDER_COLLECTION, rkey))!.value.serving, true);
  assert.ok((await listRecords(device, did, PROVIDER_COLLECTION)).some((r) => r.uri === p.uri));
  await deleteRecord(device, PROVIDER_COLLECTION, rkey);
  assert.equal(await getRecord(coop.network.pdsUrl, did, PROVIDER_COLLECTION, rkey), null);
});

test("the proxy refuses other collections, other repos, other machines' records and other methods", async () => {
  const did = coop.accounts.provider.did;
  const requester = coop.accounts.requesters[0]!.did;
  assert.equal(await refused(createRecord(device, NSID.job, { model: "x" })), "collection_not_allowed");
  assert.equal(await refused(createRecord(device, NSID.paymentAuthorization, {})), "collection_not_allowed");
  assert.equal(await refused(createRecord(device, "app.bsky.feed.post", { text: "hi", createdAt: new Date().toISOString() })), "collection_not_allowed");
  assert.equal(await refused(device.com.atproto.repo.createRecord({ repo: requester, collection: PROVIDER_COLLECTION, record: { attestationPubKey: key.publicKey } })), "repo_not_allowed");
  assert.equal(await refused(device.com.atproto.repo.listRecords({ repo: requester, collection: PROVIDER_COLLECTION })), "repo_not_allowed");
  // The cooperative's own agent is another machine of the same owner: its record is not ours.
  const theirs = (await getRecord(coop.network.pdsUrl, did, PROVIDER_COLLECTION, coop.agent.rkey))!;
  assert.equal(await refused(putRecord(device, PROVIDER_COLLECTION, coop.agent.rkey, { ...theirs.value, active: false })), "not_this_machine");
  assert.equal(await refused(putRecord(device, PROVIDER_COLLECTION, coop.agent.rkey, { ...theirs.value, attestationPubKey: key.publicKey })), "not_this_machine");
  assert.equal(await refused(deleteRecord(device, PROVIDER_COLLECTION, coop.agent.rkey)), "not_this_machine");
  assert.equal(await refused(createRecord(device, PROVIDER_COLLECTION, { attestationPubKey: generateSigningKey().publicKey })), "not_this_machine");
  // An attestation must be self-signed by this machine's key, a receipt signed by it.
  const att = buildAttestation({ signingKey: generateSigningKey(), encryptionPublicKey: generateEncryptionKeyPair().publicKey, host: collectHostFacts(), serialSalt: "s", binaryHash: "0".repeat(64), now: new Date() });
  assert.equal(await refused(createRecord(device, NSID.attestation, { ...att, publicKey: key.publicKey })), "not_this_machine");
  assert.equal(await refused(createRecord(device, NSID.receipt, { model: "x", enclaveSignature: { $bytes: "AAAA" } })), "not_this_machine");
  assert.equal(await refused(device.com.atproto.repo.applyWrites({ repo: did, writes: [{ $type: "com.atproto.repo.applyWrites#create", collection: NSID.job, value: {} }] })), "collection_not_allowed");
  assert.equal((await getRecord(coop.network.pdsUrl, did, PROVIDER_COLLECTION, coop.agent.rkey))!.cid, theirs.cid);
  assert.equal(await refused(device.com.atproto.server.getSession()), "method_not_allowed");
  assert.equal(await refused(device.com.atproto.repo.uploadBlob(new Uint8Array([1, 2, 3]))), "method_not_allowed");
});

test("the proxy refuses a missing, unsigned, forged or replayed request", async () => {
  const path = `/xrpc/com.atproto.repo.listRecords?repo=${encodeURIComponent(cred.owner)}&collection=${PROVIDER_COLLECTION}`;
  const get = (headers: Record<string, string>) => fetch(`${consoleUrl}${path}`, { headers });
  assert.equal(await codeOf(get({})), "device_credential_required");
  assert.equal(await codeOf(get({ authorization: "CocoreDevice cdv1.nope.nope" })), "invalid_device_credential");
  assert.equal(await codeOf(get({ authorization: `CocoreDevice ${cred.token}` })), "stale_request");
  // The token copied off the machine, without its key, writes nothing.
  assert.equal(await codeOf(get(deviceRequestHeaders(cred, generateSigningKey(), "GET", path))), "bad_signature");
  // Signed for another path: the signature covers the path (and the body).
  assert.equal(await codeOf(get(deviceRequestHeaders(cred, key, "GET", `${path}x`))), "bad_signature");
  const once = deviceRequestHeaders(cred, key, "GET", path);
  assert.equal((await get(once)).status, 200);
  assert.equal(await codeOf(get(once)), "replayed_request");
});

test("revoking the machine on the console stops its credential at once", async () => {
  const before = await createRecord(device, PROVIDER_COLLECTION, { attestationPubKey: key.publicKey });
  assert.equal(await codeOf(owner(`/api/devices/${cred.deviceId}/revoke`, { method: "POST", body: "{}", headers: { origin: "http://evil.example" } })), "cross_origin");
  assert.equal((await owner(`/api/devices/${cred.deviceId}/revoke`, { method: "POST", body: "{}" })).status, 200);
  assert.equal(await refused(createRecord(device, PROVIDER_COLLECTION, { attestationPubKey: key.publicKey })), "device_revoked");
  assert.equal(await refused(deleteRecord(device, PROVIDER_COLLECTION, before.uri.split("/").pop()!)), "device_revoked");
  assert.deepEqual(((await (await owner("/api/devices")).json()) as { devices: unknown[] }).devices, []);
  assert.equal(await codeOf(owner(`/api/devices/${cred.deviceId}/revoke`, { method: "POST", body: "{}" })), "no_such_device");
  // Revoked, the same machine may be paired again (a fresh credential).
  const fresh = await pair(key, "lab box again", dir);
  assert.notEqual(fresh.token, cred.token);
  // The re-pairing replaced the revoked row: the old token is now unknown, and still refused.
  assert.equal(await refused(createRecord(device, PROVIDER_COLLECTION, { attestationPubKey: key.publicKey })), "invalid_device_credential");
  assert.ok(await createRecord(deviceAgent(fresh, key), PROVIDER_COLLECTION, { attestationPubKey: key.publicKey }));
});
