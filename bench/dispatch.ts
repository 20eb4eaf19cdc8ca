// `dispatch` benchmark: time to first token and streaming speed through the full cocore path
// (SDK → matchmaker → exchange admitJob → agent over WebSocket → engine → chunks back over NDJSON)
// vs. calling the same engine directly, same model, same process, runs interleaved.
//
// What TTFT means for the requester: from the moment the SDK sends the dispatch request to the
// matchmaker until the first output piece is *decrypted* at the client (JobResult.ttftMs). That
// covers the matchmaker's checks, admission at the exchange (run in parallel with the agent; the
// output is held until it succeeds), the hop to the agent, the agent's checks and opening of the
// input, the engine's first token, sealing it, and both relay hops. It excludes the requester's
// own preparation — sealing the prompt and writing the paymentAuthorization + job records to its
// PDS — which is reported separately as cocoreSubmitMsP50 (a requester can do it ahead of time).
// Direct TTFT is the same engine called in-process, prompt to first token. streamRatio compares
// tokens/s after the first token (first → last output piece), so the receipt write after the
// stream does not count against it. Note that this bench runs the PDS, exchange, matchmaker,
// agent, engine and client in ONE process on one event loop, so the exchange's admission work and
// the previous job's settlement compete with the dispatch path for the same thread — a deployment
// has them on separate processes or machines; the figures are an upper bound for loopback.
import { availableParallelism, cpus } from "node:os";
import { EngineHost } from "@cocore/agent";
import { startCooperative } from "../packages/cli/src/cooperative.ts";

export interface DispatchBenchOptions {
  runs?: number;
  maxTokens?: number;
  prompt?: string;
}

export interface DispatchBenchResult {
  directTtftMsP50: number;
  cocoreTtftMsP50: number;
  ttftAddedMsP50: number;
  streamRatio: number;
  directTotalMsP50: number;
  cocoreTotalMsP50: number;
  cocoreSubmitMsP50: number;
  directTokensPerSec: number;
  cocoreTokensPerSec: number;
  runs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
};
const round = (n: number) => Math.round(n * 100) / 100;

export async function benchDispatch(opts: DispatchBenchOptions = {}): Promise<DispatchBenchResult> {
  const runs = opts.runs ?? 10;
  const maxTokens = opts.maxTokens ?? 64;
  const messages = [{ role: "user" as const, content: opts.prompt ?? "Tell me a fortune." }];
  const coop = await startCooperative({ engine: "llama" });
  const direct = new EngineHost({ kind: "llama", defaultModelId: coop.model, log: () => {} });
  try {
    await direct.reconcile([coop.model]);
    const runner = direct.runner(coop.model);
    if (!runner) throw new Error("the engine did not load the model");
    const client = coop.clientFor(coop.accounts.requesters[0]!);
    const d = { ttft: [] as number[], total: [] as number[], tps: [] as number[] };
    const c = { ttft: [] as number[], total: [] as number[], tps: [] as number[], submit: [] as number[] };
    for (let i = -1; i < runs; i++) {
      // Direct: the engine alone.
      const tD = performance.now();
      let first = -1;
      let last = 0;
      const r = await runner.run({ messages, maxTokens, temperatureMilli: 0, topPMilli: 1000, onText: () => {
        last = performance.now();
        if (first < 0) first = last;
      } });
      const directTotal = performance.now() - tD;
      // cocore: the whole path.
      let dispatchAt = 0;
      let cFirst = -1;
      let cLast = 0;
      let out = 0;
      let submitMs = 0;
      let ttft = -1;
      for await (const e of client.stream({ messages }, { model: coop.model, maxTokens })) {
        if (e.type === "submitted") {
          submitMs = e.submitMs;
          dispatchAt = performance.now();
        } else if (e.type === "chunk") {
          cLast = performance.now();
          if (cFirst < 0) cFirst = cLast;
        } else if (e.type === "done") {
          out = e.result.tokens.out;
          ttft = e.result.ttftMs;
          if (!e.result.outputMatches || !e.result.cipherMatches) throw new Error("the delivered output does not match the provider's commitments");
        }
      }
      if (i < 0) continue; // warm-up
      d.ttft.push(first - tD);
      d.total.push(directTotal);
      if (r.tokens.out > 1 && last > first) d.tps.push((r.tokens.out - 1) / ((last - first) / 1000));
      c.ttft.push(ttft >= 0 ? ttft : cFirst - dispatchAt);
      c.total.push(cLast - dispatchAt);
      c.submit.push(submitMs);
      if (out > 1 && cLast > cFirst) c.tps.push((out - 1) / ((cLast - cFirst) / 1000));
    }
    const directTps = median(d.tps);
    const cocoreTps = median(c.tps);
    return {
      directTtftMsP50: round(median(d.ttft)),
      cocoreTtftMsP50: round(median(c.ttft)),
      ttftAddedMsP50: round(median(c.ttft) - median(d.ttft)),
      streamRatio: directTps > 0 ? round(cocoreTps / directTps) : 0,
      directTotalMsP50: round(median(d.total)),
      cocoreTotalMsP50: round(median(c.total)),
      cocoreSubmitMsP50: round(median(c.submit)),
      directTokensPerSec: round(directTps),
      cocoreTokensPerSec: round(cocoreTps),
      runs,
    };
  } finally {
    await direct.dispose();
    await coop.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runs = Number(process.argv[2] ?? 10);
  const figures = await benchDispatch({ runs });
  console.log(JSON.stringify({ bench: "dispatch", machine: { cpus: availableParallelism(), cpu: cpus()[0]?.model }, figures }, null, 2));
}
