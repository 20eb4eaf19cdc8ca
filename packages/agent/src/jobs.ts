// One dispatched job, from the matchmaker's `job` message to the receipt on the provider's PDS:
// the refusal checks (each with its named code), opening the sealed input, the engine run with
// streaming, and the signed receipt, which goes through the durable queue so that no completed
// job loses its receipt.
import {
  base64Decode,
  fromJsonRecord,
  inputCommitment,
  jobWork,
  offersTools,
  outputSchemaHash,
  schemaProblem,
  toolSchemaHash,
  LowOrderKeyError,
  meetsTrustLevel,
  open,
  recordCid,
  replyKey,
  timerDelay,
  tokenRatePrice,
  validateRecord,
  type SigningKey,
  type TrustLevel,
} from "@cocore/protocol";
import type { Agent } from "@cocore/atproto";
import type { BrokerageCountersignature, DoneMessage, ErrorMessage, JobErrorCode, JobInput, JobMessage, StrongRef } from "./matchmaker-protocol.ts";
import { PromptTooLongError, type ModelCapabilities, type ModelRunner, type RunRequest, type RunResult } from "./model-runner.ts";
import type { TokenRate } from "./policy.ts";
import { RECEIPT_COLLECTION, type ReceiptQueue } from "./receipt-queue.ts";
import { buildReceipt, isProBono, isValidCountersignature } from "./receipts.ts";
import { ReplyStream } from "./reply-stream.ts";
import { nextTid } from "@cocore/atproto";

export class JobRefusal extends Error {
  override readonly name = "JobRefusal";
  constructor(
    readonly code: JobErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface JobContext {
  did: string;
  agent: Agent;
  signingKey: SigningKey;
  encryptionSecretKey: Uint8Array;
  trustLevel: TrustLevel;
  queue: ReceiptQueue;
  /** The runner for a model this machine currently serves. */
  runner(modelId: string): ModelRunner | undefined;
  /** What the machine serves for a model: its engine's capabilities as the owner allows them. */
  capabilities(modelId: string): ModelCapabilities | undefined;
  /** A valid attestation covering at least until `until` (renewed first when needed). */
  attestation(until: Date): Promise<StrongRef & { expiresAt: string }>;
  rate(exchange: string): Promise<TokenRate>;
  /** The latest provider record value (owner elections: proBono, acceptedExchanges). */
  providerValue(): Record<string, unknown>;
  now(): Date;
}

export interface JobSink {
  accepted(): void;
  /** One sealed reply frame, base64 (matchmaker-protocol.ts, "Output sealing"). */
  chunk(sealed: string): void;
}

/** Stop this long before a deadline so that completedAt is safely ≤ expiresAt. */
const DEADLINE_MARGIN_MS = 500;

function refuse(code: JobErrorCode, message: string): never {
  throw new JobRefusal(code, message);
}

function repoOf(uri: string): string | undefined {
  return /^at:\/\/([^/]+)\//.exec(uri)?.[1];
}

function decodeB64(text: unknown, what: string): Uint8Array {
  try {
    if (typeof text !== "string") throw new Error();
    return base64Decode(text);
  } catch {
    return refuse("input_invalid", `${what} is not base64`);
  }
}

export function parseJobInput(plaintext: Uint8Array): JobInput {
  const text = Buffer.from(plaintext).toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { prompt: text };
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return { prompt: text };
  const input = parsed as JobInput;
  const isInt = (v: unknown) => v === undefined || Number.isSafeInteger(v);
  if (input.messages !== undefined) {
    const ok = Array.isArray(input.messages) && input.messages.length > 0 && input.messages.every(isChatMessage);
    if (!ok) refuse("input_invalid", "messages must be a non-empty array of {role, content} (tool turns with toolCallId, assistant calls as toolCalls)");
  } else if (typeof input.prompt !== "string") {
    refuse("input_invalid", "the input has neither messages nor prompt");
  }
  if (!isInt(input.maxTokens) || !isInt(input.temperatureMilli) || !isInt(input.topPMilli) || !isInt(input.seed)) {
    refuse("input_invalid", "maxTokens, temperatureMilli, topPMilli and seed must be integers");
  }
  if ((input.temperatureMilli ?? 0) < 0 || (input.topPMilli ?? 1000) < 0 || (input.topPMilli ?? 1000) > 1000 || (input.maxTokens ?? 1) < 1) {
    refuse("input_invalid", "sampling settings out of range");
  }
  for (const p of [input.presencePenaltyMilli, input.frequencyPenaltyMilli]) {
    if (p !== undefined && !(Number.isSafeInteger(p) && p >= -2000 && p <= 2000)) refuse("input_invalid", "penalties are integers within -2000..2000");
  }
  if (input.stop !== undefined && !(Array.isArray(input.stop) && input.stop.length <= 4 && input.stop.every((x) => typeof x === "string" && x.length > 0))) {
    refuse("input_invalid", "stop is at most 4 non-empty strings");
  }
  if (input.parallelToolCalls !== undefined && typeof input.parallelToolCalls !== "boolean") refuse("input_invalid", "parallelToolCalls is a boolean");
  return input;
}

function isChatMessage(m: unknown): boolean {
  if (!m || typeof m !== "object") return false;
  const x = m as Record<string, unknown>;
  if (typeof x.content !== "string" || !["system", "user", "assistant", "tool"].includes(String(x.role))) return false;
  if (x.role === "tool" && typeof x.toolCallId !== "string") return false;
  if (x.toolCalls !== undefined) {
    if (x.role !== "assistant" || !Array.isArray(x.toolCalls)) return false;
    return x.toolCalls.every((c: unknown) => {
      const k = c as Record<string, unknown> | null;
      return !!k && typeof k.id === "string" && typeof k.name === "string" && typeof k.arguments === "string";
    });
  }
  return true;
}

/**
 * The job record's work (its outputSchema and tools) as the engine takes it, after the checks a
 * requester could have got wrong; refuses what this machine cannot serve for the model.
 */
export function workFor(job: Record<string, unknown>, input: JobInput, caps: ModelCapabilities | undefined): RunRequest["work"] {
  const w = jobWork(job);
  const format = job.inputFormat;
  if (format === "messages-v1" && input.messages === undefined) refuse("input_invalid", "the job's inputFormat is messages-v1 but the input has no messages");
  if (format === "text" && input.messages !== undefined) refuse("input_invalid", "the job's inputFormat is text but the input holds messages");
  let outputSchema: NonNullable<RunRequest["work"]>["outputSchema"];
  if (w.outputSchema) {
    const schema = w.outputSchema.schema;
    const strict = w.outputSchema.strict === true;
    const problem = schemaProblem(schema, { strict });
    if (problem || !schema) refuse("job_invalid", `the job's outputSchema cannot be enforced: ${problem?.message ?? "it has no schema"}`);
    if (!caps?.structuredOutput) refuse("structured_output_not_supported", `this machine does not enforce output schemas for ${String(job.model)}`);
    outputSchema = { name: w.outputSchema.name ?? "answer", strict, schema };
  }
  let tools: NonNullable<RunRequest["work"]>["tools"];
  if (offersTools(w)) {
    const defs = w.tools!.map((t) => ({ name: t.function.name, ...(t.function.description !== undefined && { description: t.function.description }), ...(t.function.parameters !== undefined && { parameters: t.function.parameters }) }));
    for (const d of defs) {
      // The job record keeps no per-function strict flag: unenforced keywords are accepted and not enforced.
      const problem = d.parameters ? schemaProblem(d.parameters, { strict: false }) : undefined;
      if (problem) refuse("job_invalid", `the parameters of tool ${d.name} cannot be enforced: ${problem.message}`);
    }
    if (new Set(defs.map((d) => d.name)).size !== defs.length) refuse("job_invalid", "two of the job's tools share a name");
    const named = w.toolChoiceFunction;
    if (named !== undefined && !defs.some((d) => d.name === named)) refuse("job_invalid", `toolChoiceFunction ${named} is not one of the job's tools`);
    if (!caps?.tools) refuse("tool_calls_not_supported", `this machine does not serve tool calls for ${String(job.model)}`);
    tools = { tools: defs, choice: named !== undefined ? { name: named } : w.toolChoice === "required" ? "required" : "auto", parallel: input.parallelToolCalls ?? true };
  }
  return outputSchema || tools ? { ...(outputSchema && { outputSchema }), ...(tools && { tools }) } : undefined;
}

/** Largest out-token count whose price with `tokensIn` stays within `ceiling` (price is monotonic). */
export function maxAffordableOut(rate: TokenRate, tokensIn: number, ceiling: number, limit: number): number {
  if (tokenRatePrice(rate, { in: tokensIn, out: 0 }) > ceiling) return -1;
  let lo = 0;
  let hi = limit;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (tokenRatePrice(rate, { in: tokensIn, out: mid }) <= ceiling) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

interface Checked {
  job: Record<string, unknown>;
  runner: ModelRunner;
  input: JobInput;
  work: RunRequest["work"];
  rate: TokenRate;
  ceiling: number;
  deadline: number;
  /** crypto_box key from this machine's X25519 key to the requester's replyPublicKey. */
  reply: Uint8Array;
  /** The matchmaker's countersignature when it fits the lexicon; a malformed one is dropped. */
  countersignature?: BrokerageCountersignature;
}

/** Every refusal check, in the order a requester would want to hear about them. */
export async function checkJob(ctx: JobContext, msg: JobMessage): Promise<Checked> {
  const job = msg.jobRecord;
  if (!job || typeof job !== "object") refuse("job_invalid", "jobRecord is missing");
  const lex = fromJsonRecord(job);
  const valid = validateRecord("dev.cocore.compute.job", lex);
  if (!valid.ok) refuse("job_invalid", `job record is invalid: ${valid.message}`);
  const cid = recordCid(lex);
  // A record with no computable CID cannot be bound to its strong ref: refuse rather than skip the check.
  if (!msg.job?.uri || cid === undefined || cid !== msg.job.cid) refuse("job_mismatch", "the job record does not match its strong-ref cid");
  if (repoOf(msg.job.uri) !== msg.requester) refuse("requester_mismatch", "the requester does not own the job record");

  const now = ctx.now().getTime();
  const expiresAt = Date.parse(String(job.expiresAt));
  if (!(expiresAt - DEADLINE_MARGIN_MS > now)) refuse("job_expired", `the job expired at ${String(job.expiresAt)}`);

  const providers = job.acceptedProviders as string[] | undefined;
  if (providers && providers.length > 0 && !providers.includes(ctx.did)) refuse("provider_not_accepted", "the job's acceptedProviders excludes this provider");
  const jobExchanges = job.acceptedExchanges as string[] | undefined;
  if (jobExchanges && jobExchanges.length > 0 && !jobExchanges.includes(msg.exchange)) refuse("exchange_not_accepted", "the job's acceptedExchanges excludes this exchange");
  const mine = ctx.providerValue().acceptedExchanges as string[] | undefined;
  if (Array.isArray(mine) && mine.length > 0 && !mine.includes(msg.exchange)) refuse("exchange_not_accepted", "this machine's owner does not accept settlement from this exchange");
  if (!meetsTrustLevel(ctx.trustLevel, String(job.acceptedTrustLevel))) refuse("trust_level_unmet", `the job wants ${String(job.acceptedTrustLevel)}; this machine is ${ctx.trustLevel}`);

  const model = String(job.model);
  const runner = ctx.runner(model);
  if (!runner) refuse("model_unsupported", `this machine does not serve model ${model}`);

  const sealed = decodeB64(msg.sealedInput, "sealedInput");
  if (inputCommitment(sealed) !== job.inputCommitment) refuse("commitment_mismatch", "sha256 of the sealed input is not the job's inputCommitment");
  const plaintext = open(sealed, decodeB64(msg.senderPublicKey, "senderPublicKey"), ctx.encryptionSecretKey);
  if (!plaintext) refuse("decrypt_failed", "the sealed input does not open with this machine's encryption key");
  const input = parseJobInput(plaintext);
  const work = workFor(job, input, ctx.capabilities(model));
  // Without a reply key the output could only travel in the clear past the matchmaker: refuse.
  let replyPublicKey: Uint8Array | undefined;
  try {
    replyPublicKey = typeof input.replyPublicKey === "string" ? base64Decode(input.replyPublicKey) : undefined;
  } catch {
    replyPublicKey = undefined;
  }
  if (replyPublicKey?.length !== 32) refuse("reply_key_missing", "the input carries no replyPublicKey (32-byte X25519, base64) to seal the output to");
  let reply: Uint8Array;
  try {
    reply = replyKey(replyPublicKey, ctx.encryptionSecretKey);
  } catch (err) {
    // A refusal, not an engine_error: the requester's key is at fault, not this machine.
    if (err instanceof LowOrderKeyError) refuse("reply_key_missing", "the replyPublicKey is a low-order X25519 point; output sealed to it would be readable by anyone");
    throw err;
  }

  const rate = await ctx.rate(msg.exchange);
  const ceiling = job.priceCeiling as { amount: number; currency: string };
  if (ceiling.currency !== rate.currency) refuse("currency_mismatch", `priceCeiling is in ${ceiling.currency}; the exchange prices in ${rate.currency}`);
  const countersignature = isValidCountersignature(msg.brokerageCountersignature) ? msg.brokerageCountersignature : undefined;
  return { job, runner, input, work, rate, ceiling: ceiling.amount, deadline: expiresAt - DEADLINE_MARGIN_MS, reply, countersignature };
}

/**
 * Runs a checked job and writes its receipt. Refusals throw JobRefusal before `sink.accepted()`;
 * after acceptance the result is a DoneMessage, or JobRefusal('engine_error') when the engine
 * failed, or JobRefusal('not_admitted') when `admitted` resolves false — then no receipt is
 * written. `admitted` is the exchange's admission as relayed by the matchmaker (a job dispatched
 * with `admission: "pending"`); generation may run before it settles, the receipt waits for it.
 */
export async function runJob(
  ctx: JobContext,
  msg: JobMessage,
  sink: JobSink,
  cancel: AbortSignal,
  admitted: Promise<boolean> = Promise.resolve(true),
): Promise<DoneMessage> {
  const c = await checkJob(ctx, msg);
  const job = c.job;
  const limit = Math.min(Number(job.maxTokensOut), c.input.maxTokens ?? Number(job.maxTokensOut));
  const requester = msg.requester;
  const proBono = isProBono(ctx.providerValue().proBono, requester);

  let maxTokens = limit;
  const promptTokens = await c.runner.countPromptTokens(c.input).catch((err: unknown) => {
    if (err instanceof PromptTooLongError) refuse("context_overflow", err.message);
    throw err;
  });
  if (!proBono && promptTokens !== undefined) {
    const affordable = maxAffordableOut(c.rate, promptTokens, c.ceiling, limit);
    if (affordable < 0) refuse("ceiling_too_low", `the prompt alone (${promptTokens} tokens) costs more than priceCeiling ${c.ceiling}`);
    if (affordable === 0) refuse("ceiling_too_low", "priceCeiling leaves no room for any output token");
    maxTokens = affordable;
  }

  const attestation = await ctx.attestation(new Date(Math.min(c.deadline, ctx.now().getTime() + 24 * 3600_000)));
  const deadline = Math.min(c.deadline, Date.parse(attestation.expiresAt) - DEADLINE_MARGIN_MS);
  sink.accepted();

  const stop = new AbortController();
  const onCancel = () => stop.abort();
  cancel.addEventListener("abort", onCancel);
  if (cancel.aborted) stop.abort(); // cancelled while queued behind another job
  const reply = new ReplyStream(c.reply, (sealed) => sink.chunk(sealed));
  const timer = setTimeout(() => stop.abort(), timerDelay(deadline - ctx.now().getTime()));
  const temperatureMilli = c.input.temperatureMilli ?? 0;
  const topPMilli = c.input.topPMilli ?? 1000;
  const startedAt = ctx.now().toISOString();
  let result: RunResult;
  try {
    result = await c.runner.run({
      messages: c.input.messages,
      prompt: c.input.messages ? undefined : c.input.prompt,
      maxTokens,
      temperatureMilli,
      topPMilli,
      seed: c.input.seed,
      ...(c.work && { work: c.work }),
      ...(c.input.stop && { stop: c.input.stop }),
      ...(c.input.presencePenaltyMilli !== undefined && { presencePenaltyMilli: c.input.presencePenaltyMilli }),
      ...(c.input.frequencyPenaltyMilli !== undefined && { frequencyPenaltyMilli: c.input.frequencyPenaltyMilli }),
      signal: stop.signal,
      onText: (t) => reply.push(t),
    });
  } catch (err) {
    if (err instanceof PromptTooLongError) refuse("context_overflow", err.message);
    throw new JobRefusal("engine_error", `the engine failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
    cancel.removeEventListener("abort", onCancel);
  }
  const cipherCommitment = reply.end();
  const completedAt = ctx.now().toISOString();
  // One event-loop turn before the receipt's synchronous work (signing, CIDs, the queue's fsync):
  // when the matchmaker runs in this process (`cocore up`) it relays the last piece first.
  await new Promise((r) => setImmediate(r));
  if (!(await admitted)) refuse("not_admitted", "the exchange did not admit the job (or the matchmaker never confirmed it); no receipt was written");

  const built = buildReceipt({
    job: msg.job,
    requester,
    model: String(job.model),
    inputCommitment: String(job.inputCommitment),
    output: result.text,
    outputCipherCommitment: cipherCommitment,
    tokens: result.tokens,
    startedAt,
    completedAt,
    rate: c.rate,
    attestation,
    params: { maxTokens: result.maxTokens ?? maxTokens, seed: c.input.seed, temperatureMilli, topPMilli, outputSchemaHash: outputSchemaHash(job), toolSchemaHash: toolSchemaHash(job) },
    proBono,
    brokerageCountersignature: c.countersignature,
    signingKey: ctx.signingKey,
  });
  const rkey = nextTid();
  ctx.queue.enqueue(rkey, msg.job.uri, built.value);
  let written = false;
  try {
    await ctx.queue.writeOne(ctx.agent, rkey);
    written = true;
  } catch {
    // stays in the durable queue; the agent's retry loop writes it later
  }
  return {
    type: "done",
    jobUri: msg.job.uri,
    receipt: { uri: `at://${ctx.did}/${RECEIPT_COLLECTION}/${rkey}`, cid: built.cid, written },
    tokens: built.tokens,
    price: built.price,
    proBono,
    outputCommitment: String(built.value.outputCommitment),
    outputCipherCommitment: cipherCommitment,
    finishReason: result.finishReason,
    startedAt,
    completedAt,
  };
}

export function errorMessage(jobUri: string, err: unknown): ErrorMessage {
  if (err instanceof JobRefusal) return { type: "error", jobUri, code: err.code, message: err.message };
  return { type: "error", jobUri, code: "engine_error", message: err instanceof Error ? err.message : String(err) };
}
