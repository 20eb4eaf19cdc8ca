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
const id = 'dev.cocore.exchange.getBalance'

export type QueryParams = {
  /** Member to report on. */
  did: string
}
export type InputSchema = undefined

export interface OutputSchema {
  did: string
  /** Settled tokens. */
  balance: number
  /** Tokens reserved for admitted jobs not yet settled. */
  held: number
  /** Balance minus holds. */
  available: number
  lastRefreshAt?: string
  /** Earliest moment a touch will trigger the next refresh. */
  nextRefreshAt?: string
  /** Whether the welcome grant has been issued. */
  granted: boolean
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
  error?: 'AuthRequired' | 'NotFound'
}

export type HandlerOutput = HandlerError | HandlerSuccess
