// The client checks the matchmaker's countersignature of each dispatch against the key the
// matchmaker publishes in its own repo (dev.cocore.compute.brokerageKey), before it reads any
// output. The attack: something between the client and the matchmaker (or a matchmaker posing as
// another) forges, strips or replays the countersignature; the client refuses by name. Real
// cooperative (PLC, PDS, exchange, matchmaker, agent); the interloper rewrites the NDJSON stream.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { getRecord } from "@cocore/atproto";
import { BROKERAGE_KEY_RKEY, countersign, generateSigningKey, NSID, type Countersignature } from "@cocore/protocol";
import { startCooperative, type Cooperative } from "../../cli/src/cooperative.ts";
import { CocoreClient, type StreamEvent } from "../src/client.ts";
import { ClientError } from "../src/errors.ts";

type Dispatched = { type: "dispatched"; brokerageCountersignature?: Countersignature } & Record<string, unknown>;

describe("the client checks the matchmaker's countersignature against its published key", () => {
  let coop: Cooperative;
  let proxy: Server;
  let proxyUrl: string;
  let rewrite: (e: Dispatched) => Dispatched = (e) => e;
  let seen: Countersignature | undefined;

  before(async () => {
    coop = await startCooperative({ requesters: ["alice"], engine: "stub" });
    proxy = createServer((req, res) => void relay(req, res.writeHead.bind(res), (c) => res.write(c), () => res.end()));
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    proxy?.closeAllConnections();
    await new Promise<void>((r) => proxy?.close(() => r()));
    await coop?.close();
  });

  /** Forwards to the real matchmaker; `dispatched` lines of a dispatch pass through `rewrite`. */
  async function relay(req: IncomingMessage, head: (s: number, h: Record<string, string>) => void, write: (c: string) => void, end: () => void): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const upstream = await fetch(new URL(req.url ?? "/", coop.matchmaker.url), {
      method: req.method,
      headers: { "content-type": "application/json" },
      ...(req.method === "POST" ? { body: Buffer.concat(chunks) } : {}),
    });
    head(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
    if (!req.url?.startsWith("/v1/dispatch") || !upstream.body) {
      write(await upstream.text());
      return end();
    }
    let buf = "";
    const decoder = new TextDecoder();
    const reader = upstream.body.getReader();
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        buf += decoder.decode(r.value, { stream: true });
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const e = JSON.parse(line) as Dispatched;
          if (e.type === "dispatched") seen = e.brokerageCountersignature;
          write(JSON.stringify(e.type === "dispatched" ? rewrite(e) : e) + "\n");
        }
      }
    } catch {
      // the client went away
    }
    end();
  }

  const client = () => {
    const a = coop.accounts.requesters[0]!;
    return new CocoreClient({ agent: a.agent, matchmakerUrl: proxyUrl, exchangeUrl: coop.exchange.url, exchangeDid: coop.exchange.did, plcUrl: coop.network.plcUrl });
  };

  /** Runs one job through the proxy; the events the client yielded, and how it ended. */
  async function attempt(): Promise<{ events: StreamEvent[]; error?: ClientError }> {
    const events: StreamEvent[] = [];
    try {
      for await (const e of client().stream("Tell me a fortune.", { model: coop.model, maxTokens: 4 })) events.push(e);
      return { events };
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      return { events, error: err };
    }
  }

  test("the matchmaker published its key in its own repo", async () => {
    const rec = await getRecord(coop.network.pdsUrl, coop.matchmaker.did, NSID.brokerageKey, BROKERAGE_KEY_RKEY);
    assert.deepEqual((rec?.value.keys as Array<{ publicKey: string }>).map((k) => k.publicKey), [coop.matchmaker.brokerageKey]);
  });

  test("honest: the dispatch's countersignature holds, and the receipt carries that one", async () => {
    rewrite = (e) => e;
    const result = await client().run("Tell me a fortune.", { model: coop.model, maxTokens: 4 });
    assert.equal(result.brokerageCountersignature?.nonce, seen?.nonce);
    const verdict = await client().verify(result);
    assert.deepEqual(verdict.findings, []);
    // A receipt that is not the dispatch the requester was shown is caught by verify.
    const other = await client().verify({ ...result, brokerageCountersignature: { ...result.brokerageCountersignature!, nonce: "someotherdispatch" } });
    assert.deepEqual(other.findings.map((f) => f.code), ["countersignature-invalid"]);
  });

  test("a countersignature forged with another key is refused before any output", async () => {
    const forger = generateSigningKey();
    rewrite = (e) => {
      const cs = e.brokerageCountersignature!;
      return { ...e, brokerageCountersignature: { ...cs, sig: countersign(forger, cs, { uri: "at://x/y/z", cid: "c" }, "0").sig } };
    };
    const { events, error } = await attempt();
    assert.equal(error?.code, "countersignature_invalid");
    assert.equal(events.filter((e) => e.type === "chunk").length, 0, "no output was read");
  });

  test("a stripped countersignature is refused", async () => {
    rewrite = ({ brokerageCountersignature: _cs, ...e }) => e as Dispatched;
    const { events, error } = await attempt();
    assert.equal(error?.code, "countersignature_missing");
    assert.equal(events.filter((e) => e.type === "chunk").length, 0);
  });

  test("a genuine countersignature of another dispatch, replayed, is refused", async () => {
    rewrite = (e) => e;
    await client().run("Tell me a fortune.", { model: coop.model, maxTokens: 4 });
    const earlier = seen!;
    rewrite = (e) => ({ ...e, brokerageCountersignature: earlier });
    const { error } = await attempt();
    assert.equal(error?.code, "countersignature_invalid");
  });
});
