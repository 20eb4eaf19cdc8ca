// `queue` benchmark: a burst of concurrent chat completions through the OpenAI-compatible gateway
// of a local cooperative with one agent (the bundled model, one slot), with the official `openai`
// client and no client-side retries, while a second requester sends single requests one after
// another. Every request streams. A request's wait is its time in the matchmaker's queue as its
// client sees it: a queued job's response headers arrive when it joins the line (with
// x-cocore-queue-position ≥ 1; only SSE comments follow while it waits), its first chunk when it
// gets the slot; a job that got the slot at once waited 0. firstChunk figures add the requester's
// own preparation before that (sealing, writing the job records to its PDS, admission), which the
// burst makes contend as well.
//
// Figures: burst, served, refused, p50WaitMs / p99WaitMs over the burst's requests,
// fairnessMaxWaitMs (the longest wait of the second requester's single requests, each sent while
// burst jobs were queued) and fairnessMaxPosition (the furthest back in line any of them was
// placed — 2 behind a burst of any size: the running job and one more), servicePerSec (the matchmaker's own figure in GET /v1/status after the
// burst: slots ÷ mean service time of the last 50 jobs), drainPerSec (answers per second from the
// first burst answer to the last), queuedPeak (most jobs seen waiting at once).
import OpenAI from "openai";
import type { MatchmakerStatus } from "@cocore/matchmaker";
import { startCooperative } from "../packages/cli/src/cooperative.ts";

export interface QueueBenchOptions {
  burst?: number;
  maxTokens?: number;
  /** Single requests of the second requester, one after another, during the burst. */
  singles?: number;
}

export interface QueueBenchResult {
  burst: number;
  served: number;
  refused: number;
  p50WaitMs: number;
  p99WaitMs: number;
  fairnessMaxWaitMs: number;
  servicePerSec: number;
  drainPerSec: number;
  p50FirstChunkMs: number;
  p99FirstChunkMs: number;
  fairnessMaxFirstChunkMs: number;
  fairnessMaxPosition: number;
  queuedPeak: number;
  maxTokens: number;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

interface Timed {
  /** In the queue: headers (joined the line) to the first chunk (got the slot); 0 if not queued. */
  waitMs: number;
  /** Sending the request to the first chunk. */
  firstChunkMs: number;
  /** x-cocore-queue-position: 0 when it got a slot at once. */
  position: number;
  doneAt: number;
}

async function streamed(openai: OpenAI, model: string, prompt: string, maxTokens: number): Promise<Timed> {
  const t0 = performance.now();
  const { data: stream, response } = await openai.chat.completions.create({ model, messages: [{ role: "user", content: prompt }], max_tokens: maxTokens, stream: true }).withResponse();
  const joinedAt = performance.now();
  const position = Number(response.headers.get("x-cocore-queue-position"));
  const queued = position > 0;
  let startedAt = -1;
  let text = "";
  for await (const chunk of stream) {
    if (startedAt < 0) startedAt = performance.now();
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  if (startedAt < 0 || text.length === 0) throw new Error("the stream ended without output");
  return { waitMs: queued ? startedAt - joinedAt : 0, firstChunkMs: startedAt - t0, position, doneAt: performance.now() };
}

export async function benchQueue(o: QueueBenchOptions = {}): Promise<QueueBenchResult> {
  const burst = o.burst ?? 100;
  const maxTokens = o.maxTokens ?? 8;
  const singles = o.singles ?? 3;
  const coop = await startCooperative({ requesters: ["burst", "single"], engine: "llama", gateway: true });
  try {
    const [a, b] = coop.accounts.requesters;
    const client = (did: string) => new OpenAI({ apiKey: coop.apiKeys.get(did)!, baseURL: `${coop.gateway!.url}/v1`, maxRetries: 0 });
    const burstClient = client(a!.did);
    const singleClient = client(b!.did);
    // One job each first, so that neither the first job's costs (terms, engine warm-up) nor the
    // rate assumed before any job finished is measured.
    await streamed(burstClient, coop.model, "Warm up.", maxTokens);
    await streamed(singleClient, coop.model, "Warm up.", maxTokens);

    let queuedPeak = 0;
    let queuedNow = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = (await (await fetch(`${coop.matchmaker.url}/v1/status`)).json()) as MatchmakerStatus;
        queuedNow = s.models.find((m) => m.model === coop.model)?.queued ?? 0;
        queuedPeak = Math.max(queuedPeak, queuedNow);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const outcomes = Promise.allSettled(Array.from({ length: burst }, (_, i) => streamed(burstClient, coop.model, `Fortune number ${i}.`, maxTokens)));
    let burstSettled = false;
    void outcomes.then(() => (burstSettled = true));
    const singleDone: Timed[] = [];
    for (let i = 0; i < singles; i++) {
      while (!burstSettled && queuedNow < Math.min(10, burst / 4)) await new Promise((r) => setTimeout(r, 5));
      if (burstSettled) break;
      singleDone.push(await streamed(singleClient, coop.model, `A single fortune ${i}.`, maxTokens));
    }
    const results = await outcomes;
    watching = false;
    await watcher;

    const status = (await (await fetch(`${coop.matchmaker.url}/v1/status`)).json()) as MatchmakerStatus;
    const served = results.filter((r): r is PromiseFulfilledResult<Timed> => r.status === "fulfilled").map((r) => r.value);
    const done = served.map((t) => t.doneAt);
    const waits = served.map((t) => t.waitMs);
    const firsts = served.map((t) => t.firstChunkMs);
    const r = (n: number) => Math.round(n * 10) / 10;
    return {
      burst,
      served: served.length,
      refused: burst - served.length,
      p50WaitMs: r(quantile(waits, 0.5)),
      p99WaitMs: r(quantile(waits, 0.99)),
      fairnessMaxWaitMs: singleDone.length > 0 ? r(Math.max(...singleDone.map((t) => t.waitMs))) : -1,
      servicePerSec: status.models.find((m) => m.model === coop.model)?.servicePerSec ?? 0,
      drainPerSec: served.length > 1 ? r(((served.length - 1) * 1000) / (Math.max(...done) - Math.min(...done))) : 0,
      p50FirstChunkMs: r(quantile(firsts, 0.5)),
      p99FirstChunkMs: r(quantile(firsts, 0.99)),
      fairnessMaxFirstChunkMs: singleDone.length > 0 ? r(Math.max(...singleDone.map((t) => t.firstChunkMs))) : -1,
      fairnessMaxPosition: singleDone.length > 0 ? Math.max(...singleDone.map((t) => t.position)) : -1,
      queuedPeak,
      maxTokens,
    };
  } finally {
    await coop.close();
  }
}
