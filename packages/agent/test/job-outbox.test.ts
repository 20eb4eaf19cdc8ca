// The agent's replay buffer: what goes out live, what is kept across a dropped session, what a
// resume replays, and the byte cap past which a job cannot be resumed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { JobOutbox } from "../src/job-outbox.ts";
import type { AgentToMatchmaker } from "../src/matchmaker-protocol.ts";

const uri = "at://did:plc:requester/dev.cocore.compute.job/3aaaaaaaaaaaa";

function setup(capBytes?: number) {
  const sent: AgentToMatchmaker[] = [];
  let up = true;
  const box = new JobOutbox({ send: (m) => (up ? (sent.push(m), true) : false), ...(capBytes !== undefined && { capBytes }) });
  const chunk = (seq: number, sealed = `frame${seq}`) => box.send({ type: "chunk", jobUri: uri, seq, sealed });
  return { box, sent, chunk, setUp: (v: boolean) => (up = v) };
}

const done = { type: "error" as const, jobUri: uri, code: "engine_error" as const, message: "stand-in terminal" };
const describeSent = (sent: AgentToMatchmaker[]) => sent.map((m) => (m.type === "chunk" ? `chunk${m.seq}` : m.type === "resume" ? `resume${m.next}` : m.type));

describe("job outbox", () => {
  test("frames go out live; after a drop they are kept and a resume replays every unacked one, terminal included", () => {
    const { box, sent, chunk, setUp } = setup();
    box.send({ type: "accepted", jobUri: uri });
    chunk(0);
    chunk(1);
    chunk(2);
    box.ack(uri, 0);
    setUp(false);
    box.disconnected(true);
    assert.equal(box.resumable(uri), true);
    chunk(3);
    box.send(done);
    setUp(true);
    sent.length = 0;
    assert.deepEqual(box.resumeAll(), [uri]);
    assert.deepEqual(describeSent(sent), ["resume1", "chunk1", "chunk2", "chunk3", "error"]);
    assert.equal(box.resumable(uri), false, "live again");
    chunk(4);
    assert.deepEqual(describeSent(sent).at(-1), "chunk4");
    box.ack(uri, 4, true);
    assert.equal(box.size, 0, "the final ack forgets the job");
  });

  test("while cut off nothing is sent; a refusal before accepted goes out unkept", () => {
    const { box, sent, chunk, setUp } = setup();
    box.send({ type: "error", jobUri: uri, code: "job_invalid", message: "x" });
    assert.equal(box.size, 0);
    box.send({ type: "accepted", jobUri: uri });
    box.disconnected(true);
    sent.length = 0;
    chunk(0);
    assert.deepEqual(sent, [], "a cut-off job's frame waits for the resume");
    setUp(true);
    box.resumeAll();
    assert.deepEqual(describeSent(sent), ["resume0", "chunk0"]);
  });

  test("past the byte cap a job is not resumed; nor is any job when the matchmaker does not resume", () => {
    const capped = setup(20);
    capped.box.send({ type: "accepted", jobUri: uri });
    capped.chunk(0, "x".repeat(15));
    capped.chunk(1, "x".repeat(15));
    capped.box.disconnected(true);
    assert.equal(capped.box.resumable(uri), false);
    assert.deepEqual(capped.box.resumeAll(), []);

    const old = setup();
    old.box.send({ type: "accepted", jobUri: uri });
    old.chunk(0);
    old.box.disconnected(false);
    assert.equal(old.box.resumable(uri), false);
    assert.deepEqual(old.box.resumeAll(), []);
  });

  test("an ack drops exactly the frames it covers; a stale ack changes nothing", () => {
    const { box, sent, chunk } = setup();
    box.send({ type: "accepted", jobUri: uri });
    for (let i = 0; i < 5; i++) chunk(i);
    box.ack(uri, 2);
    box.ack(uri, 1);
    box.disconnected(true);
    sent.length = 0;
    box.resumeAll();
    assert.deepEqual(describeSent(sent), ["resume3", "chunk3", "chunk4"]);
  });
});
