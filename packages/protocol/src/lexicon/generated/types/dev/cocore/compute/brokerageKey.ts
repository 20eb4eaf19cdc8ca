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

const is$typed = _is$typed,
  validate = _validate
const id = 'dev.cocore.compute.brokerageKey'

export interface Main {
  $type: 'dev.cocore.compute.brokerageKey'
  /** Every key the matchmaker has signed with, newest first. */
  keys: Key[]
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

export interface Key {
  $type?: 'dev.cocore.compute.brokerageKey#key'
  /** P-256, standard base64 of the 64-byte raw point X‖Y (as an attestation's publicKey); signatures are DER ECDSA over SHA-256. */
  publicKey: string
  sigScheme?: 'p256' | (string & {})
  /** From when the key signs. */
  validFrom: string
  /** When the key was retired; absent while it is in use. */
  validUntil?: string
}

const hashKey = 'key'

export function isKey<V>(v: V) {
  return is$typed(v, id, hashKey)
}

export function validateKey<V>(v: V) {
  return validate<Key & V>(v, id, hashKey)
}
