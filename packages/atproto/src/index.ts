// @cocore/atproto: thin helpers over the official @atproto/* libraries. The local network loads
// @atproto/pds lazily, so importing this package does not pull in a whole PDS.
export { AtprotoError, type AtprotoErrorCode } from "./errors.ts";
export { makeIdResolver, resolvePds, resolveSigningKey, type IdResolver, type IdResolverOptions } from "./identity.ts";
export { startLocalNetwork, type Account, type LocalNetwork, type LocalNetworkOptions } from "./network.ts";
export {
  applyWrites,
  createRecord,
  deleteRecord,
  getRecord,
  listRecords,
  login,
  MAX_WRITES_PER_COMMIT,
  putRecord,
  type Agent,
  type AtpAgent,
  type ReadSource,
  type RecordEntry,
  type RecordRef,
  type RecordValue,
  type WriteOp,
  type WriteOptions,
  type WriteResult,
} from "./session.ts";
export {
  exportRepo,
  type ExportedRecord,
  type ExportedRepo,
  type ExportRepoOptions,
  type LexRecord,
} from "./repo-export.ts";
export {
  subscribeFirehose,
  toWebSocketUrl,
  type FirehoseEvent,
  type FirehoseOp,
  type FirehoseSubscription,
  type SubscribeFirehoseOptions,
} from "./firehose.ts";
export {
  createServiceJwt,
  getServiceAuthToken,
  JtiReplayGuard,
  verifyServiceJwt,
  verifyServiceJwtPayload,
  type CreateServiceJwtParams,
  type Keypair,
  type ReplayGuard,
  type VerifiedServiceJwt,
  type VerifyServiceJwtOptions,
} from "./service-auth.ts";
export { lexToJson, jsonToLex } from "@atproto/api";
export { nextTid } from "./tid.ts";
