// The requester-facing HTTP interface of the matchmaker (what @cocore/client speaks).
//
//   GET  /v1/providers[?model=M]   live machines with their encryption keys (seal to one of them)
//   GET  /v1/offer?model=M[&trust=T][&provider=DID…]   the machine a dispatch would go to now
//   GET  /v1/models                models served by live machines
//   GET  /v1/identity              the matchmaker's DID, exchange and countersignature key
//   POST /v1/dispatch              DispatchRequest → NDJSON stream of DispatchEvent
//   GET  /v1/health
// Refusals before streaming starts are an HTTP error status with `{ "error": { code, message } }`;
// once streaming has started, a failure is a terminal `{"type":"error"}` event. Streaming starts
// only once the exchange has admitted the job, so an admission refusal is always an HTTP error.
//
// The matchmaker never sees plaintext: the prompt is sealed to the machine, and the output comes
// back as `chunk.sealed` frames sealed by the machine to the requester's reply key (the requester
// puts it inside the sealed input; agent/src/matchmaker-protocol.ts, "Output sealing"). `done`
// carries the provider's outputCipherCommitment = SHA-256 hex of the raw frames concatenated in
// seq order, which the requester recomputes over what it was relayed.

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
  capacity: number;
  active: number;
  version?: string;
  lastSeenMsAgo: number;
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
  | { type: "dispatched"; machineId: string; provider: string; attempt: number; holdKey?: string }
  /** `sealed`: base64 reply frame `nonce(24) || box`, relayed byte for byte from the agent. */
  | { type: "chunk"; seq: number; sealed: string }
  | { type: "redispatched"; reason: string; attempt: number }
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
  | { type: "error"; code: string; message: string };

export interface ErrorBody {
  error: { code: string; message: string } & Record<string, unknown>;
}

export interface MatchmakerIdentity {
  did: string;
  exchange: string;
  /** Base64 P-256 key that signs brokerageCountersignatures. */
  brokerageKey: string;
}
