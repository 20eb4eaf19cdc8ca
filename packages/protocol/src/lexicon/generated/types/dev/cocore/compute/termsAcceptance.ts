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
const id = 'dev.cocore.compute.termsAcceptance'

export interface Main {
  $type: 'dev.cocore.compute.termsAcceptance'
  /** Exchange whose terms were accepted. */
  exchange: string
  policy: ComAtprotoRepoStrongRef.Main
  /** Terms version agreed to; a newer version in the active policy calls for agreeing again. */
  termsVersion: string
  /** Where the agreed text was published. */
  termsUri: string
  /** Client through which the member agreed. */
  userAgent?: string
  acceptedAt: string
  /** Optional signature by the member over this record. */
  sig?: Uint8Array
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
