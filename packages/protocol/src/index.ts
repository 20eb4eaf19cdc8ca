// @cocore/protocol: the pure protocol core (no I/O). Everything other packages need about
// canonical bytes, keys, signatures, sealing, commitments, pricing and receipt verification.
export * from "./lexicon/index.ts";
export * from "./ledger/index.ts";
export { parseAtUri, type AtUriParts } from "./at-uri.ts";
// Both modules name a Money and a TokenCounts type; the package-level names are the lexicon's.
export type { Money, TokenCounts } from "./lexicon/index.ts";
export { checkAttestation, meetsTrustLevel, trustLevelOf, type AttestationProblem, type TrustLevel } from "./attestation-check.ts";
export { BROKERAGE_KEY_RKEY, brokerageKeys, brokerageKeyUri, countersign, countersignatureProblems, type Countersignature, type CountersignatureContext } from "./brokerage.ts";
export { base64Decode, base64Encode, base64Normalize, Base64Error } from "./base64.ts";
export { canonicalBytes, canonicalJson, CanonicalError, type CanonicalErrorCode } from "./canonical.ts";
export { dagCborEncode, recordCid } from "./cid.ts";
export { inputCommitment, OutputCipherHash, outputCipherCommitment, outputCommitment, sha256Hex } from "./commitment.ts";
export {
  exportSigningKey,
  generateSigningKey,
  importSigningKey,
  isValidPublicKey,
  KeyError,
  publicKeyObject,
  type P256PrivateJwk,
  type SigningKey,
} from "./keys.ts";
export { generateKeyFile, keyFileFrom, parseKeyFile, publicKeysOf, type KeyFile, type ProviderKeys, type PublicKeys } from "./keyfile.ts";
export {
  computeFee,
  PricingError,
  tokenRatePrice,
  type FeeScheduleLike,
  type TokenCountsLike,
  type TokenRateLike,
} from "./pricing.ts";
export {
  encryptionKeyPairFromSecret,
  generateEncryptionKeyPair,
  LowOrderKeyError,
  NONCE_LENGTH,
  open,
  openReply,
  replyKey,
  seal,
  sealReply,
  X25519_KEY_LENGTH,
  type EncryptionKeyPair,
  type Sealed,
} from "./seal.ts";
export * from "./json-schema/index.ts";
export { jobWork, offersTools, outputSchemaHash, toolSchemaHash, workProblems, type JobWork, type ToolChoice } from "./job-work.ts";
export { assembleToolStream, encodeToolEvent, ToolStreamDecoder, ToolStreamError, type AssembledToolStream, type ToolCall, type ToolStreamEvent } from "./tool-stream.ts";
export { MAX_TIMER_MS, timerDelay } from "./timers.ts";
export { sign, signatureBytes, signingPayload, signRecord, verify, verifyRecordSignature, type SignatureField } from "./signature.ts";
export {
  BundleError,
  FINDING_CODES,
  normalizeBundle,
  dispatchFinding,
  sessionBudgetFinding,
  verifyReceipt,
  type Finding,
  type FindingCode,
  type ReceiptBundle,
  type RecordRef,
  type VerifyOptions,
  type VerifyResult,
} from "./verify-receipt.ts";
export { DEVICE_CLOCK_SKEW_MS, DEVICE_COLLECTIONS, DEVICE_HEADERS, deviceRequestBytes, deviceWriteProblem, isMachineRecord, pairingRequestBytes, type DeviceRequest, type DeviceWrite, type DeviceWriteCode, type DeviceWriteRefusal } from "./device-writes.ts";
