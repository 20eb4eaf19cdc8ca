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
const id = 'dev.cocore.account.tokenRefresh'

export interface Main {
  $type: 'dev.cocore.account.tokenRefresh'
  /** Refreshing exchange; the repo owner. */
  exchange: string
  /** Member topped up. */
  recipient: string
  /** Tokens credited. */
  amount: number
  policy: ComAtprotoRepoStrongRef.Main
  /** When the refresh took effect in the ledger. */
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
