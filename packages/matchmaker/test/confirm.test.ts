// Job confirmation against the requester's PDS must not hang a dispatch: a PDS that accepts the
// connection and never answers counts as "not confirmed", and the job's expiry ends the request.
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type { IdResolver } from "@cocore/atproto";
import { startMatchmaker, type Matchmaker } from "../src/index.ts";
import { fakeAgent, fakeExchange, makeDispatch, postDispatch, waitFor, type FakeAgent, type FakeExchange } from "./support.ts";

describe("job confirmation against an unresponsive PDS", () => {
  let tarpit: Server;
  let resolver: IdResolver;
  let fx: FakeExchange;
  const open: Array<{ close(): unknown }> = [];
  const sockets = new Set<Socket>();

  before(async () => {
    tarpit = createServer((s) => void sockets.add(s)); // accepts, never answers
    await new Promise<void>((r) => tarpit.listen(0, "127.0.0.1", r));
    const pds = `http://127.0.0.1:${(tarpit.address() as AddressInfo).port}`;
    resolver = { did: { resolveAtprotoData: async () => ({ pds }) } } as unknown as IdResolver;
    fx = await fakeExchange();
  });
  after(async () => {
    for (const o of open) await o.close();
    await fx.close();
    for (const s of sockets) s.destroy();
    tarpit.close();
  });

  async function setup(confirmTimeoutMs: number): Promise<{ mm: Matchmaker; a: FakeAgent }> {
    const mm = await startMatchmaker({
      did: "did:plc:matchmaker0000000000000",
      serviceAuth: async () => "tok",
      exchange: { did: fx.did, url: fx.url },
      idResolver: resolver,
      verifyRegistrations: false,
      confirmJobs: true,
      confirmTimeoutMs,
      timeouts: { acceptMs: 60_000, firstChunkMs: 60_000, idleMs: 60_000, reconnectGraceMs: 60_000 },
      log: () => {},
    });
    const a = fakeAgent(mm.url);
    open.push(a, mm);
    await a.registered;
    return { mm, a };
  }

  test("a confirmation that times out refuses the job by name and releases the hold", async () => {
    const { mm, a } = await setup(200);
    const releases = fx.releases.length;
    const req = makeDispatch(a.encryption.publicKey, { expiresInMs: 60_000 });
    const r = await postDispatch(mm.url, req);
    assert.equal(r.error?.code, "invalid_job");
    assert.equal(fx.releases.length, releases + 1);
    await waitFor(() => a.control.some((m) => m.jobUri === req.job.uri && m.type === "cancel" && m.discard === true), "the agent is told to discard");
  });

  test("the job's expiry ends the request even while confirmation still waits", async () => {
    const { mm, a } = await setup(10 * 60_000);
    const r = await postDispatch(mm.url, makeDispatch(a.encryption.publicKey, { expiresInMs: 500 }));
    assert.notEqual(r.status, 200);
    assert.equal(r.error?.code, "job_expired");
    assert.deepEqual(mm.registry.cooldowns().filter((c) => c.machineId === a.machineId), [], "the job's own expiry is no failure of the machine");
  });
});
