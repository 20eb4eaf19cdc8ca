// @cocore/matchmaker: provider registry, routing, admission and relay.
export { DispatchError, isRefusalCode, REFUSAL_CODES, type RefusalCode } from "./codes.ts";
export { publishBrokerageKey } from "./brokerage-key.ts";
export { ExchangeClient, serviceAuthFromAgent, serviceAuthFromKeypair, ADMIT_JOB, RELEASE_HOLD, type ServiceAuth } from "./exchange-client.ts";
export { activeFor, meetsTrust, Registry, type MachineEntry, type MachineInfo, type RouteRequest } from "./registry.ts";
export { DEFAULT_COOLDOWN_POLICY, type CooldownPolicy } from "./cooldown.ts";
export { FairQueue } from "./fair-queue.ts";
export { DEFAULT_QUEUE_LIMITS, type QueueLimits } from "./queues.ts";
export { DEFAULT_MATCHMAKER_LIMITS, type MatchmakerLimits } from "./limits.ts";
export { startMatchmaker, type Matchmaker, type MatchmakerConfig } from "./server.ts";
export type { CooldownStatus, DispatchEvent, DispatchRequest, ErrorBody, MatchmakerIdentity, MatchmakerStatus, ModelStatus, ProviderOffer, StrongRef } from "./wire.ts";
