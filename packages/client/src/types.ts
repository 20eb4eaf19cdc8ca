// The requester SDK's public shapes: options, what a job is given, what it streams and returns,
// and the exchange's answers the SDK hands back. client.ts is the behaviour.
import type { Agent, RecordEntry } from "@cocore/atproto";
import type { Countersignature, VerifyResult } from "@cocore/protocol";
import type { ModelInfo, ProviderOffer } from "@cocore/matchmaker/wire";

export interface ClientOptions {
  /** A logged-in session of the requester. */
  agent: Agent;
  matchmakerUrl: string;
  /** The exchange's XRPC base URL. */
  exchangeUrl: string;
  /** Default: the exchange the matchmaker admits through (GET /v1/identity). */
  exchangeDid?: string;
  /** Resolves other members' PDSes (provider receipts, exchange records). Default: the agent's own PDS serves every repo. */
  plcUrl?: string;
  userAgent?: string;
}

export type { ModelInfo };

export interface JobInput {
  /** Chat turns (job inputFormat messages-v1); assistant turns may carry toolCalls, tool turns a toolCallId. */
  messages?: Array<{
    role: "system" | "user" | "assistant" | "tool";
    content: string;
    toolCalls?: Array<{ id: string; name: string; arguments: string }>;
    toolCallId?: string;
  }>;
  /** A raw prompt (job inputFormat text). */
  prompt?: string;
  maxTokens?: number;
  temperatureMilli?: number;
  topPMilli?: number;
  seed?: number;
  stop?: string[];
  presencePenaltyMilli?: number;
  frequencyPenaltyMilli?: number;
  parallelToolCalls?: boolean;
}

/**
 * What the answer must be beyond text; written into the job record (PROTOCOL.md §3), so that the
 * matchmaker routes the job to a machine that serves it and the receipt is judged against it.
 */
export interface JobWorkFields {
  outputSchema?: { name: string; strict: boolean; schema: Record<string, unknown> };
  tools?: Array<{ type: "function"; function: { name: string; description?: string; parameters?: Record<string, unknown> } }>;
  toolChoice?: "auto" | "none" | "required";
  toolChoiceFunction?: string;
}

export interface SubmitOptions {
  model: string;
  maxTokens?: number;
  acceptedTrustLevel?: string;
  acceptedProviders?: string[];
  /** Most the job may cost; default: maxTokens plus a bound on the prompt's tokens, at the policy's rate. */
  priceCeiling?: number;
  expiresInMs?: number;
  signal?: AbortSignal;
  work?: JobWorkFields;
}

export interface Ref {
  uri: string;
  cid: string;
}

export type StreamEvent =
  | { type: "submitted"; job: Ref; paymentAuthorization: Ref; offer: ProviderOffer; submitMs: number }
  /** Admitted, waiting for a slot: 1-based `position`, expected `waitMs` (-1: unknown). Repeats until `dispatched`. */
  | { type: "queued"; position: number; waitMs: number; queued: number }
  | { type: "dispatched"; provider: string; machineId: string; attempt: number }
  /** The machine produced nothing (`code` says how): the job is sealed again to another machine as a new job; `abandoned` is the old job's URI. */
  | { type: "redispatched"; code: string; message: string; attempt: number; abandoned?: string }
  | { type: "chunk"; text: string }
  /** The matchmaker's stream was quiet for a while (a long prefill, a slow answer); nothing happened. A relay keeps its own stream busy with it. */
  | { type: "keepalive" }
  | { type: "done"; result: JobResult };

export interface JobResult {
  job: Ref;
  jobRecord: Record<string, unknown>;
  paymentAuthorization: Ref & { value: Record<string, unknown> };
  provider: string;
  machineId: string;
  text: string;
  tokens: { in: number; out: number };
  price: { amount: number; currency: string };
  finishReason: "stop" | "length" | "cancelled";
  /** The job offered tools: `text` is a tool stream (@cocore/protocol tool-stream.ts). */
  offersTools: boolean;
  receipt: Ref & { written: boolean };
  /** The provider's outputCommitment equals the SHA-256 of the text we received. */
  outputMatches: boolean;
  /**
   * SHA-256 hex of the sealed reply frames we were relayed, raw bytes concatenated in seq order
   * (agent/src/matchmaker-protocol.ts, "Output sealing"); `verify` checks the receipt states it.
   */
  outputCipherCommitment: string;
  /** The provider's `done` stated the same outputCipherCommitment. */
  cipherMatches: boolean;
  /** The matchmaker's countersignature of the dispatch that served the job (checked against its published key). */
  brokerageCountersignature?: Countersignature;
  /**
   * Time to first token: from sending the dispatch request to the first decrypted output piece.
   * Sealing and writing the job records to the PDS come before and are the `submitted` event's
   * submitMs.
   */
  ttftMs: number;
  /** Which job record of the request answered: 1 unless machines before it produced nothing (`redispatched`). */
  attempt: number;
}

export interface Policy {
  uri: string;
  cid: string;
  value: Record<string, unknown>;
}

export interface TermsStatus {
  needed: boolean;
  termsVersion: string;
  termsUri: string;
  exchange: string;
  policy: Ref;
  acceptedVersion?: string;
}

export interface Verdict extends VerifyResult {
  receipt: RecordEntry;
  attestation: RecordEntry;
}

export interface Settlement {
  uri: string;
  cid: string;
  receipt: string;
  amountCharged: number;
  providerPayout: number;
  exchangeFee: number;
  settledAt: string;
}
