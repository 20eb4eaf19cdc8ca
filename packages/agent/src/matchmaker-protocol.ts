// The wire protocol between a provider agent and a matchmaker (ARCHITECTURE.md: `GET /v1/agent`,
// WebSocket). This file is the contract both sides are written against; it has no runtime
// dependencies so the matchmaker can import it as is (`@cocore/agent/matchmaker-protocol` or by
// path).
//
// Framing: every WebSocket message is one UTF-8 text frame holding one JSON object with a string
// `type`. Unknown `type`s and unknown fields are ignored by both sides (additive evolution);
// a breaking change bumps AGENT_PROTOCOL_VERSION. Binary data travels as standard base64.
//
// Session:
//   mm     → challenge           first frame after the socket opens: a fresh nonce for this
//                                connection only
//   agent  → register            the answer, carrying that nonce and signed with the machine key:
//                                a register captured on another connection (a replay) names
//                                another nonce and is refused `challenge_mismatch` without
//                                touching the machine's live connection
//   mm     → registered          accepted; from now on the machine may receive jobs
//   mm     → rejected            refused (then the matchmaker closes the socket)
//   agent  → heartbeat           every `heartbeatIntervalMs` and immediately whenever models or
//                                engine state change (a heartbeat is the agent's status update)
//   mm     → job                 one dispatched job; `admission: "pending"` when the exchange has
//                                not admitted it yet (the matchmaker asks in parallel to save a
//                                round trip)
//   agent  → accepted | error    the job passed (or failed) the agent's checks — always one of the
//                                two, before any chunk; `error` ends the job
//   agent  → chunk*              streamed output, in order (`seq` from 0), each piece sealed to the
//                                requester (see "Output sealing" below); the matchmaker only relays
//   mm     → admitted            the exchange admitted a pending job: its receipt may be written
//   agent  → done | error        exactly one terminal message per accepted job
//   mm     → cancel              the requester went away; the agent stops generating, still writes
//                                a receipt for the tokens it produced and ends with `done`.
//                                `discard: true` (the job was never admitted): stop and write NO
//                                receipt, end with `error` `not_admitted`
//   mm     → ack                 the highest contiguous chunk `seq` relayed for a job, batched
//                                (at most every ACK_INTERVAL_MS); `final: true` once its terminal
//                                message was relayed too: the agent may forget the job's frames
//   agent  → resume              after a reconnect: a job that was running on the dropped
//                                connection goes on from `next` (its first unacked seq); the
//                                agent then replays every frame from there, terminal included
//   agent  → bye                 graceful shutdown: no new jobs, in-flight ones are finishing
//   mm     → ignored             a frame the matchmaker did not act on, with a stable `code`:
//                                `bad_message` (not JSON, or a field not of its kind; a malformed
//                                chunk/done/error also fails that job, provider_error),
//                                `unknown_type`, `not_registered` (job or status messages before
//                                `registered`), `already_registered`. A malformed register is
//                                `rejected` `invalid_register` instead. Agents may log it.
// Resume (a socket cut mid-answer): the matchmaker holds a job that had relayed output for
// `resumeGraceMs` (sent in `registered`) after its connection dropped — if its register said
// `resumes: true` — with the requester's stream
// open. The agent keeps each job's unacked frames (bounded per job by RESUME_BUFFER_BYTES; a job
// over it cannot resume) and generation goes on. On its next registration — the same machine key,
// challenge-signed — it sends `resume` and replays; the matchmaker drops frames it already relayed
// (seq ≤ relayed), so the requester sees each byte once, in order. A resume the matchmaker cannot
// take (the grace passed, another machine key, an unknown job) is answered `cancel` with reason
// `resume_refused`: the job ends as a dropped one did before (its hold was released).
// WebSocket ping/pong frames are used for liveness in both directions (the `ws` library answers
// pings automatically); an agent that sees no pong for 3 heartbeat intervals reconnects.
//
// Pending admission: the agent may check the job and generate while admission is pending (the
// matchmaker holds the output back), but it writes the receipt only after `admitted`. If the job
// ends otherwise — a `cancel`, the connection lost, or the job's deadline — it writes no receipt
// and ends with `error` `not_admitted`: a job the exchange never admitted is never charged.
//
// Output sealing: the matchmaker never sees plaintext, in either direction. The requester puts a
// fresh X25519 public key (`JobInput.replyPublicKey`) inside the sealed input; the agent seals
// every output piece with NaCl crypto_box from the machine's X25519 key (the one the input was
// sealed to, = attestation encryptionPubKey) to that reply key: `nonce(24) || box`, a fresh random
// nonce per piece, base64 in `chunk.sealed` (@cocore/protocol sealReply/openReply; the X25519
// agreement is computed once per job). The receipt's and `done`'s `outputCipherCommitment` is the
// lowercase SHA-256 hex of every sealed frame's raw bytes concatenated in `seq` order (no
// separators), so the requester can check that what it was relayed is what the provider signed
// for. An input without replyPublicKey is refused (`reply_key_missing`): there is no plaintext
// fallback. Pieces are coalesced: the first is sent at once, later ones at most every
// OUTPUT_FLUSH_MS, so the per-message cost does not scale with the token rate.

// 3: the matchmaker challenges, the register answers (a v2 agent registers unchallenged and is refused).
export const AGENT_PROTOCOL_VERSION = 3;
export const AGENT_WS_PATH = "/v1/agent";
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
/**
 * Longest an output piece waits to be coalesced with the next ones (the first is never held).
 * 16 ms is one frame of a 60 Hz display: finer updates cannot be seen, and each one costs the
 * agent, the matchmaker and the requester a seal/relay/open (reply-stream.ts).
 */
export const OUTPUT_FLUSH_MS = 16;
/** Longest a relayed chunk waits for its `ack` (acks are batched: one per job per interval, off the output path). */
export const ACK_INTERVAL_MS = 100;
/** How long the matchmaker holds a job whose agent dropped mid-answer, unless `registered` says otherwise. */
export const DEFAULT_RESUME_GRACE_MS = 10_000;
/** Sealed output (base64 characters) an agent keeps per job until acked; beyond it the job cannot resume. */
export const RESUME_BUFFER_BYTES = 8 * 1024 * 1024;

export interface StrongRef {
  uri: string;
  cid: string;
}

export interface Money {
  amount: number;
  currency: string;
}

export interface TokenCounts {
  in: number;
  out: number;
}

/**
 * `ready`: models loaded and serving. `loading`: provisioning or reloading (route nothing).
 * `fault`: the configured engine failed; only `stub` is served (see the provider record's
 * engineFault).
 */
export type EngineState = "ready" | "loading" | "fault";

/**
 * What the machine serves for one model, found out when the model loads (the agent tries a tool
 * call and a schema answer and checks them) and narrowed by the owner's provider record
 * (`toolCallsDisabled: true` or `toolCalls: false` turn tools off). The matchmaker routes a job
 * with tools or an outputSchema only to a machine that advertises them for its model.
 */
export interface ModelCapabilities {
  /** Tool calls come back well-formed: arguments that parse and fit the function's schema. */
  tools: boolean;
  /** Answers follow a JSON schema (job outputSchema). */
  structuredOutput: boolean;
  /** Prompt and answer together, in tokens; 0 when the engine does not say. */
  contextLength: number;
}

// ------------------------------------------------------------------ agent → matchmaker

export interface RegisterMessage {
  type: "register";
  protocolVersion: number;
  /** The provider's DID: the billable identity, owner of the provider record and receipts. */
  providerDid: string;
  /** The machine: the provider record's rkey (stable across restarts, one per machine). */
  machineId: string;
  /** at:// URI of the provider record. */
  providerRecord: string;
  /** What the machine serves right now (= provider record supportedModels). */
  models: string[];
  trustLevel: string;
  engineState: EngineState;
  engineFault?: { code: string; message: string };
  /** Agent version (= provider record binaryVersion). */
  version: string;
  /** Base64 X25519 key requesters seal prompts to (= attestation encryptionPubKey). */
  encryptionPubKey: string;
  /** Base64 raw P-256 point (= attestation publicKey = provider record attestationPubKey). */
  attestationPubKey: string;
  /** The attestation the machine's receipts will reference. */
  attestation: StrongRef;
  attestationExpiresAt: string;
  /** Owner's election from the provider record; empty or absent = any exchange. */
  acceptedExchanges?: string[];
  /**
   * Jobs the machine runs at once, per model: the matchmaker never has more than this many of a
   * model's jobs on the machine (the rest wait in the matchmaker's queue). `capacityByModel` gives
   * each model's count (from its engine and config); `capacity` is their sum, for matchmakers that
   * read only it. An agent that is sent more anyway queues them in arrival order.
   */
  capacity: number;
  capacityByModel?: Record<string, number>;
  /** Per model served; a model missing here serves plain text only. */
  capabilitiesByModel?: Record<string, ModelCapabilities>;
  /** The agent keeps unacked output and resumes its jobs after a reconnect ("Resume"); absent: its jobs fail when it drops. */
  resumes?: boolean;
  /** ISO time of signing; the matchmaker should refuse registrations older than a few minutes. */
  at: string;
  /** The nonce of this connection's `challenge`: what makes the signature good for this connection only. */
  challenge: string;
  /**
   * Base64 DER P-256 signature by `attestationPubKey` over the canonical JSON (PROTOCOL.md §4) of
   * this message without `sig`. The matchmaker proves the registration comes from the machine, now,
   * by checking the signature, that `challenge` is the nonce it sent on this connection, and that
   * `attestation` (fetched from providerDid's repo) carries the same publicKey and is unexpired.
   */
  sig: string;
}

export interface HeartbeatMessage {
  type: "heartbeat";
  at: string;
  models: string[];
  engineState: EngineState;
  /** Jobs running or queued on this machine. */
  activeJobs: number;
  /** As in `register`; sent again because the models (and so their counts) can change. */
  capacityByModel?: Record<string, number>;
  /** As in `register`; the owner may also switch tools off in the meantime. */
  capabilitiesByModel?: Record<string, ModelCapabilities>;
  /** Present when the attestation was renewed since the last message. */
  attestation?: StrongRef;
  attestationExpiresAt?: string;
}

export interface AcceptedMessage {
  type: "accepted";
  jobUri: string;
}

export interface ChunkMessage {
  type: "chunk";
  jobUri: string;
  /** 0, 1, 2, … per job. */
  seq: number;
  /**
   * Base64 of one sealed reply frame `nonce(24) || box` whose plaintext is the next output piece
   * (UTF-8; a multi-byte character is never split across chunks). See "Output sealing".
   */
  sealed: string;
}

export interface DoneMessage {
  type: "done";
  jobUri: string;
  /**
   * The receipt: uri and cid are final when this message is sent (the rkey and the record CID are
   * computed before the write). `written: false` means the PDS write failed and the receipt sits
   * in the agent's durable queue; it appears at this uri when the retry succeeds.
   */
  receipt: StrongRef & { written: boolean };
  tokens: TokenCounts;
  price: Money;
  proBono: boolean;
  outputCommitment: string;
  /** SHA-256 hex of the sealed frames concatenated in seq order (= the receipt's). */
  outputCipherCommitment: string;
  /** Why generation stopped: end of text, the token limit, or a `cancel`. */
  finishReason: "stop" | "length" | "cancelled";
  startedAt: string;
  completedAt: string;
}

/** Named refusal or failure codes; the matchmaker relays them to the requester unchanged. */
export const JOB_ERROR_CODES = [
  "job_invalid", // the job record fails its lexicon
  "job_mismatch", // the job value does not hash to the strong-ref's cid
  "requester_mismatch", // `requester` is not the DID owning the job record
  "job_expired", // expiresAt has passed (or passes before any work could finish)
  "provider_not_accepted", // acceptedProviders is set and excludes this provider
  "exchange_not_accepted", // the job's or this machine's acceptedExchanges exclude `exchange`
  "trust_level_unmet", // the job wants a higher trust level than this machine has
  "model_unsupported", // the model is not in this machine's supportedModels
  "commitment_mismatch", // sha256(sealedInput) ≠ job.inputCommitment
  "decrypt_failed", // the sealed input does not open with this machine's key
  "input_invalid", // the opened input is not a prompt this agent understands
  "reply_key_missing", // the opened input has no valid replyPublicKey to seal the output to
  "currency_mismatch", // the job's priceCeiling is not in the exchange's currency
  "ceiling_too_low", // even the prompt alone would cost more than priceCeiling
  "context_overflow", // the prompt does not fit the model's context
  "engine_error", // the engine failed while generating
  "shutting_down", // the agent is stopping and takes no new jobs
  "duplicate_job", // this job is already running or finished here
  "not_admitted", // a pending job ended without the matchmaker's `admitted`; no receipt was written
  "tool_calls_not_supported", // the job offers tools; this machine does not serve tool calls for the model
  "structured_output_not_supported", // the job has an outputSchema this machine cannot enforce for the model
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

export interface ErrorMessage {
  type: "error";
  jobUri: string;
  code: JobErrorCode;
  /** A human sentence; never contains prompt or output content. */
  message: string;
}

export interface ResumeMessage {
  type: "resume";
  jobUri: string;
  /** The first seq the agent replays (its highest acked + 1); the matchmaker skips what it already relayed. */
  next: number;
}

export interface ByeMessage {
  type: "bye";
  reason: string;
}

export type AgentToMatchmaker = RegisterMessage | HeartbeatMessage | AcceptedMessage | ChunkMessage | DoneMessage | ErrorMessage | ResumeMessage | ByeMessage;

// ------------------------------------------------------------------ matchmaker → agent

export interface ChallengeMessage {
  type: "challenge";
  /** Fresh random hex for this connection; the register must carry it. */
  nonce: string;
}

export interface RegisteredMessage {
  type: "registered";
  machineId: string;
  /** How often the agent should heartbeat (default DEFAULT_HEARTBEAT_INTERVAL_MS). */
  heartbeatIntervalMs?: number;
  /** How long this matchmaker holds a job after its connection drops (absent: it does not resume jobs). */
  resumeGraceMs?: number;
}

export interface RejectedMessage {
  type: "rejected";
  code: string;
  message: string;
}

/** The matchmaker's countersignature (receipt lexicon #brokerageCountersignature). */
export interface BrokerageCountersignature {
  authority: string;
  machineId: string;
  nonce: string;
  /** Base64 signature bytes. */
  sig: string;
}

export interface JobMessage {
  type: "job";
  /** Strong-ref to the dev.cocore.compute.job record in the requester's repo. */
  job: StrongRef;
  /** That record's value as stored (atproto JSON form). The agent checks it hashes to job.cid. */
  jobRecord: Record<string, unknown>;
  /** Base64 of the sealed frame `nonce(24) || box` (PROTOCOL.md §4) whose SHA-256 is inputCommitment. */
  sealedInput: string;
  /** Base64 of the requester's 32-byte ephemeral X25519 public key for this frame. */
  senderPublicKey: string;
  /** The requester's DID (must own the job record). */
  requester: string;
  /** The exchange that admitted the job and will settle the receipt. */
  exchange: string;
  /**
   * Optional: the matchmaker's countersignature vouching that it routed this job to this
   * machine. It can be made at dispatch time (it names the job and the machine, not the output),
   * so the agent copies it into the receipt it writes — outside the signed bytes, as §4 says.
   */
  brokerageCountersignature?: BrokerageCountersignature;
  /** "pending": run, but write the receipt only after `admitted` (absent: already admitted). */
  admission?: "pending";
}

export interface AdmittedMessage {
  type: "admitted";
  jobUri: string;
}

export interface CancelMessage {
  type: "cancel";
  jobUri: string;
  reason?: string;
  /** The job was never admitted: stop and write no receipt. */
  discard?: boolean;
}

export interface AckMessage {
  type: "ack";
  jobUri: string;
  /** Every chunk up to and including this seq was relayed to the requester (-1: none yet). */
  seq: number;
  /** The job's terminal message was relayed as well: nothing of it needs replaying any more. */
  final?: boolean;
}

/** A frame the matchmaker did not act on (see the session list above); nothing changed because of it. */
export interface IgnoredMessage {
  type: "ignored";
  code: "bad_message" | "unknown_type" | "not_registered" | "already_registered";
  message: string;
  /** The job the frame named, when it named one. */
  jobUri?: string;
}

export type MatchmakerToAgent = ChallengeMessage | RegisteredMessage | RejectedMessage | JobMessage | AdmittedMessage | CancelMessage | AckMessage | IgnoredMessage;

// ------------------------------------------------------------------ sealed input (requester → agent)

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  /** An assistant turn's tool calls (its content may then be ""); `arguments` is JSON text. */
  toolCalls?: Array<{ id: string; name: string; arguments: string }>;
  /** A tool turn: the id of the call whose result `content` is. */
  toolCallId?: string;
}

/**
 * The plaintext inside `sealedInput`, UTF-8 JSON. Either `messages` (chat; the model's chat
 * template applies; job `inputFormat` "messages-v1") or `prompt` (raw completion; "text"). Sampling settings are inside the seal so the
 * requester's inputCommitment covers them; all integers, as in receipt params. A plaintext that
 * is not a JSON object is taken as a raw `prompt` (and then refused: it has no replyPublicKey).
 */
export interface JobInput {
  /** Base64 32-byte X25519 public key, fresh per job, that every output piece is sealed to. Required. */
  replyPublicKey?: string;
  messages?: ChatMessage[];
  prompt?: string;
  /** Output token limit; capped by the job's maxTokensOut (and by what priceCeiling allows). */
  maxTokens?: number;
  /** Temperature × 1000; 0 (the default) means greedy. */
  temperatureMilli?: number;
  /** Nucleus threshold × 1000 (0–1000, default 1000). */
  topPMilli?: number;
  seed?: number;
  /** Up to 4 stop sequences (plain-text answers). */
  stop?: string[];
  /** OpenAI presence / frequency penalty × 1000 (−2000..2000). */
  presencePenaltyMilli?: number;
  frequencyPenaltyMilli?: number;
  /** With tools: whether one answer may make several calls (default true, as OpenAI). */
  parallelToolCalls?: boolean;
}

export function encodeMessage(msg: AgentToMatchmaker | MatchmakerToAgent): string {
  return JSON.stringify(msg);
}

/** Parses one frame; null when it is not a JSON object with a string `type`. */
export function decodeMessage<T extends { type: string }>(data: string): T | null {
  try {
    const v = JSON.parse(data) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v) && typeof (v as { type?: unknown }).type === "string") return v as T;
  } catch {
    // fall through
  }
  return null;
}
