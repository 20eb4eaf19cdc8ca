// A job whose agent socket is cut mid-answer (issue 13 item 6): the matchmaker holds it and keeps
// the requester's stream open; the same machine, registered again, resumes it and replays from
// its last acknowledged frame, and the requester gets every frame once, in order. A resume after
// the grace, or from another machine key, is refused and the job fails as a drop always did.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { base64Decode, base64Encode, generateEncryptionKeyPair, generateSigningKey, openReply, outputCipherCommitment, sealReply } from "@cocore/protocol";
import type WebSocket from "ws";
import type { Matchmaker } from "../src/index.ts";
import { fakeAgent, fakeExchange, startTestMatchmaker, makeDispatch, postDispatch, replyKeys, waitFor, type FakeAgent, type FakeExchange } from "./support.ts";

type Frame = { type: string; jobUri?: string; seq?: number; final?: boolean; reason?: string; resumeGraceMs?: number };

/** Every frame the matchmaker sends on `ws`, from now on. */
function record(ws: WebSocket): Frame[] {
  const frames: Frame[] = [];
  ws.on("message", (d) => frames.push(JSON.parse(d.toString()) as Frame));
  return frames;
}

const send = (a: FakeAgent, m: Record<string, unknown>) => a.ws.send(JSON.stringify(m));

describe("resume after the agent's socket is cut mid-answer", () => {
  let fx: FakeExchange;
  /** Grace long enough that no resume in these tests can miss it. */
  let mm: Matchmaker;
  /** Grace short enough to wait out. */
  let brief: Matchmaker;
  const agents: FakeAgent[] = [];

  const start = (resumeGraceMs: number) =>
    startTestMatchmaker(fx, {
      timeouts: { acceptMs: 60_000, firstChunkMs: 60_000, idleMs: 60_000, reconnectGraceMs: 60_000, resumeGraceMs },
    });
  before(async () => {
    fx = await fakeExchange();
    mm = await start(600_000);
    brief = await start(300);
  });
  after(async () => {
    for (const a of agents) a.close();
    await mm.close();
    await brief.close();
    await fx.close();
  });

  /** A machine (fixed keys and id) that says it resumes; it does only what each test tells it to. */
  function machine(model: string) {
    const signingKey = generateSigningKey();
    const encryption = generateEncryptionKeyPair();
    const machineId = `resume-${model}`;
    return {
      encryption,
      connect: async (on: Matchmaker, key = signingKey) => {
        const a = fakeAgent(on.url, { models: [model], machineId, signingKey: key, encryption, behaviour: "silent", resumes: true });
        agents.push(a);
        const frames = record(a.ws);
        await a.registered;
        return { a, frames };
      },
    };
  }

  /** Sealed output pieces for a job, as its agent would send them (kept to replay byte for byte). */
  function sealer(jobUri: string) {
    const key = replyKeys.get(jobUri)!;
    const frames: Uint8Array[] = [];
    return {
      frames,
      chunk: (seq: number, text?: string) => {
        if (text !== undefined) frames[seq] = sealReply(new TextEncoder().encode(text), key);
        return { type: "chunk", jobUri, seq, sealed: base64Encode(frames[seq]!) };
      },
    };
  }

  /**
   * A job on a fresh machine of `on` that has relayed its first chunk ("Hel"), then its socket cut.
   * Answers the machine, the first session, the job, the requester's pending dispatch and the sealer.
   */
  async function cutAfterFirstChunk(model: string, on: Matchmaker = mm) {
    const m = machine(model);
    const first = await m.connect(on);
    const req = makeDispatch(m.encryption.publicKey, { model });
    const jobUri = req.job.uri;
    const releases = fx.releases.length;
    const pending = postDispatch(on.url, req);
    await waitFor(() => first.a.jobs.length === 1, "the job to reach the machine");
    const out = sealer(jobUri);
    send(first.a, { type: "accepted", jobUri });
    send(first.a, out.chunk(0, "Hel"));
    await waitFor(() => first.frames.some((f) => f.type === "ack"), "the first chunk relayed");
    on.disconnectMachine(`resume-${model}`);
    return { m, first, jobUri, releases, pending, out };
  }

  test("the same machine reconnects and resumes: every frame relayed once, in order, then done; nothing released", async () => {
    const m = machine("m-resume");
    const first = await m.connect(mm);
    assert.equal(first.frames.find((f) => f.type === "registered")?.resumeGraceMs, 600_000, "registered says how long jobs are held");
    const req = makeDispatch(m.encryption.publicKey, { model: "m-resume" });
    const jobUri = req.job.uri;
    const releases = fx.releases.length;
    const pending = postDispatch(mm.url, req);
    await waitFor(() => first.a.jobs.length === 1, "the job to reach the machine");
    const out = sealer(jobUri);
    send(first.a, { type: "accepted", jobUri });
    send(first.a, out.chunk(0, "Hel"));
    send(first.a, out.chunk(1, "lo, "));
    await waitFor(() => first.frames.some((f) => f.type === "ack" && f.jobUri === jobUri && f.seq === 1), "the ack of seq 1");
    send(first.a, out.chunk(2, "res"));
    await waitFor(() => first.frames.some((f) => f.type === "ack" && f.seq === 2), "the ack of seq 2");
    await waitFor(() => first.frames.some((f) => f.type === "admitted"), "admission");
    assert.equal(mm.disconnectMachine(`resume-m-resume`), true);

    const second = await m.connect(mm);
    // The agent missed the ack of seq 2, say: it replays from 1; the relay drops 1 and 2.
    send(second.a, { type: "resume", jobUri, next: 1 });
    send(second.a, out.chunk(1));
    send(second.a, out.chunk(2));
    send(second.a, out.chunk(3, "umed"));
    const at = new Date().toISOString();
    send(second.a, {
      type: "done", jobUri, receipt: { uri: "at://did:plc:provider000000000000000/dev.cocore.compute.receipt/3bbbbbbbbbbbb", cid: "bafyreireceipt", written: true },
      tokens: { in: 5, out: 4 }, price: { amount: 9, currency: "TOK" }, proBono: false, outputCommitment: "0".repeat(64),
      outputCipherCommitment: outputCipherCommitment(out.frames), finishReason: "stop", startedAt: at, completedAt: at,
    });
    const r = await pending;
    assert.equal(r.status, 200, JSON.stringify(r.error));
    assert.deepEqual(r.events.map((e) => e.type), ["dispatched", "chunk", "chunk", "chunk", "chunk", "done"]);
    const chunks = r.events.flatMap((e) => (e.type === "chunk" ? [e] : []));
    assert.deepEqual(chunks.map((c) => c.seq), [0, 1, 2, 3]);
    const key = replyKeys.get(jobUri)!;
    assert.equal(chunks.map((c) => Buffer.from(openReply(base64Decode(c.sealed), key)!).toString("utf8")).join(""), "Hello, resumed");
    assert.equal((r.events.at(-1) as { outputCipherCommitment: string }).outputCipherCommitment, outputCipherCommitment(chunks.map((c) => base64Decode(c.sealed))));
    assert.equal(fx.releases.length, releases, "the hold stays for the receipt");
    // The admission the first session heard is told again; the done is acked final.
    assert.ok(second.frames.some((f) => f.type === "admitted" && f.jobUri === jobUri), "admitted again on the new session");
    await waitFor(() => second.frames.some((f) => f.type === "ack" && f.final === true && f.seq === 3), "the final ack");
  });

  test("a resume after the grace is refused: the job failed provider_lost and its hold was released", async () => {
    const { m, jobUri, releases, pending } = await cutAfterFirstChunk("m-late", brief);
    const r = await pending;
    assert.deepEqual(r.events.map((e) => e.type), ["dispatched", "chunk", "error"]);
    const err = r.events.at(-1) as { code: string; message: string };
    assert.equal(err.code, "provider_lost");
    assert.match(err.message, /did not resume the job within/);
    assert.equal(fx.releases.length, releases + 1, "the hold was released");
    assert.equal(fx.releases.at(-1)!.reason, "provider_lost");

    const second = await m.connect(brief);
    send(second.a, { type: "resume", jobUri, next: 1 });
    await waitFor(() => second.frames.some((f) => f.type === "cancel"), "the refusal");
    const cancel = second.frames.find((f) => f.type === "cancel")!;
    assert.equal(cancel.jobUri, jobUri);
    assert.match(cancel.reason!, /^resume_refused: /);
  });

  test("another machine key under the same machine id cannot resume the job, nor end it for its machine", async () => {
    const { m, jobUri, pending, out } = await cutAfterFirstChunk("m-impostor");

    const impostor = await m.connect(mm, generateSigningKey());
    send(impostor.a, { type: "resume", jobUri, next: 0 });
    send(impostor.a, out.chunk(1, "p!"));
    await waitFor(() => impostor.frames.some((f) => f.type === "cancel"), "the refusal");
    assert.match(impostor.frames.find((f) => f.type === "cancel")!.reason!, /^resume_refused: another machine key/);
    impostor.a.close();
    await waitFor(() => mm.registry.get("resume-m-impostor") === undefined, "the impostor's session to end");

    const owner = await m.connect(mm);
    send(owner.a, { type: "resume", jobUri, next: 1 });
    send(owner.a, out.chunk(1, "lo"));
    send(owner.a, { type: "error", jobUri, code: "engine_error", message: "stand-in end" });
    const r = await pending;
    const chunks = r.events.flatMap((e) => (e.type === "chunk" ? [e] : []));
    const key = replyKeys.get(jobUri)!;
    assert.equal(chunks.map((c) => Buffer.from(openReply(base64Decode(c.sealed), key)!).toString("utf8")).join(""), "Hello", "only the machine's own frames");
    assert.equal((r.events.at(-1) as { code: string }).code, "engine_error", "the job ended as its machine said");
  });

  test("a resume that would leave a hole fails the job: provider_error", async () => {
    const { m, jobUri, pending } = await cutAfterFirstChunk("m-hole");
    const second = await m.connect(mm);
    send(second.a, { type: "resume", jobUri, next: 2 });
    const r = await pending;
    assert.deepEqual(r.events.map((e) => e.type), ["dispatched", "chunk", "error"]);
    assert.equal((r.events.at(-1) as { code: string }).code, "provider_error");
  });
});
