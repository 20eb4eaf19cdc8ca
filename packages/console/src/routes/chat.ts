// Chat: the models on offer and one job per turn, streamed to the browser as NDJSON while it runs
// (queued, dispatched, each decrypted piece), then the receipt's verdict from the protocol core
// and the settlement when the exchange publishes it. Closing the request (the stop button)
// aborts the dispatch; a refusal arrives as an `error` event with the matchmaker's code.
import { ClientError, type JobInput } from "@cocore/client";
import { ConsoleError } from "../errors.ts";
import { receiptChecks } from "../checks.ts";
import type { Route } from "../context.ts";

const MAX_MESSAGES = 64;
const MAX_TOKENS = 2048;

function messagesOf(body: Record<string, unknown>): NonNullable<JobInput["messages"]> {
  const raw = body.messages;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_MESSAGES) throw new ConsoleError(400, "invalid_messages", `\`messages\` must be 1–${MAX_MESSAGES} messages.`);
  return raw.map((m, i) => {
    const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
    if (role !== "user" && role !== "assistant" && role !== "system") throw new ConsoleError(400, "invalid_messages", `messages[${i}].role must be user, assistant or system.`);
    if (typeof content !== "string" || content.length > 32_000) throw new ConsoleError(400, "invalid_messages", `messages[${i}].content must be text of at most 32,000 characters.`);
    return { role, content };
  });
}

export const chatRoutes: Route[] = [
  {
    method: "GET",
    path: "/api/models",
    async handler(c) {
      const client = await c.s.clientFor(c.member().did);
      const [models, policy] = await Promise.all([client.models(), client.policy()]);
      const rate = policy.value.tokenRate as { inputPricePerMTok: number; outputPricePerMTok: number; currency: string } | undefined;
      return { models: models.map((m) => ({ id: m.id, providers: m.providers, ...(rate ? { inputPricePerMTok: rate.inputPricePerMTok, outputPricePerMTok: rate.outputPricePerMTok, currency: rate.currency } : {}) })) };
    },
  },
  {
    method: "POST",
    path: "/api/chat",
    async handler(c) {
      const { did } = c.member();
      const body = await c.body();
      const model = typeof body.model === "string" && body.model ? body.model : "";
      if (!model) throw new ConsoleError(400, "missing_model", "Pick a model.");
      const messages = messagesOf(body);
      const maxTokens = body.maxTokens === undefined ? 256 : Number(body.maxTokens);
      if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > MAX_TOKENS) throw new ConsoleError(400, "invalid_max_tokens", `maxTokens must be an integer from 1 to ${MAX_TOKENS}.`);
      const client = await c.s.clientFor(did);
      const outcome = c.s.db.prepare("INSERT OR REPLACE INTO job_outcome (job_uri, did, model, status, code, message, at) VALUES (?, ?, ?, ?, ?, ?, ?)");
      const abort = new AbortController();
      c.res.on("close", () => {
        if (!c.res.writableFinished) abort.abort();
      });
      c.res.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" });
      c.req.socket.setNoDelay(true);
      const send = (e: Record<string, unknown>) => {
        if (!c.res.writableEnded) c.res.write(`${JSON.stringify(e)}\n`);
      };
      let jobUri: string | undefined;
      try {
        for await (const e of client.stream({ messages, maxTokens }, { model, maxTokens, signal: abort.signal })) {
          if (e.type === "submitted") {
            jobUri = e.job.uri;
            send({ type: "submitted", job: e.job.uri, provider: e.offer.provider });
          } else if (e.type === "queued") send({ type: "queued", position: e.position, waitMs: e.waitMs });
          else if (e.type === "dispatched") send({ type: "dispatched", provider: e.provider });
          else if (e.type === "chunk") send({ type: "chunk", text: e.text });
          // A quiet stretch upstream: passed on so that a proxy in front of the console keeps this stream open too.
          else if (e.type === "keepalive") send({ type: "keepalive" });
          else if (e.type === "done") {
            const r = e.result;
            send({ type: "done", job: r.job.uri, provider: r.provider, tokens: r.tokens, price: r.price, finishReason: r.finishReason, receipt: r.receipt.uri });
            const verdict = await client.verify(r);
            send({ type: "verified", ok: verdict.ok, checks: receiptChecks(verdict.findings), receipt: verdict.receipt.uri, attestation: verdict.attestation.uri });
            if (abort.signal.aborted) break;
            const s = await client.waitForSettlement(r.receipt.uri, { timeoutMs: 60_000 });
            send({ type: "settlement", uri: s.uri, amountCharged: s.amountCharged, providerPayout: s.providerPayout, exchangeFee: s.exchangeFee, settledAt: s.settledAt });
          }
        }
      } catch (err) {
        const code = err instanceof ClientError ? err.code : abort.signal.aborted ? "cancelled" : "internal_error";
        const message = err instanceof ClientError ? err.message : abort.signal.aborted ? "Stopped." : "The job failed in the console.";
        if (!(err instanceof ClientError) && !abort.signal.aborted) c.s.log(`chat: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        const job = jobUri ?? (err instanceof ClientError && typeof err.details.job === "string" ? err.details.job : undefined);
        if (job) outcome.run(job, did, model, abort.signal.aborted ? "cancelled" : "refused", code, message, Date.now());
        send({ type: "error", code, message, ...(job ? { job } : {}) });
      }
      c.res.end();
      return undefined;
    },
  },
];
