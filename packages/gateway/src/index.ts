// @cocore/gateway: the OpenAI-compatible API over the requester SDK.
export { hashKey, KEY_PREFIX, KeyStore, type ApiKeyEntry, type KeyFile } from "./keys.ts";
export { startGateway, type Gateway, type GatewayConfig } from "./server.ts";
