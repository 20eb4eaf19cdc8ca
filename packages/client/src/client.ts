// The requester SDK: offer → seal → publish paymentAuthorization + job (one commit) → dispatch →
// stream → receipt (verified offline) → settlement.
import { randomBytes } from "node:crypto";
import {
  applyWrites,
  createRecord,
  getRecord,
  getServiceAuthToken,
  listRecords,
  makeIdResolver,
  resolvePds,
  type Agent,
  type IdResolver,
  type RecordEntry,
} from "@cocore/atproto";
import {
  base64Decode,
  base64Encode,
  brokerageKeyUri,
  checkAttestation,
  countersignatureProblems,
  fromJsonRecord,
  generateEncryptionKeyPair,
  inputCommitment,
  jobWork,
  normalizeBundle,
  offersTools,
  NSID,
  OutputCipherHash,
  outputCommitment,
  openReply,
  recordCid,
  replyKey,
  seal,
  tokenRatePrice,
  verifyReceipt,
  type Countersignature,
  type VerifyResult,
} from "@cocore/protocol";
import type { DispatchEvent, DispatchRequest, MatchmakerIdentity, ModelInfo, ProviderOffer } from "@cocore/matchmaker/wire";
import { ClientError } from "./errors.ts";
import { readNdjson } from "./ndjson.ts";
import { nextTid } from "@cocore/atproto";

import type { ClientOptions, JobInput, JobResult, JobWorkFields, Policy, Ref, Settlement, StreamEvent, SubmitOptions, TermsStatus, Verdict } from "./types.ts";
export type { ClientOptions, JobInput, JobResult, JobWorkFields, ModelInfo, Policy, Ref, Settlement, StreamEvent, SubmitOptions, TermsStatus, Verdict } from "./types.ts";

const DEFAULT_MAX_TOKENS = 256;
/** Job records one request may write when machines produce nothing (the matchmaker's bound too). */
const MAX_ATTEMPTS = 3;
/**
 * Failures before any output that are about the machine, not the job (the matchmaker's and the
 * agent's codes): another machine may serve the job. Nothing was charged for them.
 */
const REDISPATCH_CODES: ReadonlySet<string> = new Set(["provider_lost", "provider_timeout", "provider_unavailable", "engine_error", "shutting_down"]);
const DEFAULT_EXPIRY_MS = 5 * 60_000;
// Chat templates add a bounded number of tokens around the messages.
const TEMPLATE_TOKENS = 256;

export class CocoreClient {
  readonly did: string;
  private identityP?: Promise<MatchmakerIdentity>;
  private policyP?: Promise<Policy>;
  private termsChecked = false;
  private readonly idResolver?: IdResolver;
  private readonly pdsCache = new Map<string, string>();
  /** Attestations already fetched and checked, by CID (a machine's attestation serves a day of jobs). */
  private readonly attestations = new Map<string, Record<string, unknown>>();
  private brokerageKeyP?: Promise<{ uri: string; value: Record<string, unknown> } | null>;

  constructor(private readonly opts: ClientOptions) {
    this.did = opts.agent.assertDid;
    if (opts.plcUrl) this.idResolver = makeIdResolver(opts.plcUrl);
  }

  /** The requester's logged-in session. */
  get agent(): Agent {
    return this.opts.agent;
  }

  /** A DID for a handle (or the DID itself). */
  async resolveDid(handleOrDid: string): Promise<string> {
    if (handleOrDid.startsWith("did:")) return handleOrDid;
    try {
      return (await this.opts.agent.com.atproto.identity.resolveHandle({ handle: handleOrDid })).data.did;
    } catch (err) {
      throw new ClientError("unknown_handle", `Unknown handle '${handleOrDid}'.`, {}, { cause: err });
    }
  }

  // ---------------------------------------------------------------- discovery

  identity(): Promise<MatchmakerIdentity> {
    this.identityP ??= this.getJson<MatchmakerIdentity>(`${this.opts.matchmakerUrl}/v1/identity`, "the matchmaker").catch((e) => {
      this.identityP = undefined;
      throw e;
    });
    return this.identityP;
  }

  /** The exchange's DID: as configured, else as its own policy names it, else the matchmaker's exchange. */
  async exchangeDid(): Promise<string> {
    if (this.opts.exchangeDid) return this.opts.exchangeDid;
    const fromPolicy = await this.policy().then((p) => p.value.exchange, () => undefined);
    return typeof fromPolicy === "string" ? fromPolicy : (await this.identity()).exchange;
  }

  async providers(model?: string): Promise<ProviderOffer[]> {
    const q = model ? `?model=${encodeURIComponent(model)}` : "";
    return (await this.getJson<{ providers: ProviderOffer[] }>(`${this.opts.matchmakerUrl}/v1/providers${q}`, "the matchmaker")).providers;
  }

  async models(): Promise<ModelInfo[]> {
    return (await this.getJson<{ models: ModelInfo[] }>(`${this.opts.matchmakerUrl}/v1/models`, "the matchmaker")).models;
  }

  /** A machine to seal to; with `work`, one that serves its tools / schema (else the matchmaker's refusal). */
  async offer(model: string, o: { acceptedTrustLevel?: string; acceptedProviders?: string[]; work?: JobWorkFields; exclude?: string[] } = {}): Promise<ProviderOffer> {
    const q = new URLSearchParams({ model, trust: o.acceptedTrustLevel ?? "self-attested" });
    for (const p of o.acceptedProviders ?? []) q.append("provider", p);
    for (const m of o.exclude ?? []) q.append("exclude", m);
    const w = o.work ? jobWork(o.work as Record<string, unknown>) : undefined;
    if (w && offersTools(w)) q.set("tools", "1");
    if (w?.outputSchema) q.set("structuredOutput", "1");
    return (await this.getJson<{ offer: ProviderOffer }>(`${this.opts.matchmakerUrl}/v1/offer?${q}`, "the matchmaker")).offer;
  }

  policy(): Promise<Policy> {
    this.policyP ??= this.getJson<{ uri: string; cid: string; policy: Record<string, unknown> }>(
      `${this.opts.exchangeUrl}/xrpc/${NSID.getPolicy}`,
      "the exchange",
    ).then(
      (r) => ({ uri: r.uri, cid: r.cid, value: r.policy }),
      (e) => {
        this.policyP = undefined;
        throw e;
      },
    );
    return this.policyP;
  }

  /**
   * Whether the active policy's terms (termsVersion) differ from the latest termsAcceptance this
   * member wrote for the exchange; undefined when the policy states no terms.
   */
  async termsStatus(): Promise<TermsStatus | undefined> {
    const policy = await this.policy();
    const version = policy.value.termsVersion;
    const termsUri = policy.value.termsUri;
    if (typeof version !== "string" || typeof termsUri !== "string") return undefined;
    const exchange = await this.exchangeDid();
    const mine = await listRecords(this.opts.agent, this.did, NSID.termsAcceptance);
    const latest = mine.filter((r) => r.value.exchange === exchange).sort((a, b) => String(b.value.acceptedAt).localeCompare(String(a.value.acceptedAt)))[0];
    const accepted = typeof latest?.value.termsVersion === "string" ? latest.value.termsVersion : undefined;
    return { needed: accepted !== version, termsVersion: version, termsUri, exchange, policy: { uri: policy.uri, cid: policy.cid }, ...(accepted ? { acceptedVersion: accepted } : {}) };
  }

  /** Writes a termsAcceptance when the active policy's termsVersion differs from the latest one we accepted. */
  async ensureTerms(): Promise<Ref | undefined> {
    if (this.termsChecked) return undefined;
    const status = await this.termsStatus();
    let ref: Ref | undefined;
    if (status?.needed) {
      ref = await createRecord(this.opts.agent, NSID.termsAcceptance, {
        $type: NSID.termsAcceptance,
        exchange: status.exchange,
        policy: status.policy,
        termsVersion: status.termsVersion,
        termsUri: status.termsUri,
        userAgent: this.opts.userAgent ?? "cocore-client/0.1.0",
        acceptedAt: new Date().toISOString(),
      });
    }
    this.termsChecked = true;
    return ref;
  }

  // ---------------------------------------------------------------- running a job

  /**
   * Runs one job and streams its events; the last event is `done` (failures throw ClientError).
   * A machine that produces nothing (it drops, misses its preflight, refuses for its own reasons)
   * does not end the job: it is sealed again to another machine as a new job record — the old one
   * binds the old key — at most MAX_ATTEMPTS times in all, with a `redispatched` event between.
   * The abandoned jobs' holds are released by the matchmaker; only the job that answers is charged.
   */
  async *stream(input: string | JobInput, o: SubmitOptions): AsyncGenerator<StreamEvent> {
    const t0 = performance.now();
    const jobInput: JobInput = typeof input === "string" ? { prompt: input } : { ...input };
    const maxTokens = o.maxTokens ?? jobInput.maxTokens ?? DEFAULT_MAX_TOKENS;
    jobInput.maxTokens = maxTokens;
    // Fetched while the job is prepared, to check the dispatch's countersignature when it comes.
    void this.brokerageKey().catch(() => null);
    const offerFor = (exclude: string[]) =>
      this.offer(o.model, { acceptedTrustLevel: o.acceptedTrustLevel, acceptedProviders: o.acceptedProviders, work: o.work, exclude }).catch((e) => {
        throw e instanceof ClientError ? e : new ClientError("matchmaker_unreachable", String(e));
      });
    const [exchange, policy, firstOffer] = await Promise.all([this.exchangeDid(), this.policy(), offerFor([])]);
    await this.ensureTerms();
    const tried: string[] = [];
    let offer = firstOffer;
    for (let attempt = 1; ; attempt++) {
      const progress = { output: false };
      try {
        yield* this.attempt(jobInput, o, { exchange, policy, offer, t0, attempt }, progress);
        return;
      } catch (err) {
        if (!(err instanceof ClientError) || progress.output || attempt >= MAX_ATTEMPTS || !REDISPATCH_CODES.has(err.code) || o.signal?.aborted) throw err;
        tried.push(offer.machineId);
        // No other machine: the failure that brought us here says more than "none left".
        offer = await offerFor(tried).catch(() => {
          throw err;
        });
        yield { type: "redispatched", code: err.code, message: err.message, attempt: attempt + 1, ...(typeof err.details.job === "string" && { abandoned: err.details.job }) };
      }
    }
  }

  /** One job record sealed to `offer`'s machine, dispatched and streamed; `progress.output` once any output was read. */
  private async *attempt(
    jobInput: JobInput,
    o: SubmitOptions,
    a: { exchange: string; policy: Policy; offer: ProviderOffer; t0: number; attempt: number },
    progress: { output: boolean },
  ): AsyncGenerator<StreamEvent> {
    const { exchange, policy, offer, t0 } = a;
    const maxTokens = jobInput.maxTokens!;
    // The machine's key comes from the provider's own attestation, never from the matchmaker's
    // word: a matchmaker that offered a key of its own could read the prompt.
    const attested = await this.attestedKey(offer, o.acceptedTrustLevel);
    // A fresh reply key per job, inside the seal: the provider seals the output to it, so the
    // matchmaker relays nothing it can read, and no one else can swap in their own key.
    const replyPair = generateEncryptionKeyPair();
    const machineKey = base64Decode(attested);
    const replyBox = replyKey(machineKey, replyPair.secretKey);
    replyPair.secretKey.fill(0);
    const plaintext = new TextEncoder().encode(JSON.stringify({ ...jobInput, replyPublicKey: base64Encode(replyPair.publicKey) }));
    const { sealed, senderPublicKey } = seal(plaintext, machineKey);
    const rate = policy.value.tokenRate as { inputPricePerMTok: number; outputPricePerMTok: number; currency: string } | undefined;
    const currency = rate?.currency ?? "TOK";
    const ceiling =
      o.priceCeiling ??
      // An upstream server reads the tool definitions as prompt too.
      tokenRatePrice(rate ?? { inputPricePerMTok: 1_000_000, outputPricePerMTok: 1_000_000 }, { in: plaintext.length + TEMPLATE_TOKENS + Buffer.byteLength(JSON.stringify(o.work?.tools ?? [])), out: maxTokens });
    const now = Date.now();
    const expiresAt = new Date(now + (o.expiresInMs ?? DEFAULT_EXPIRY_MS)).toISOString();
    const createdAt = new Date(now).toISOString();
    const authValue: Record<string, unknown> = {
      $type: NSID.paymentAuthorization,
      exchange,
      ceiling: { amount: ceiling, currency },
      scope: "singleJob",
      nonce: randomBytes(16).toString("hex"),
      expiresAt,
      createdAt,
    };
    const authRkey = nextTid();
    const auth = { uri: `at://${this.did}/${NSID.paymentAuthorization}/${authRkey}`, cid: recordCid(fromJsonRecord(authValue))! };
    const jobValue: Record<string, unknown> = {
      $type: NSID.job,
      model: o.model,
      inputCommitment: inputCommitment(sealed),
      maxTokensOut: maxTokens,
      priceCeiling: { amount: ceiling, currency },
      acceptedTrustLevel: o.acceptedTrustLevel ?? "self-attested",
      acceptedExchanges: [exchange],
      paymentAuthorization: auth,
      nonce: randomBytes(16).toString("hex"),
      expiresAt,
      createdAt,
      inputFormat: jobInput.messages ? "messages-v1" : "text",
      ...workFields(o.work),
    };
    // Always name the provider: a job without acceptedProviders lets anyone who sees it on the
    // firehose write a receipt for it (which verifies) and be paid.
    jobValue.acceptedProviders = acceptedProvidersFor(offer, o.acceptedProviders);
    const jobRkey = nextTid();
    const job = { uri: `at://${this.did}/${NSID.job}/${jobRkey}`, cid: recordCid(fromJsonRecord(jobValue))! };
    // Both records in one commit: a job never exists without the authorization it points at.
    const written = await applyWrites(this.opts.agent, [
      { action: "create", collection: NSID.paymentAuthorization, rkey: authRkey, value: authValue },
      { action: "create", collection: NSID.job, rkey: jobRkey, value: jobValue },
    ]);
    if (written[0]?.cid !== auth.cid || written[1]?.cid !== job.cid) {
      throw new ClientError("record_mismatch", "The PDS stored the job records under different CIDs than computed; refusing to dispatch.");
    }
    yield { type: "submitted", job, paymentAuthorization: auth, offer, submitMs: performance.now() - t0 };

    const req: DispatchRequest = {
      job,
      jobRecord: jobValue,
      sealedInput: base64Encode(sealed),
      senderPublicKey: base64Encode(senderPublicKey),
      encryptionPubKey: attested,
      machineId: offer.machineId,
    };
    const tDispatch = performance.now();
    // Ours as well as the caller's: leaving the stream early (a dispatch refused here) must end the request.
    const ended = new AbortController();
    let res: Response;
    try {
      res = await fetch(`${this.opts.matchmakerUrl}/v1/dispatch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(req),
        signal: o.signal ? AbortSignal.any([o.signal, ended.signal]) : ended.signal,
      });
    } catch (err) {
      throw new ClientError("matchmaker_unreachable", `Cannot reach the matchmaker at ${this.opts.matchmakerUrl}.`, {}, { cause: err });
    }
    if (res.status !== 200 || !res.body) {
      const e = await refusal(res);
      e.details.job = job.uri;
      throw e;
    }
    let text = "";
    let ttftMs = -1;
    const cipher = new OutputCipherHash();
    const utf8 = new TextDecoder("utf-8", { fatal: true });
    let provider = offer.provider;
    let machineId = offer.machineId;
    let countersignature: Countersignature | undefined;
    try {
      for await (const e of readNdjson<DispatchEvent>(res.body)) {
        switch (e.type) {
          case "queued":
            yield { type: "queued", position: e.position, waitMs: e.waitMs, queued: e.queued };
            break;
          case "keepalive":
            yield { type: "keepalive" };
            break;
          case "dispatched":
            countersignature = await this.checkDispatch(e, job, jobValue);
            provider = e.provider;
            machineId = e.machineId;
            yield { type: "dispatched", provider, machineId, attempt: e.attempt };
            break;
          case "chunk": {
            const frame = base64Decode(e.sealed);
            cipher.update(frame);
            const piece = openReply(frame, replyBox);
            let t: string;
            try {
              if (!piece) throw new Error("does not open");
              t = utf8.decode(piece);
            } catch {
              throw new ClientError("reply_invalid", "An output piece did not open with this job's reply key; the stream was tampered with or not from the provider.", { job: job.uri, seq: e.seq });
            }
            if (ttftMs < 0) ttftMs = performance.now() - tDispatch;
            progress.output = true;
            text += t;
            yield { type: "chunk", text: t };
            break;
          }
          case "error":
            throw new ClientError(e.code, e.message, { job: job.uri });
          case "done": {
            const cipherHex = cipher.digest();
            yield {
              type: "done",
              result: {
                job, jobRecord: jobValue, paymentAuthorization: { ...auth, value: authValue }, provider: e.provider, machineId: e.machineId, text,
                tokens: e.tokens, price: e.price, finishReason: e.finishReason, offersTools: offersTools(jobWork(jobValue)), receipt: e.receipt,
                outputMatches: e.outputCommitment === outputCommitment(text), outputCipherCommitment: cipherHex,
                cipherMatches: e.outputCipherCommitment === cipherHex, ttftMs: ttftMs < 0 ? performance.now() - tDispatch : ttftMs, attempt: a.attempt,
                ...(countersignature ? { brokerageCountersignature: countersignature } : {}),
              },
            };
            return;
          }
        }
      }
    } finally {
      ended.abort();
    }
    throw new ClientError("provider_lost", "The matchmaker's stream ended without a result.", { job: job.uri });
  }

  /**
   * The matchmaker's countersignature of a dispatch, against the key it publishes in its own repo
   * (@cocore/protocol brokerage.ts): it must be this matchmaker's, for this job and input, and
   * route the job to the provider the event names. Refused, the stream ends before any output is
   * read (the request is aborted, so the agent is told to stop).
   */
  private async checkDispatch(e: Extract<DispatchEvent, { type: "dispatched" }>, job: Ref, jobValue: Record<string, unknown>): Promise<Countersignature> {
    const cs = e.brokerageCountersignature;
    const details = { job: job.uri, provider: e.provider };
    if (!cs) throw new ClientError("countersignature_missing", "The matchmaker dispatched the job without countersigning it; refusing its output.", details);
    const { did } = await this.identity();
    if (cs.authority !== did) throw new ClientError("countersignature_invalid", `The dispatch is countersigned by ${String(cs.authority)}, not by the matchmaker ${did}; refusing its output.`, details);
    const ctx = { job, inputCommitment: String(jobValue.inputCommitment), provider: e.provider, window: { from: Date.parse(String(jobValue.createdAt)), to: Date.now() } };
    let problems = countersignatureProblems(cs, (await this.brokerageKey().catch(() => null)) ?? undefined, ctx);
    // The matchmaker may have rotated its key since we read it: read it once more before refusing.
    if (problems.length > 0) problems = countersignatureProblems(cs, (await this.brokerageKey(true).catch(() => null)) ?? undefined, ctx);
    if (problems.length > 0) throw new ClientError("countersignature_invalid", `The dispatch's countersignature does not hold: ${problems.join("; ")}; refusing its output.`, details);
    return cs;
  }

  /** The matchmaker's published brokerageKey record (from its own repo), or null when it publishes none. */
  private brokerageKey(refresh = false): Promise<{ uri: string; value: Record<string, unknown> } | null> {
    if (refresh || !this.brokerageKeyP) {
      this.brokerageKeyP = this.identity()
        .then((id) => this.fetchRecord(brokerageKeyUri(id.did)))
        .then((r) => (r ? { uri: r.uri, value: fromJsonRecord(r.value) as Record<string, unknown> } : null));
      this.brokerageKeyP.catch(() => (this.brokerageKeyP = undefined));
    }
    return this.brokerageKeyP;
  }

  /** Runs one job to completion; `onChunk` sees the answer as it streams. */
  async run(input: string | JobInput, o: SubmitOptions & { onChunk?: (text: string) => void }): Promise<JobResult> {
    for await (const e of this.stream(input, o)) {
      if (e.type === "chunk") o.onChunk?.(e.text);
      if (e.type === "done") return e.result;
    }
    throw new ClientError("provider_lost", "The job ended without a result.");
  }

  // ---------------------------------------------------------------- after the job

  /** Fetches the receipt (waiting for a queued write) and its attestation, and verifies them offline. */
  async verify(result: JobResult, o: { timeoutMs?: number } = {}): Promise<Verdict> {
    const receipt = await this.waitForRecord(result.receipt.uri, o.timeoutMs ?? 30_000);
    const attRef = receipt.value.attestation as Ref;
    const attestation = await this.fetchRecord(attRef.uri);
    if (!attestation) throw new ClientError("attestation_missing", `The receipt's attestation ${attRef.uri} is not on its PDS.`);
    const policy = await this.policy();
    const bundle = normalizeBundle({
      receipt,
      job: { uri: result.job.uri, cid: result.job.cid, value: result.jobRecord },
      attestation,
      paymentAuthorization: result.paymentAuthorization,
      policy,
    });
    // The job was dispatched with a countersignature we checked: the receipt must carry that one.
    const dispatchedCs = result.brokerageCountersignature;
    if (dispatchedCs) {
      const key = await this.brokerageKey().catch(() => null);
      if (key) bundle.brokerageKey = key;
    }
    const verdict = verifyReceipt(bundle, { exchange: await this.exchangeDid(), requireCountersignature: dispatchedCs !== undefined });
    // The receipt must also be about what we were delivered: the plaintext we decrypted and the
    // sealed frames exactly as the matchmaker relayed them.
    const findings = [...verdict.findings];
    if (receipt.value.outputCommitment !== outputCommitment(result.text)) {
      findings.push({ code: "commitment-mismatch", message: "The receipt's outputCommitment is not the SHA-256 of the output this requester received." });
    }
    const receiptCs = receipt.value.brokerageCountersignature as { nonce?: unknown; machineId?: unknown } | undefined;
    if (dispatchedCs && receiptCs && (receiptCs.nonce !== dispatchedCs.nonce || receiptCs.machineId !== dispatchedCs.machineId)) {
      findings.push({ code: "countersignature-invalid", message: "The receipt's brokerageCountersignature is not the one the matchmaker showed this requester at dispatch." });
    }
    if (receipt.value.outputCipherCommitment !== result.outputCipherCommitment) {
      findings.push({ code: "commitment-mismatch", message: "The receipt's outputCipherCommitment is not the SHA-256 of the sealed reply frames this requester received." });
    }
    return { ok: verdict.ok && findings.length === verdict.findings.length, findings, receipt, attestation };
  }

  /** Polls the exchange until it has settled the receipt. */
  async waitForSettlement(receiptUri: string, o: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Settlement> {
    const deadline = Date.now() + (o.timeoutMs ?? 60_000);
    for (;;) {
      const found = (await this.settlements(this.did)).find((s) => s.receipt === receiptUri);
      if (found) return found;
      if (Date.now() > deadline) throw new ClientError("settlement_timeout", `The exchange has not settled ${receiptUri} yet; check again with \`cocore balance\`.`);
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 250));
    }
  }

  async settlements(did?: string, limit = 50): Promise<Settlement[]> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (did) q.set("did", did);
    return (await this.getJson<{ settlements: Settlement[] }>(`${this.opts.exchangeUrl}/xrpc/${NSID.listSettlements}?${q}`, "the exchange")).settlements;
  }

  /** The member's balance; reading one's own balance counts as activity (refresh rule). */
  async balance(did: string = this.did): Promise<Record<string, unknown> & { balance: number; available: number }> {
    return this.authedGet(NSID.getBalance, { did });
  }

  async history(did: string = this.did, limit = 20): Promise<Record<string, unknown>> {
    return this.authedGet(NSID.listHistory, { did, limit: String(limit) });
  }

  /** The patronage period in progress (the member's score, projected rebate) and past periods. */
  async patronage(did: string = this.did): Promise<Record<string, unknown>> {
    return this.getJson(`${this.opts.exchangeUrl}/xrpc/${NSID.getPatronage}?${new URLSearchParams({ did })}`, "the exchange");
  }

  /**
   * The encryption key the offered machine's attestation states, after checking that record as
   * fetched from the provider's own PDS: at the CID offered, in the provider's repo, self-signed,
   * valid now, stating the keys offered, and meeting the trust level asked for. Any mismatch
   * refuses the job before anything is sealed.
   */
  private async attestedKey(offer: ProviderOffer, acceptedTrustLevel?: string): Promise<string> {
    const ref = offer.attestation;
    if (!ref) throw new ClientError("attestation_missing", `The matchmaker offered machine ${offer.machineId} without its attestation; refusing to seal to an unattested key.`, { provider: offer.provider });
    let value = this.attestations.get(ref.cid);
    if (!value) {
      const rec = await this.fetchRecord(ref.uri).catch(() => null);
      if (!rec) throw new ClientError("attestation_missing", `The attestation ${ref.uri} is not on the provider's PDS.`, { provider: offer.provider });
      value = fromJsonRecord(rec.value) as Record<string, unknown>;
      const problems = checkAttestation({ uri: ref.uri, cid: ref.cid, value }, { provider: offer.provider, at: Date.now() }).filter((p) => p.code !== "trust-level-unmet");
      if (problems.length > 0) throw new ClientError("attestation_invalid", `The provider's attestation does not hold: ${problems.map((p) => p.message).join("; ")}.`, { provider: offer.provider, attestation: ref.uri });
      if (this.attestations.size > 256) this.attestations.clear();
      this.attestations.set(ref.cid, value);
    }
    const problems = checkAttestation({ uri: ref.uri, cid: ref.cid, value }, { provider: offer.provider, at: Date.now(), encryptionPubKey: offer.encryptionPubKey, publicKey: offer.attestationPubKey, ...(acceptedTrustLevel ? { acceptedTrustLevel } : {}) });
    const first = problems[0];
    if (first) {
      const code = first.code === "attestation-key-mismatch" ? "attestation_key_mismatch" : first.code === "trust-level-unmet" ? "trust_level_unmet" : "attestation_invalid";
      throw new ClientError(code, `Refusing to seal: ${problems.map((p) => p.message).join("; ")}.`, { provider: offer.provider, attestation: ref.uri });
    }
    return value.encryptionPubKey as string;
  }

  // ---------------------------------------------------------------- plumbing

  private async authedGet<T>(lxm: string, params: Record<string, string>): Promise<T> {
    const token = await getServiceAuthToken(this.opts.agent, await this.exchangeDid(), lxm);
    return this.getJson<T>(`${this.opts.exchangeUrl}/xrpc/${lxm}?${new URLSearchParams(params)}`, "the exchange", { authorization: `Bearer ${token}` });
  }

  private async getJson<T>(url: string, what: string, headers: Record<string, string> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(15_000) });
    } catch (err) {
      const code = what === "the exchange" ? "exchange_unreachable" : "matchmaker_unreachable";
      throw new ClientError(code, `Cannot reach ${what} at ${new URL(url).origin}.`, {}, { cause: err });
    }
    if (!res.ok) throw await refusal(res);
    return (await res.json()) as T;
  }

  private async pdsFor(did: string): Promise<string | Agent> {
    if (did === this.did || !this.idResolver) return this.opts.agent;
    let url = this.pdsCache.get(did);
    if (!url) {
      url = await resolvePds(this.idResolver, did);
      this.pdsCache.set(did, url);
    }
    return url;
  }

  async fetchRecord(uri: string): Promise<RecordEntry | null> {
    const [, , did, collection, rkey] = uri.split("/");
    if (!did || !collection || !rkey) throw new ClientError("invalid_uri", `${uri} is not a record URI.`);
    const src = await this.pdsFor(did);
    return getRecord(typeof src === "string" ? src : src, did, collection, rkey);
  }

  private async waitForRecord(uri: string, timeoutMs: number): Promise<RecordEntry> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rec = await this.fetchRecord(uri);
      if (rec) return rec;
      if (Date.now() > deadline) throw new ClientError("receipt_missing", `The receipt ${uri} has not appeared on the provider's PDS.`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The job record's work fields, only those given (PROTOCOL.md §3 names and limits). */
function workFields(w: JobWorkFields | undefined): Record<string, unknown> {
  if (!w) return {};
  return {
    ...(w.outputSchema && { outputSchema: w.outputSchema }),
    ...(w.tools && w.tools.length > 0 && { tools: w.tools }),
    ...(w.toolChoice && { toolChoice: w.toolChoice }),
    ...(w.toolChoiceFunction !== undefined && { toolChoiceFunction: w.toolChoiceFunction }),
  };
}

/** The job's acceptedProviders: the caller's list if given (it must name the offered provider), else the offered provider alone. */
export function acceptedProvidersFor(offer: Pick<ProviderOffer, "provider">, requested?: readonly string[]): string[] {
  if (!requested || requested.length === 0) return [offer.provider];
  if (!requested.includes(offer.provider)) {
    throw new ClientError("offer_provider_not_accepted", `The matchmaker offered provider ${offer.provider}, which is not in acceptedProviders; refusing to write the job.`, { provider: offer.provider });
  }
  return [...requested];
}

async function refusal(res: Response): Promise<ClientError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  const err = body.error;
  if (err && typeof err === "object") {
    const { code, message, ...rest } = err as Record<string, unknown>;
    return new ClientError(String(code ?? `http_${res.status}`), String(message ?? `HTTP ${res.status}`), rest);
  }
  // XRPC errors: { error: "Name", message }
  if (typeof err === "string") return new ClientError(err.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase(), String(body.message ?? err), body);
  return new ClientError(`http_${res.status}`, `HTTP ${res.status} from ${new URL(res.url).origin}.`);
}

