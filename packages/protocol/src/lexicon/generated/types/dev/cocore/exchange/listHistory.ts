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
const id = 'dev.cocore.exchange.listHistory'

export type QueryParams = {
  did: string
  limit: number
  cursor?: string
}
export type InputSchema = undefined

export interface OutputSchema {
  movements: Movement[]
  cursor?: string
}

export type HandlerInput = void

export interface HandlerSuccess {
  encoding: 'application/json'
  body: OutputSchema
  headers?: { [key: string]: string }
}

export interface HandlerError {
  status: number
  message?: string
  error?: 'AuthRequired'
}

export type HandlerOutput = HandlerError | HandlerSuccess

/** One transfer of tokens in the ledger. */
export interface Movement {
  $type?: 'dev.cocore.exchange.listHistory#movement'
  /** Idempotency key; the same event always yields the same key. */
  key: string
  kind:
    | 'grant'
    | 'refresh'
    | 'charge'
    | 'payout'
    | 'fee'
    | 'patronage'
    | (string & {})
  from?: string
  to?: string
  amount: number
  at: string
  /** URI of the record that caused the movement, when there is one. */
  ref?: string
  /** The exchange's public record of the movement: the settlement of a receipt, or the tokenGrant, tokenRefresh or tokenPatronage record. */
  record?: string
}

const hashMovement = 'movement'

export function isMovement<V>(v: V) {
  return is$typed(v, id, hashMovement)
}

export function validateMovement<V>(v: V) {
  return validate<Movement & V>(v, id, hashMovement)
}
