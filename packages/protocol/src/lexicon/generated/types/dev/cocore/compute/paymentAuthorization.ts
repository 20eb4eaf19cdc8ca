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

const is$typed = _is$typed,
  validate = _validate
const id = 'dev.cocore.compute.paymentAuthorization'

export interface Main {
  $type: 'dev.cocore.compute.paymentAuthorization'
  /** The only exchange this authorization lets charge the requester. */
  exchange: string
  ceiling: DevCocoreComputeDefs.Money
  /** Whether this covers one job or a run of jobs. */
  scope: 'singleJob' | 'session' | (string & {})
  sessionBudget?: DevCocoreComputeDefs.Money
  /** Hex of 16 random bytes. Seeing the same nonce twice voids the authorization. */
  nonce: string
  /** After this moment the authorization covers nothing. */
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
