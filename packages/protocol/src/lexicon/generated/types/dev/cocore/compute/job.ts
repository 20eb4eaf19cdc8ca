/**
 * GENERATED CODE - DO NOT MODIFY
 */
import { type ValidationResult } from '@atproto/lexicon'
import { validate as _validate } from '../../../../lexicons.ts'
import {
  type $Typed,
  is$typed as _is$typed,
  type OmitKey,
} from '../../../../util.ts'
import type * as DevCocoreComputeDefs from './defs.ts'
import type * as ComAtprotoRepoStrongRef from '../../../com/atproto/repo/strongRef.ts'

const is$typed = _is$typed,
  validate = _validate
const id = 'dev.cocore.compute.job'

export interface Main {
  $type: 'dev.cocore.compute.job'
  /** Identifier of the model the work should run on; opaque to the protocol. */
  model: string
  /** Lowercase hex SHA-256 of the sealed prompt bytes; the prompt itself never appears in a record. */
  inputCommitment: string
  /** Where the sealed prompt may be fetched from, if anywhere. Only a convenience: the commitment is what binds. */
  inputCipherURL?: string
  /** Upper bound on generated tokens. */
  maxTokensOut: number
  priceCeiling: DevCocoreComputeDefs.Money
  acceptedTrustLevel: DevCocoreComputeDefs.TrustLevel
  /** Exchanges allowed to settle this job; the payment authorization has to name one of them. */
  acceptedExchanges?: string[]
  /** If present and non-empty, only these providers may serve the job. */
  acceptedProviders?: string[]
  paymentAuthorization: ComAtprotoRepoStrongRef.Main
  /** Hex of 16 random bytes, so that two otherwise equal jobs never collide. */
  nonce: string
  /** Deadline: work completed after this moment cannot produce a valid receipt. */
  expiresAt: string
  createdAt: string
  [k: string]: unknown
}

const hashMain = 'main'

export function isMain<V>(v: V) {
  return is$typed(v, id, hashMain)
}

export function validateMain<V>(v: V) {
  return validate<Main & V>(v, id, hashMain, true)
}

export {
  type Main as Record,
  isMain as isRecord,
  validateMain as validateRecord,
}
