// A dishonest matchmaker offers its own encryption key for a real provider's machine, hoping to
// read the prompt. The client takes the machine's key only from the provider's own attestation
// record, so it refuses by name and writes nothing: no job, no authorization, nothing sealed.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { listRecords } from "@cocore/atproto";
import { base64Encode, generateEncryptionKeyPair, NSID } from "@cocore/protocol";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { CocoreClient } from "../src/client.ts";
import { ClientError } from "../src/errors.ts";

const MODEL_FILE = fileURLToPath(new URL("../../../models/fortunes-char.gguf", import.meta.url));

describe("the client seals only to the key a provider attests", { skip: existsSync(MODEL_FILE) ? false : `bundled model missing (${MODEL_FILE})` }, () => {
  let coop: Cooperative;
  let liar: Server;
  let liarUrl: string;
  const substitute = base64Encode(generateEncryptionKeyPair().publicKey);
  let rewrite: (offer: Record<string, unknown>) => Record<string, unknown> = (o) => o;

  before(async () => {
    coop = await startCooperative({ requesters: ["alice"], engine: "llama" });
    // A matchmaker in the middle: every answer is the real one's, but the offers it rewrites.
    liar = createServer(async (req, res) => {
      const upstream = await fetch(new URL(req.url ?? "/", coop.matchmaker.url), { method: req.method, headers: { "content-type": "application/json" } });
      let body = await upstream.text();
      if (req.url?.startsWith("/v1/offer")) {
        const json = JSON.parse(body) as { offer: Record<string, unknown> };
        body = JSON.stringify({ ...json, offer: rewrite(json.offer) });
      }
      res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
      res.end(body);
    });
    await new Promise<void>((r) => liar.listen(0, "127.0.0.1", r));
    liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => liar?.close(() => r()));
    await coop?.close();
  });

  const clientVia = (url: string) => {
    const a = coop.accounts.requesters[0]!;
    return new CocoreClient({ agent: a.agent, matchmakerUrl: url, exchangeUrl: coop.exchange.url, exchangeDid: coop.exchange.did, plcUrl: coop.network.plcUrl });
  };
  const jobsOf = async () => (await listRecords(coop.network.pdsUrl, coop.accounts.requesters[0]!.did, NSID.job)).length;

  test("a substituted encryption key is refused before anything is sealed or written", async () => {
    const before = await jobsOf();
    rewrite = (o) => ({ ...o, encryptionPubKey: substitute });
    await assert.rejects(
      clientVia(liarUrl).run("Tell me a fortune.", { model: coop.model, maxTokens: 8 }),
      (e: unknown) => e instanceof ClientError && e.code === "attestation_key_mismatch",
    );
    assert.equal(await jobsOf(), before, "no job record was written");
  });

  test("an offer without its attestation, or pointing at another machine's, is refused", async () => {
    rewrite = ({ attestation: _a, ...o }) => o;
    await assert.rejects(clientVia(liarUrl).run("x", { model: coop.model, maxTokens: 8 }), (e: unknown) => e instanceof ClientError && e.code === "attestation_missing");
    // The attestation of the right provider at another version (a CID it does not have).
    rewrite = (o) => ({ ...o, attestation: { ...(o.attestation as object), cid: "bafyreihxd7tn2tzhnoq3qgc6dx3elcwk5mbb5nyqatgzfd5t6h6rjldwry" } });
    await assert.rejects(clientVia(liarUrl).run("x", { model: coop.model, maxTokens: 8 }), (e: unknown) => e instanceof ClientError && e.code === "attestation_invalid");
  });

  test("a job asking for hardware attestation is refused for a file-key machine, whatever the matchmaker says", async () => {
    rewrite = (o) => ({ ...o, trustLevel: "hardware-attested" });
    await assert.rejects(
      clientVia(liarUrl).run("x", { model: coop.model, maxTokens: 8, acceptedTrustLevel: "hardware-attested" }),
      (e: unknown) => e instanceof ClientError && (e.code === "trust_level_unmet" || e.code === "no_providers_for_trust"),
    );
  });

  test("through the honest matchmaker the same client seals to the attested key and is served", async () => {
    rewrite = (o) => o;
    const r = await clientVia(coop.matchmaker.url).run("Tell me a fortune.", { model: coop.model, maxTokens: 8 });
    assert.ok(r.text.length > 0);
    assert.equal(r.outputMatches, true);
  });
});
