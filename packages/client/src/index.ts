// @cocore/client: the requester SDK.
export { CocoreClient, type ClientOptions, type JobInput, type JobResult, type JobWorkFields, type ModelInfo, type Policy, type Ref, type Settlement, type StreamEvent, type SubmitOptions, type TermsStatus, type Verdict } from "./client.ts";
export { ClientError } from "./errors.ts";
export { readNdjson } from "./ndjson.ts";
export { gatherReceiptBundle, publicRecordReader, verifyGathered, type GatheredBundle, type RecordReader } from "./receipt-bundle.ts";
