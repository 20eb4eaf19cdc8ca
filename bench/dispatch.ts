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
// Direct TTFT is the same engine called in-process, prompt to first token.
//
// The stream is compared like for like: both sides generate the same tokens (greedy, same prompt,
// same maxTokens; the bench checks the texts are equal). streamRatio is the median over runs of
// direct time ÷ cocore time for the same stretch of output, as seen by the consumer (the engine's
// callback for direct, the decrypted pieces at the SDK for cocore), starting after any burst of
// pieces that admission held back (spanRatio) — so neither TTFT, nor that burst, nor the receipt
// write after the stream counts. Direct and cocore run back to back in each pair, so load drift
// cancels. direct/cocoreTokensPerSec are medians of (tokens.out − 1) / (last piece − first piece).
//
// Layout: by default PLC + PDS and the exchange run in a child process (cooperative-split.ts), as
// they do in a deployment, while the matchmaker, the agent, its engine, the direct engine and the
// client share this process (the matchmaker and the agent are separate processes in a deployment
// too, so this is still conservative). `oneProcess: true` measures the old everything-in-one-
// process layout, where the exchange's admission and the previous job's settlement compete with
// the dispatch path for one event loop.
import { availableParallelism, cpus } from "node:os";
import { EngineHost, type ModelRunner } from "@cocore/agent";
import type { CocoreClient } from "@cocore/client";
import type { ChatMessage } from "../packages/agent/src/matchmaker-protocol.ts";
import type { ToolDef } from "../packages/agent/src/engines/tool-envelope.ts";
import { startCooperative } from "../packages/cli/src/cooperative.ts";
import { startSplitCooperative } from "../packages/cli/src/cooperative-split.ts";

export interface DispatchBenchOptions {
  runs?: number;
  maxTokens?: number;
  prompt?: string;
  /** Everything in one process (the old layout) instead of PDS + exchange in a child process. */
  oneProcess?: boolean;
  /** Tool-calling pairs after the plain ones (default: half of runs, at least 3). */
  toolRuns?: number;
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
  /** Median over runs of the per-run TTFT difference (cocore − direct of the same pair). */
  ttftAddedPairedMsP50: number;
  /** The same for a request offering one function with tool_choice required (issue 13). */
  toolDirectTtftMsP50: number;
  toolCocoreTtftMsP50: number;
  toolTtftAddedMsP50: number;
  toolRuns: number;
  /** Runs whose stream span was long enough to compare (see spanRatio). */
  streamRatioRuns: number;
  cocoreTtftMsP90: number;
  tokensPerRun: number;
  layout: string;
  runs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
};
const round = (n: number) => Math.round(n * 100) / 100;

/**
 * Streaming speed of cocore relative to direct over the same stretch of output. Pieces that were
 * held back while admission was pending arrive in one burst, which would make the stream look
 * faster than the engine if the clock started at the first piece; so the stretch starts at the
 * end of that burst (pieces within 2 ms of the first), at character offset S, and runs to the
 * end. Direct's time for the same stretch runs from the piece that reached S characters to its
 * last piece. Same text on both sides, so same tokens. undefined when less than a quarter of the
 * output is left to compare.
 */
function spanRatio(direct: Array<{ at: number; chars: number }>, cocore: Array<{ at: number; chars: number }>): number | undefined {
  if (direct.length < 2 || cocore.length < 2) return undefined;
  let k = 0;
  while (k + 1 < cocore.length && cocore[k + 1]!.at - cocore[0]!.at < 2) k++;
  const start = cocore[k]!;
  const total = cocore[cocore.length - 1]!;
  if (total.chars - start.chars < total.chars / 4) return undefined;
  const dStart = direct.find((p) => p.chars >= start.chars);
  const dEnd = direct[direct.length - 1]!;
  if (!dStart || dEnd.at <= dStart.at || total.at <= start.at) return undefined;
  return (dEnd.at - dStart.at) / (total.at - start.at);
}

const BENCH_TOOL: ToolDef = { name: "get_weather", description: "Current weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false } };

interface PairFigures {
  ttft: { direct: number; cocore: number };
  total: { direct: number; cocore: number };
  tps: { direct: number; cocore: number };
  tokensOut: { direct: number; cocore: number };
  text: { direct: string; cocore: string };
  submitMs: number;
  ratio: number | undefined;
}

/** One direct engine run, then the same request through the whole cocore path. */
async function measurePair(runner: ModelRunner, client: CocoreClient, model: string, messages: ChatMessage[], maxTokens: number, tools?: ToolDef[]): Promise<PairFigures> {
  const tD = performance.now();
  let first = -1;
  let last = 0;
  const dPieces: Array<{ at: number; chars: number }> = [];
  let dChars = 0;
  const work = tools ? { tools: { tools, choice: "required" as const, parallel: false } } : undefined;
  const r = await runner.run({ messages, maxTokens, temperatureMilli: 0, topPMilli: 1000, ...(work && { work }), onText: (t) => {
    last = performance.now();
    if (first < 0) first = last;
    dChars += t.length;
    dPieces.push({ at: last, chars: dChars });
  } });
  const directTotal = performance.now() - tD;
  let dispatchAt = 0;
  let cFirst = -1;
  let cLast = 0;
  let out = 0;
  let submitMs = 0;
  let ttft = -1;
  let text = "";
  const cPieces: Array<{ at: number; chars: number }> = [];
  let cChars = 0;
  const cocoreWork = tools ? { tools: tools.map((f) => ({ type: "function" as const, function: f })), toolChoice: "required" as const } : undefined;
  for await (const e of client.stream({ messages }, { model, maxTokens, ...(cocoreWork && { work: cocoreWork }) })) {
    if (e.type === "submitted") {
      submitMs = e.submitMs;
      dispatchAt = performance.now();
    } else if (e.type === "chunk") {
      cLast = performance.now();
      if (cFirst < 0) cFirst = cLast;
      cChars += e.text.length;
      cPieces.push({ at: cLast, chars: cChars });
    } else if (e.type === "done") {
      out = e.result.tokens.out;
      text = e.result.text;
      ttft = e.result.ttftMs;
      if (!e.result.outputMatches || !e.result.cipherMatches) throw new Error("the delivered output does not match the provider's commitments");
    }
  }
  return {
    ttft: { direct: first - tD, cocore: ttft >= 0 ? ttft : cFirst - dispatchAt },
    total: { direct: directTotal, cocore: cLast - dispatchAt },
    tps: {
      direct: r.tokens.out > 1 && last > first ? (r.tokens.out - 1) / ((last - first) / 1000) : 0,
      cocore: out > 1 && cLast > cFirst ? (out - 1) / ((cLast - cFirst) / 1000) : 0,
    },
    tokensOut: { direct: r.tokens.out, cocore: out },
    text: { direct: r.text, cocore: text },
    submitMs,
    ratio: spanRatio(dPieces, cPieces),
  };
}

export async function benchDispatch(opts: DispatchBenchOptions = {}): Promise<DispatchBenchResult> {
  const runs = opts.runs ?? 20;
  const toolRuns = opts.toolRuns ?? Math.max(3, Math.floor(runs / 2));
  const toolMessages = [{ role: "user" as const, content: "What is the weather in Lisbon? Use the tool." }];
  const maxTokens = opts.maxTokens ?? 64;
  const messages = [{ role: "user" as const, content: opts.prompt ?? "Tell me a fortune." }];
  const coop = opts.oneProcess ? await startCooperative({ engine: "llama" }) : await startSplitCooperative({ engine: "llama" });
  const direct = new EngineHost({ kind: "llama", defaultModelId: coop.model, log: () => {} });
  try {
    await direct.reconcile([coop.model]);
    const runner = direct.runner(coop.model);
    if (!runner) throw new Error("the engine did not load the model");
    const client = "services" in coop ? coop.clientFor(coop.accounts.requesters[0]!) : coop.clientFor(coop.accounts.requesters[0]!);
    const d = { ttft: [] as number[], total: [] as number[], tps: [] as number[] };
    const c = { ttft: [] as number[], total: [] as number[], tps: [] as number[], submit: [] as number[] };
    const pairs = { ttftAdded: [] as number[], ratio: [] as number[] };
    let tokensPerRun = 0;
    for (let i = -1; i < runs; i++) {
      const m = await measurePair(runner, client, coop.model, messages, maxTokens);
      if (m.text.direct !== m.text.cocore || m.tokensOut.direct !== m.tokensOut.cocore) throw new Error("the cocore path and the direct engine generated different output; the comparison would not be like for like");
      if (i < 0) continue; // warm-up
      tokensPerRun = m.tokensOut.cocore;
      d.ttft.push(m.ttft.direct);
      d.total.push(m.total.direct);
      if (m.tps.direct > 0) d.tps.push(m.tps.direct);
      c.ttft.push(m.ttft.cocore);
      c.total.push(m.total.cocore);
      c.submit.push(m.submitMs);
      if (m.tps.cocore > 0) c.tps.push(m.tps.cocore);
      pairs.ttftAdded.push(m.ttft.cocore - m.ttft.direct);
      if (m.ratio !== undefined) pairs.ratio.push(m.ratio);
    }
    // The same with a function offered and required: the grammar (or template) and the tool stream
    // are on both sides, so what is added is still the cocore path. Tool call ids are derived from
    // the job on the cocore side, so the texts are not compared here.
    const tool = { direct: [] as number[], cocore: [] as number[] };
    for (let i = -1; i < toolRuns; i++) {
      const m = await measurePair(runner, client, coop.model, toolMessages, maxTokens, [BENCH_TOOL]);
      if (m.tokensOut.direct === 0 || m.tokensOut.cocore === 0) throw new Error("a tool-calling run produced no tokens");
      if (i < 0) continue;
      tool.direct.push(m.ttft.direct);
      tool.cocore.push(m.ttft.cocore);
    }
    const directTps = median(d.tps);
    const cocoreTps = median(c.tps);
    return {
      directTtftMsP50: round(median(d.ttft)),
      cocoreTtftMsP50: round(median(c.ttft)),
      ttftAddedMsP50: round(median(c.ttft) - median(d.ttft)),
      streamRatio: round(median(pairs.ratio)),
      streamRatioRuns: pairs.ratio.length,
      directTotalMsP50: round(median(d.total)),
      cocoreTotalMsP50: round(median(c.total)),
      cocoreSubmitMsP50: round(median(c.submit)),
      directTokensPerSec: round(directTps),
      cocoreTokensPerSec: round(cocoreTps),
      ttftAddedPairedMsP50: round(median(pairs.ttftAdded)),
      toolDirectTtftMsP50: round(median(tool.direct)),
      toolCocoreTtftMsP50: round(median(tool.cocore)),
      toolTtftAddedMsP50: round(median(tool.cocore) - median(tool.direct)),
      toolRuns,
      cocoreTtftMsP90: round([...c.ttft].sort((a, b) => a - b)[Math.floor((c.ttft.length - 1) * 0.9)] ?? 0),
      tokensPerRun,
      layout: opts.oneProcess ? "one process" : "PLC+PDS+exchange in a child process; matchmaker, agent, engines, client in this one",
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
