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

const is$typed = _is$typed,
  validate = _validate
const id = 'dev.cocore.account.tokenPatronage'

export interface Main {
  $type: 'dev.cocore.account.tokenPatronage'
  /** Distributing exchange; the repo owner. */
  exchange: string
  /** Member credited. */
  recipient: string
  period: Period
  /** The member's tokens spent plus tokens earned in the period. */
  patronageScore: number
  /** Sum of all members' scores for the period. */
  totalPatronage: number
  /** Tokens paid to the member. */
  tokensCredited: number
  /** Treasury balance at the end of the period, before distribution. */
  treasuryBefore: number
  policy: ComAtprotoRepoStrongRef.Main
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

/** Time range including start and excluding end. */
export interface Period {
  $type?: 'dev.cocore.account.tokenPatronage#period'
  start: string
  end: string
}

const hashPeriod = 'period'

export function isPeriod<V>(v: V) {
  return is$typed(v, id, hashPeriod)
}

export function validatePeriod<V>(v: V) {
  return validate<Period & V>(v, id, hashPeriod)
}
