// The provider record lifecycle of seed 003 against the real local PDS: provisioning → ready,
// serving:false on shutdown (in-process and via SIGTERM to `cocore agent serve`), one record per
// machine across restarts, engineFault with the stub fallback, desiredModels reloads, and owner
// fields surviving every re-publish (including a concurrent owner edit).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { createRecord, getRecord, putRecord, startLocalNetwork, type Account, type LocalNetwork } from "@cocore/atproto";
import { bundledModelPath, KEY_FILE, loadOrCreateState, PROVIDER_COLLECTION, ProviderRecord, startAgent, verifyAttestationSignature } from "@cocore/agent";
import { fakeLoader, providerRecord, providerRecords, startFakeMatchmaker, tempDir, waitFor } from "./support.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

describe("provider record lifecycle", () => {
  let net: LocalNetwork;
  let provider: Account;
  const dirs: Array<() => void> = [];

  before(async () => {
    net = await startLocalNetwork();
    provider = await net.createAccount("lifecycle-provider");
  });
  after(async () => {
    for (const c of dirs) c();
    await net?.close();
  });

  function stateDir(): string {
    const t = tempDir("cocore-agent-");
    dirs.push(t.cleanup);
    return t.dir;
  }

  it("keeps keys in 0600 files and reuses them", () => {
    const dir = stateDir();
    const a = loadOrCreateState(dir);
    const b = loadOrCreateState(dir);
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(a.signingKey.publicKey, b.signingKey.publicKey);
    assert.deepEqual(a.encryption.publicKey, b.encryption.publicKey);
    assert.equal(statSync(join(dir, KEY_FILE)).mode & 0o777, 0o600);
  });

  it("publishes provisioning, becomes ready once the matchmaker registers it, and serving:false on stop", async () => {
    const mm = await startFakeMatchmaker({ acceptRegistrations: false });
    const dir = stateDir();
    const agent = await startAgent({
      pds: net.pdsUrl,
      handle: provider.handle,
      password: provider.password,
      stateDir: dir,
      engine: "stub",
      matchmaker: mm.url,
      log: () => {},
    });
    try {
      const first = await providerRecord(net.pdsUrl, agent.did, agent.rkey);
      assert.equal(first?.provisioning, true, "provisioning until the matchmaker has registered the machine");
      assert.equal(first?.serving, true);
      assert.equal(first?.binaryVersion, "0.1.0");
      assert.equal(first?.trustLevel, "self-attested");
      assert.deepEqual(first?.supportedModels, ["stub"]);
      assert.deepEqual(first?.priceList, [{ modelId: "stub", inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000, currency: "TOK" }]);
      const reg = await mm.next((m) => m.type === "register");
      assert.equal(reg.providerDid, agent.did);
      assert.equal(reg.machineId, agent.rkey);
      assert.equal(reg.attestationPubKey, agent.state.signingKey.publicKey);
      mm.acceptPending();
      const ready = await waitFor("provisioning:false", async () => {
        const v = await providerRecord(net.pdsUrl, agent.did, agent.rkey);
        return v?.provisioning === false ? v : undefined;
      });
      assert.equal(ready.serving, true);
      assert.equal(ready.engineFault, undefined);
      // The attestation it references is on the PDS and self-signed by the machine key.
      const att = await getRecord(net.pdsUrl, agent.did, "dev.cocore.compute.attestation", agent.attestation.uri.split("/").pop()!);
      assert.ok(att && verifyAttestationSignature(att.value));
      assert.equal(att.value.publicKey, agent.state.signingKey.publicKey);
    } finally {
      await agent.stop();
      await mm.close();
    }
    const stopped = await providerRecord(net.pdsUrl, agent.did, agent.rkey);
    assert.equal(stopped?.serving, false);
  });

  it("reuses the record of the same machine on restart and deletes duplicates", async () => {
    const dir = stateDir();
    const opts = { pds: net.pdsUrl, handle: provider.handle, password: provider.password, stateDir: dir, engine: "stub" as const, log: () => {} };
    const first = await startAgent(opts);
    const rkey = first.rkey;
    await first.stop();
    // A duplicate (e.g. from an older agent that created a record per run) for the same machine key.
    const dupValue = { ...(await providerRecord(net.pdsUrl, first.did, rkey))! };
    const dup = await createRecord(provider.agent, PROVIDER_COLLECTION, dupValue);
    const second = await startAgent(opts);
    try {
      assert.equal(second.rkey, rkey);
      const mine = (await providerRecords(net.pdsUrl, second.did)).filter((r) => r.value.attestationPubKey === second.state.signingKey.publicKey);
      assert.deepEqual(
        mine.map((r) => r.uri),
        [second.providerUri],
      );
      assert.notEqual(dup.uri, second.providerUri);
    } finally {
      await second.stop();
    }
  });

  it("records engineFault model-load-failed and serves only the stub when the model does not load", async () => {
    const agent = await startAgent({
      pds: net.pdsUrl,
      handle: provider.handle,
      password: provider.password,
      stateDir: stateDir(),
      engine: "llama",
      model: "/nonexistent/broken.gguf",
      modelId: "broken-model",
      log: () => {},
    });
    try {
      const v = await providerRecord(net.pdsUrl, agent.did, agent.rkey);
      const fault = v?.engineFault as { code: string; message: string; at: string; models: string[] };
      assert.equal(fault.code, "model-load-failed");
      assert.deepEqual(fault.models, ["broken-model"]);
      assert.ok(fault.message.length > 0 && fault.message.length <= 600);
      assert.deepEqual(v?.supportedModels, ["stub"]);
      assert.equal(v?.provisioning, false);
      assert.equal(agent.engineState, "fault");
    } finally {
      await agent.stop();
    }
  });

  it("reloads the engine when the owner changes desiredModels; a model that fails stays out", async () => {
    const loader = fakeLoader(["alpha", "beta"]);
    const agent = await startAgent({
      pds: net.pdsUrl,
      handle: provider.handle,
      password: provider.password,
      stateDir: stateDir(),
      engine: "llama",
      modelId: "alpha",
      engineLoader: loader,
      pollMs: 200,
      log: () => {},
    });
    try {
      assert.deepEqual(agent.supportedModels, ["alpha"]);
      const cur = (await getRecord(provider.agent, agent.did, PROVIDER_COLLECTION, agent.rkey))!;
      await putRecord(provider.agent, PROVIDER_COLLECTION, agent.rkey, { ...cur.value, desiredModels: ["beta", "gamma"] }, { swapRecord: cur.cid });
      const v = await waitFor("supportedModels to follow desiredModels", async () => {
        const r = await providerRecord(net.pdsUrl, agent.did, agent.rkey);
        return JSON.stringify(r?.supportedModels) === JSON.stringify(["beta"]) && r?.provisioning === false ? r : undefined;
      });
      assert.deepEqual(v.desiredModels, ["beta", "gamma"], "desiredModels is the owner's and is kept");
      assert.deepEqual((v.engineFault as { models: string[] }).models, ["gamma"]);
      assert.ok(loader.loads.includes("beta") && loader.loads.includes("gamma"));
      assert.deepEqual(agent.supportedModels, ["beta"]);
    } finally {
      await agent.stop();
    }
  });

  it("with the real llama engine, desiredModels loads a GGUF from --models-dir by id", async () => {
    const modelsDir = stateDir();
    symlinkSync(bundledModelPath(), join(modelsDir, "fortunes-copy.gguf"));
    const agent = await startAgent({
      pds: net.pdsUrl,
      handle: provider.handle,
      password: provider.password,
      stateDir: stateDir(),
      modelsDir,
      threads: 1,
      pollMs: 200,
      log: () => {},
    });
    try {
      assert.deepEqual(agent.supportedModels, ["fortunes-char"]);
      const cur = (await getRecord(provider.agent, agent.did, PROVIDER_COLLECTION, agent.rkey))!;
      await putRecord(provider.agent, PROVIDER_COLLECTION, agent.rkey, { ...cur.value, desiredModels: ["fortunes-copy"] }, { swapRecord: cur.cid });
      await waitFor("the reload", async () => {
        const r = await providerRecord(net.pdsUrl, agent.did, agent.rkey);
        return JSON.stringify(r?.supportedModels) === '["fortunes-copy"]' && r?.provisioning === false && r.engineFault === undefined ? r : undefined;
      });
      assert.deepEqual(agent.supportedModels, ["fortunes-copy"]);
    } finally {
      await agent.stop();
    }
  });

  it("preserves owner-written fields on every re-publish, even across a concurrent owner edit", async () => {
    const agent = await startAgent({ pds: net.pdsUrl, handle: provider.handle, password: provider.password, stateDir: stateDir(), engine: "stub", log: () => {} });
    const exchangeDid = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    try {
      const cur = (await getRecord(provider.agent, agent.did, PROVIDER_COLLECTION, agent.rkey))!;
      const owner = { machineLabel: "Owner's box", proBono: { mode: "direct", dids: [exchangeDid] }, acceptedExchanges: [exchangeDid], payoutsEnabled: true, active: true };
      await putRecord(provider.agent, PROVIDER_COLLECTION, agent.rkey, { ...cur.value, ...owner }, { swapRecord: cur.cid });

      // A second writer for the same machine whose first putRecord races an owner edit.
      const rec = new ProviderRecord(provider.agent, agent.did, agent.state.signingKey.publicKey);
      await rec.adopt();
      const repo = provider.agent.com.atproto.repo;
      const realPut = repo.putRecord.bind(repo);
      let raced = false;
      repo.putRecord = (async (...args: Parameters<typeof realPut>) => {
        if (!raced) {
          raced = true;
          const now = (await getRecord(provider.agent, agent.did, PROVIDER_COLLECTION, agent.rkey))!;
          await realPut({ repo: agent.did, collection: PROVIDER_COLLECTION, rkey: agent.rkey, record: { ...now.value, desiredModels: ["stub"] } });
        }
        return realPut(...args);
      }) as typeof repo.putRecord;
      try {
        await rec.publish({ serving: true, binaryVersion: "9.9.9" }, {});
      } finally {
        repo.putRecord = realPut;
      }
      assert.ok(raced);
      await agent.stop();
      const v = (await providerRecord(net.pdsUrl, agent.did, agent.rkey))!;
      for (const [k, val] of Object.entries(owner)) assert.deepEqual(v[k], val, `owner field ${k} kept`);
      assert.deepEqual(v.desiredModels, ["stub"], "the concurrent owner edit survived");
      assert.equal(v.serving, false);
      assert.equal(v.binaryVersion, "0.1.0");
    } finally {
      await agent.stop();
    }
  });

  it("reconnects after the matchmaker drops it, and records advisorFault after repeated failures", async () => {
    const mm = await startFakeMatchmaker();
    const agent = await startAgent({
      pds: net.pdsUrl,
      handle: provider.handle,
      password: provider.password,
      stateDir: stateDir(),
      engine: "stub",
      matchmaker: mm.url,
      advisorFaultAfter: 3,
      backoff: { initialMs: 20, maxMs: 100, factor: 2 },
      log: () => {},
    });
    try {
      await waitFor("first registration", () => (agent.matchmakerConnected ? true : undefined));
      for (const ws of mm.sockets) ws.terminate();
      await waitFor("a second registration", () => (mm.messages.filter((m) => m.type === "register").length >= 2 ? true : undefined));
      await waitFor("reconnected", () => (agent.matchmakerConnected ? true : undefined));
      await mm.close(); // now every attempt fails
      const faulted = await waitFor("advisorFault", async () => {
        const v = await providerRecord(net.pdsUrl, agent.did, agent.rkey);
        return v?.advisorFault ? v : undefined;
      });
      assert.equal((faulted.advisorFault as { code: string }).code, "advisor-unreachable");
      assert.equal(faulted.serving, true);
    } finally {
      await agent.stop();
    }
  });

  it("`cocore agent serve` publishes serving:false on SIGTERM and exits 0", async () => {
    const dir = stateDir();
    const child = spawn(
      process.execPath,
      [join(ROOT, "packages/cli/bin/cocore.mjs"), "agent", "serve", "--pds", net.pdsUrl, "--handle", provider.handle, "--state-dir", dir, "--engine", "stub", "--json"],
      { env: { ...process.env, COCORE_AGENT_PASSWORD: provider.password }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const summary = await waitFor("the agent's JSON summary", () => {
        try {
          return JSON.parse(stdout) as { did: string; machineId: string; provider: string };
        } catch {
          return undefined;
        }
      }, 60_000);
      const up = await providerRecord(net.pdsUrl, summary.did, summary.machineId);
      assert.equal(up?.serving, true);
      assert.equal(up?.provisioning, false);
      child.kill("SIGTERM");
      assert.equal(await exited, 0, stderr);
      const down = await providerRecord(net.pdsUrl, summary.did, summary.machineId);
      assert.equal(down?.serving, false);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
