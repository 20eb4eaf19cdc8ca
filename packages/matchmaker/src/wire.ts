// The requester-facing HTTP interface of the matchmaker (what @cocore/client speaks).
//
//   GET  /v1/providers[?model=M]   live machines with their encryption keys (seal to one of them)
//   GET  /v1/offer?model=M[&trust=T][&provider=DID…][&exclude=machineId…]   the machine a dispatch would go to now
//   GET  /v1/models                models served by live machines
//   GET  /v1/identity              the matchmaker's DID, exchange and countersignature key
//   GET  /v1/status                per model: providers, slots, busy slots, queued jobs, service rate, expected wait;
//                                  machines and providers cooling down after failures in a row
//   POST /v1/dispatch              DispatchRequest → NDJSON stream of DispatchEvent
//   GET  /v1/health
// Refusals before streaming starts are an HTTP error status with `{ "error": { code, message } }`;
// once streaming has started, a failure is a terminal `{"type":"error"}` event. Streaming starts
// only once the exchange has admitted the job, so an admission refusal is always an HTTP error.
//
// A job that finds every fitting slot busy waits in the model's queue (packages/matchmaker/README.md
// has the fairness rule and the bounds). It is admitted first; then streaming starts with a
// `queued` event giving its place, repeated when the place changes and at least every 10 s, until
// `dispatched`. A stream silent for 15 s (streamKeepaliveMs) gets a `{"type":"keepalive"}` line,
// which carries nothing. A full queue is HTTP 429 `queue_full` with `Retry-After` and `retryAfterMs`; a job
// that waits past the queue's bound ends with an `error` event `queue_timeout`. Its hold is
// released either way.

import type { Countersignature } from "@cocore/protocol";

export interface StrongRef {
  uri: string;
  cid: string;
}

export interface ProviderOffer {
  machineId: string;
  provider: string;
  providerRecord?: string;
  machineLabel?: string;
  models: string[];
  trustLevel: string;
  encryptionPubKey: string;
  attestationPubKey: string;
  attestation?: StrongRef;
  acceptedExchanges: string[];
  /** Concurrent jobs per model the machine runs (absent: `capacity` for each). */
  capacity: number;
  capacityByModel?: Record<string, number>;
  /** Per model beyond text (tool calls, structured output, context length). */
  capabilitiesByModel?: Record<string, { tools: boolean; structuredOutput: boolean; contextLength: number }>;
  active: number;
  activeByModel?: Record<string, number>;
  version?: string;
  lastSeenMsAgo: number;
}

/** GET /v1/models: one entry per model some live machine serves. */
export interface ModelInfo {
  id: string;
  /** Distinct provider DIDs serving it. */
  providers: number;
  /** True when at least one live machine serving the model does; the largest context offered (0: unknown). */
  capabilities: { tools: boolean; structuredOutput: boolean; contextLength: number };
}

export interface DispatchRequest {
  job: StrongRef;
  /** The job record value as written to the requester's PDS (atproto JSON form). */
  jobRecord: Record<string, unknown>;
  /** Base64 `nonce(24) || box`, whose SHA-256 is the job's inputCommitment. */
  sealedInput: string;
  /** Base64 ephemeral X25519 sender key of the seal. */
  senderPublicKey: string;
  /** The X25519 key the prompt was sealed to: only machines holding it can serve the job. */
  encryptionPubKey: string;
  /** Preferred machine (from an offer); any machine with the same key may serve it. */
  machineId?: string;
}

export type DispatchEvent =
  /** Waiting for a slot: `position` 1 is next; `waitMs` is the expected wait (-1: unknown); `queued` jobs wait for the model in all. */
  | { type: "queued"; position: number; waitMs: number; queued: number }
  /**
   * `brokerageCountersignature`: the matchmaker's signed statement that it routed this job to this
   * machine (@cocore/protocol brokerage.ts), the same one the receipt will carry; the client checks
   * it against the key the matchmaker publishes in its repo before it reads any output.
   */
  | { type: "dispatched"; machineId: string; provider: string; attempt: number; holdKey?: string; brokerageCountersignature?: Countersignature }
  /** `sealed`: base64 reply frame `nonce(24) || box`, relayed byte for byte from the agent. */
  | { type: "chunk"; seq: number; sealed: string }
  | { type: "redispatched"; reason: string; attempt: number }
  /** Nothing else was sent for a while (a long prefill, a slow generation): it only keeps proxies from closing the stream. */
  | { type: "keepalive" }
  | {
      type: "done";
      receipt: StrongRef & { written: boolean };
      provider: string;
      machineId: string;
      tokens: { in: number; out: number };
      price: { amount: number; currency: string };
      proBono: boolean;
      outputCommitment: string;
      outputCipherCommitment: string;
      finishReason: "stop" | "length" | "cancelled";
      startedAt: string;
      completedAt: string;
    }
  /**
   * `redispatch`: the machine produced nothing and another machine (another key) could serve the
   * job: seal the prompt to it and dispatch a new job record. Nothing was charged (the hold was
   * released). An HTTP refusal says the same in `error.redispatch`.
   */
  | { type: "error"; code: string; message: string; redispatch?: boolean };

export interface ErrorBody {
  error: { code: string; message: string } & Record<string, unknown>;
}

/** GET /v1/status. */
export interface MatchmakerStatus {
  at: string;
  models: ModelStatus[];
  /** Machines and providers with failures in a row on record; those with `coolingUntil` are not routed to until then. */
  cooldowns: CooldownStatus[];
}

/** A machine (`machineKey` set) or a provider as a whole that has been failing (packages/matchmaker/src/cooldown.ts). */
export interface CooldownStatus {
  provider: string;
  /** The machine's attestation key; absent on the provider's own entry. */
  machineKey?: string;
  /** The machine's id, while it is registered. */
  machineId?: string;
  /** Failures in a row (a completed job, or a quiet period, forgets them). */
  failures: number;
  /** ISO time the cooling ends; absent when the failures have not (or no longer) cooled it. */
  coolingUntil?: string;
}

export interface ModelStatus {
  model: string;
  /** Distinct provider DIDs with a live machine serving the model. */
  providers: number;
  machines: number;
  slots: number;
  busySlots: number;
  queued: number;
  /** Jobs that found every slot busy and are being admitted before they join the line. */
  admitting: number;
  /** Slots ÷ mean service time of the recent jobs (an assumed 1 s per job until one finished). */
  servicePerSec: number;
  /** Jobs the rate is measured over (0: assumed). */
  serviceSamples: number;
  /** What a job arriving now would wait for a slot. */
  expectedWaitMs: number;
  maxQueued: number;
  maxWaitMs: number;
}

export interface MatchmakerIdentity {
  did: string;
  exchange: string;
  /**
   * Base64 P-256 key that signs brokerageCountersignatures, as a hint: what counts is the
   * dev.cocore.compute.brokerageKey record in the matchmaker's repo (`brokerageKeyRecord`).
   */
  brokerageKey: string;
  /** at:// URI of the published brokerageKey record (absent: this matchmaker publishes none). */
  brokerageKeyRecord?: string;
}
