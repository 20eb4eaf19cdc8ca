// @cocore/gateway: the OpenAI-compatible API over the requester SDK.
export { hashKey, isExpired, KEY_PREFIX, KeyStore, LAST_USE_RESOLUTION_MS, type ApiKeyEntry, type CreateKeyOptions, type KeyFile, type KeyStoreOptions } from "./keys.ts";
export { SessionStore, sessionsPathFor, type SessionFile } from "./sessions.ts";
export { parseChatRequest, SERVED_PARAMETERS, UNSUPPORTED_PARAMETERS, type ChatRequest, type ChatRequestError, type ParseResult } from "./chat-request.ts";
export { startGateway, type Gateway, type GatewayConfig, type TokenPrice } from "./server.ts";
export { DEFAULT_GATEWAY_LIMITS, type GatewayLimits } from "./limits.ts";
