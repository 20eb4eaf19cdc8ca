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
const id = 'dev.cocore.exchange.getPatronage'

export type QueryParams = {
  /** Member whose score and projected rebate to report. */
  did?: string
}
export type InputSchema = undefined

export interface OutputSchema {
  treasury: string
  /** The treasury's balance now. */
  treasuryBalance: number
  current?: Current
  /** Distributed periods, newest first (at most 24). */
  periods: PastPeriod[]
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
}

export type HandlerOutput = HandlerError | HandlerSuccess

export interface Current {
  $type?: 'dev.cocore.exchange.getPatronage#current'
  start: string
  end: string
  fractionBps: number
  /** Tokens spent plus tokens earned by all members this period so far. */
  totalScore: number
  members?: number
  /** floor(treasury now · fractionBps / 10000): the pool if the period ended now. */
  projectedPool: number
  /** The member's patronage so far. */
  score?: number
  /** The member's share of the projected pool, split as at a period's end. */
  projectedRebate?: number
}

const hashCurrent = 'current'

export function isCurrent<V>(v: V) {
  return is$typed(v, id, hashCurrent)
}

export function validateCurrent<V>(v: V) {
  return validate<Current & V>(v, id, hashCurrent)
}

export interface PastPeriod {
  $type?: 'dev.cocore.exchange.getPatronage#pastPeriod'
  end: string
  distributed: number
  recipients: number
  /** What the member was credited. */
  credited?: number
}

const hashPastPeriod = 'pastPeriod'

export function isPastPeriod<V>(v: V) {
  return is$typed(v, id, hashPastPeriod)
}

export function validatePastPeriod<V>(v: V) {
  return validate<PastPeriod & V>(v, id, hashPastPeriod)
}
