// Every input of the matchmaker, fuzzed against a real running one: random and near-valid frames
// on the agent socket before registering and on a registered machine's socket, and random and
// near-valid dispatch bodies. Whatever arrives, the answer carries a stable code (an `ignored` or
// `rejected` frame, or an HTTP refusal that is never a 500 nor a stack trace), nothing in the
// registry, the queues or the exchange's holds moves, and afterwards a real job is still served.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import WebSocket from "ws";
import { isRefusalCode, type Matchmaker } from "../src/index.ts";
import { fakeAgent, fakeExchange, startTestMatchmaker, makeDispatch, postDispatch, type FakeAgent, type FakeExchange } from "./support.ts";

const RUNS = 60;
const IGNORED = new Set(["bad_message", "unknown_type", "not_registered", "already_registered"]);
const REGISTER_REFUSALS = new Set(["invalid_register", "protocol_version", "challenge_mismatch", "stale_register", "bad_signature", "bad_attestation"]);
const KNOWN_TYPES = new Set(["register", "heartbeat", "accepted", "chunk", "done", "error", "resume", "bye"]);

const kind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
const anyJson = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.string(), { maxKeys: 2 }));

/**
 * `base` with one field (at any depth) given a value of another JSON kind — which the protocol
 * never accepts — or, when `deletable`, removed (every field of those messages is required).
 */
function corrupted(base: Record<string, unknown>, deletable: boolean): fc.Arbitrary<Record<string, unknown>> {
  const paths: string[][] = [];
  const walk = (v: unknown, p: string[]) => {
    if (p.length > 0) paths.push(p);
    if (v && typeof v === "object") for (const [k, c] of Object.entries(v)) walk(c, [...p, k]);
  };
  walk(base, []);
  return fc.record({ path: fc.constantFrom(...paths), replacement: anyJson, remove: fc.boolean() }).map(({ path, replacement, remove }) => {
    const copy = structuredClone(base);
    let at = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
    const last = path.at(-1)!;
    const original = at[last];
    if (remove && deletable && path.length === 1 && last !== "type") delete at[last];
    else at[last] = kind(replacement) !== kind(original) ? replacement : kind(original) === "number" ? "x" : 7;
    return copy;
  });
}

/** Frames that are not messages at all: text, JSON that is not an object, objects without a known type. */
const junk = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.record({ type: fc.string().filter((t) => !KNOWN_TYPES.has(t)), jobUri: fc.string() }).map((v) => JSON.stringify(v)),
  fc.constantFrom("", "{", "[]", "null", '{"type":1}', '{"type":"HEARTBEAT"}', `{"type":"chunk","jobUri":"${"x".repeat(5000)}"}`),
);

type Answer = { type: string; code?: string; message?: string; closeCode?: number };
const PROBE = JSON.stringify({ type: "zz-probe" });

/** The next thing the matchmaker says on `ws`: a frame, or the socket closing. */
function nextAnswer(ws: WebSocket, skip: (m: Answer) => boolean = () => false): Promise<Answer> {
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const m = JSON.parse(data.toString()) as Answer;
      if (skip(m)) return;
      done();
      resolve(m);
    };
    const onClose = (code: number) => {
      done();
      resolve({ type: "closed", closeCode: code });
    };
    const done = () => {
      ws.off("message", onMessage);
      ws.off("close", onClose);
    };
    ws.on("message", onMessage);
    ws.on("close", onClose);
  });
}

describe("matchmaker inputs under fuzzing", () => {
  let fx: FakeExchange;
  let mm: Matchmaker;
  let agent: FakeAgent;
  let templates: Array<{ msg: Record<string, unknown>; deletable: boolean }>;

  /** What must not move: the registry (but the clock), the queues, the exchange's admissions and releases, the jobs sent. */
  const state = () =>
    JSON.stringify({
      machines: mm.registry.live(Date.now()).map((m) => ({ ...m, lastSeen: 0, activeByModel: [...m.activeByModel] })),
      models: mm.status().models.map((s) => ({ ...s, expectedWaitMs: 0 })),
      admits: fx.admits.length,
      releases: fx.releases.length,
      jobs: agent.jobs.length,
    });

  before(async () => {
    fx = await fakeExchange();
    mm = await startTestMatchmaker(fx, {
      heartbeatIntervalMs: 60_000,
      limits: { perIp: { burst: 100_000, perSecond: 10_000 } },
    });
    agent = fakeAgent(mm.url);
    await agent.registered;
    const jobUri = "at://did:plc:requester00000000000000/dev.cocore.compute.job/3zzzzzzzzzzzz";
    const at = new Date().toISOString();
    templates = [
      { msg: structuredClone(agent.registers[0]!), deletable: true },
      {
        msg: {
          type: "heartbeat", at, models: ["fortunes-char"], engineState: "ready", activeJobs: 0, capacityByModel: { "fortunes-char": 2 },
          capabilitiesByModel: { "fortunes-char": { tools: false, structuredOutput: false, contextLength: 0 } }, attestation: { uri: "at://x/y/z", cid: "bafy" },
        },
        deletable: false,
      },
      { msg: { type: "accepted", jobUri }, deletable: true },
      { msg: { type: "chunk", jobUri, seq: 0, sealed: "AAAA" }, deletable: true },
      {
        msg: {
          type: "done", jobUri, receipt: { uri: "at://did:plc:p/dev.cocore.compute.receipt/3b", cid: "bafy", written: true }, tokens: { in: 1, out: 1 },
          price: { amount: 1, currency: "TOK" }, proBono: false, outputCommitment: "0".repeat(64), outputCipherCommitment: "0".repeat(64),
          finishReason: "stop", startedAt: at, completedAt: at,
        },
        deletable: true,
      },
      { msg: { type: "error", jobUri, code: "engine_error", message: "x" }, deletable: true },
      { msg: { type: "resume", jobUri, next: 0 }, deletable: true },
      { msg: { type: "bye", reason: "x" }, deletable: false },
    ];
  });
  after(async () => {
    agent?.close();
    await mm?.close();
    await fx?.close();
  });

  const nearValid = () => fc.oneof(...templates.map((t) => corrupted(t.msg, t.deletable).map((m) => JSON.stringify(m))));

  test("agent socket before registering: every frame is ignored or the register refused, with a code; nothing registers", async () => {
    const before = state();
    await fc.assert(
      fc.asyncProperty(fc.oneof(junk, nearValid()), fc.boolean(), async (frame, binary) => {
        const ws = new WebSocket(mm.url.replace(/^http/, "ws") + "/v1/agent");
        await new Promise<void>((resolve) => ws.once("message", () => resolve()));
        const answer = nextAnswer(ws);
        ws.send(binary ? Buffer.from(frame) : frame, { binary });
        const a = await answer;
        if (a.type === "rejected") assert.ok(REGISTER_REFUSALS.has(a.code!), `register refused with ${a.code}`);
        else {
          assert.equal(a.type, "ignored", JSON.stringify(a));
          assert.ok(IGNORED.has(a.code!), String(a.code));
        }
        ws.terminate();
        assert.equal(state(), before);
      }),
      { numRuns: RUNS },
    );
  });

  test("a registered machine's socket: every malformed frame is ignored with a code, and the machine is as it was", async () => {
    const before = state();
    await fc.assert(
      fc.asyncProperty(fc.oneof(junk, nearValid()), async (frame) => {
        // Then a probe: frames are answered in order, so a frame left unanswered shows as the probe's answer coming first.
        const answers: Answer[] = [];
        let heard: () => void = () => {};
        const listen = (data: WebSocket.RawData) => {
          answers.push(JSON.parse(data.toString()) as Answer);
          heard();
        };
        agent.ws.on("message", listen);
        agent.ws.send(frame);
        agent.ws.send(PROBE);
        // Both answers can arrive in one read, so both are collected by one listener.
        while (!answers.some((m) => m.message?.includes("zz-probe"))) await new Promise<void>((r) => (heard = r));
        agent.ws.off("message", listen);
        const [a, probe] = answers;
        assert.ok(a && !a.message?.includes("zz-probe"), `the frame got no answer: ${frame.slice(0, 200)}`);
        assert.equal(probe?.code, "unknown_type", "the probe is answered after the frame");
        assert.equal(answers.length, 2, "one answer per frame");
        assert.equal(a.type, "ignored", JSON.stringify(a));
        assert.ok(IGNORED.has(a.code!), String(a.code));
        assert.equal(state(), before);
      }),
      { numRuns: RUNS * 2 },
    );
    const served = await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey));
    assert.equal(served.status, 200, JSON.stringify(served.error));
    assert.equal(served.events.at(-1)?.type, "done");
  });

  test("dispatch bodies: every refusal is a 4xx/503 with a known code and no stack; nothing admitted, queued or sent", async () => {
    const valid = makeDispatch(agent.encryption.publicKey) as unknown as Record<string, unknown>;
    const record = valid.jobRecord as Record<string, unknown>;
    const bodies = fc.oneof(
      fc.string(),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      corrupted(valid, true).map((b) => JSON.stringify(b)),
      // A job record changed in any way no longer matches its CID.
      fc.record({ field: fc.constantFrom(...Object.keys(record)), v: fc.jsonValue({ maxDepth: 2 }) })
        .filter(({ field, v }) => JSON.stringify(v) !== JSON.stringify(record[field]))
        .map(({ field, v }) => JSON.stringify({ ...valid, jobRecord: { ...record, [field]: v } })),
    );
    const before = state();
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const res = await fetch(`${mm.url}/v1/dispatch`, { method: "POST", headers: { "content-type": "application/json" }, body });
        const text = await res.text();
        assert.ok(res.status >= 400 && res.status !== 500 && res.status < 600, `${res.status}: ${text}`);
        const err = (JSON.parse(text) as { error: { code: string; message: string } }).error;
        assert.ok(isRefusalCode(err.code), `unknown code ${err.code}`);
        assert.notEqual(err.code, "internal_error");
        assert.doesNotMatch(text, /\n\s+at |\.ts:\d+/, "no stack trace");
        assert.equal(state(), before);
      }),
      { numRuns: RUNS * 2 },
    );
    const served = await postDispatch(mm.url, makeDispatch(agent.encryption.publicKey));
    assert.equal(served.status, 200, JSON.stringify(served.error));
  });
});
