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
import type * as ComAtprotoRepoStrongRef from '../../../com/atproto/repo/strongRef.ts'
import type * as DevCocoreComputeDefs from './defs.ts'

const is$typed = _is$typed,
  validate = _validate
const id = 'dev.cocore.compute.settlement'

export interface Main {
  $type: 'dev.cocore.compute.settlement'
  receipt: ComAtprotoRepoStrongRef.Main
  requesterAuthorization: ComAtprotoRepoStrongRef.Main
  amountCharged: DevCocoreComputeDefs.Money
  providerPayout: DevCocoreComputeDefs.Money
  exchangeFee: DevCocoreComputeDefs.Money
  /** Identifier from the settlement backend for this movement. */
  processorReference: Uint8Array
  status: DevCocoreComputeDefs.SettlementStatus
  refundOf?: ComAtprotoRepoStrongRef.Main
  policy?: ComAtprotoRepoStrongRef.Main
  /** The exchange's signature over this settlement. */
  sig?: Uint8Array
  settledAt: string
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
