// @cocore/agent: the provider agent (`cocore agent serve`).
export { startAgent, AGENT_VERSION, TRUST_LEVEL, type AgentAuth, type AgentOptions, type AgentSettings, type RunningAgent } from "./agent.ts";
export { buildAttestation, publishAttestation, verifyAttestationSignature, attestationNeedsRenewal, ATTESTATION_COLLECTION, ATTESTATION_VALIDITY_MS, type PublishedAttestation } from "./attestation.ts";
export { EngineHost, type EngineLoader, type LoadedModel } from "./engine-host.ts";
export { createEngineLoader, promptFromInput, BUNDLED_MODEL_ID } from "./engine-adapters.ts";
export * from "./engines/index.ts";
export { agentBinaryHash, collectHostFacts, serialNumberHash, type HostFacts } from "./host.ts";
export { checkJob, runJob, JobRefusal, maxAffordableOut, parseJobInput, type JobContext, type JobSink } from "./jobs.ts";
export { MatchmakerClient, agentSocketUrl, backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./matchmaker-client.ts";
export * from "./matchmaker-protocol.ts";
export { PromptTooLongError, type ModelRunner, type RunRequest, type RunResult } from "./model-runner.ts";
export { DEFAULT_TOKEN_RATE, PolicySource, pickActivePolicy, POLICY_COLLECTION, type ActivePolicy, type TokenRate } from "./policy.ts";
export { AGENT_FIELDS, mergeProviderValue, ProviderRecord, PROVIDER_COLLECTION, type Fault, type ProviderPatch } from "./provider-record.ts";
export { ReceiptQueue, RECEIPT_COLLECTION, type QueuedReceipt } from "./receipt-queue.ts";
export { buildReceipt, isProBono, type BuiltReceipt, type ReceiptInput, type ReceiptParams } from "./receipts.ts";
export { defaultStateDir, loadOrCreateState, KEY_FILE, SALT_FILE, RECEIPT_QUEUE_FILE, type AgentState } from "./state.ts";
export { DEVICE_FILE, deviceAgent, deviceRequestHeaders, loadDeviceCredential, pairMachine, PairingError, saveDeviceCredential, type DeviceCredential, type PairOptions } from "./device.ts";
