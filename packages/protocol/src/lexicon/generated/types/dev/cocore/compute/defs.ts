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
const id = 'dev.cocore.compute.defs'

/** An amount in a named unit. Integer minor units, never fractions; when the unit is a token currency the amount is a plain token count. */
export interface Money {
  $type?: 'dev.cocore.compute.defs#money'
  /** Integer quantity in the smallest unit of the currency. */
  amount: number
  /** Code of the unit the amount is counted in, such as TOK or an ISO 4217 code. */
  currency: string
}

const hashMoney = 'money'

export function isMoney<V>(v: V) {
  return is$typed(v, id, hashMoney)
}

export function validateMoney<V>(v: V) {
  return validate<Money & V>(v, id, hashMoney)
}

/** How many model tokens went into and came out of one piece of work. */
export interface TokenCounts {
  $type?: 'dev.cocore.compute.defs#tokenCounts'
  /** Prompt-side tokens consumed. */
  in: number
  /** Generated tokens produced. */
  out: number
}

const hashTokenCounts = 'tokenCounts'

export function isTokenCounts<V>(v: V) {
  return is$typed(v, id, hashTokenCounts)
}

export function validateTokenCounts<V>(v: V) {
  return validate<TokenCounts & V>(v, id, hashTokenCounts)
}

/** A price per million tokens, separately for input and output, in one currency. */
export interface TokenRate {
  $type?: 'dev.cocore.compute.defs#tokenRate'
  /** Minor units charged for each million input tokens. */
  inputPricePerMTok: number
  /** Minor units charged for each million output tokens. */
  outputPricePerMTok: number
  /** Unit both prices are counted in. */
  currency: string
}

const hashTokenRate = 'tokenRate'

export function isTokenRate<V>(v: V) {
  return is$typed(v, id, hashTokenRate)
}

export function validateTokenRate<V>(v: V) {
  return validate<TokenRate & V>(v, id, hashTokenRate)
}

/** A token rate that applies to one particular model. */
export interface ModelPrice {
  $type?: 'dev.cocore.compute.defs#modelPrice'
  /** The model this rate is quoted for. */
  modelId: string
  /** Minor units charged for each million input tokens. */
  inputPricePerMTok: number
  /** Minor units charged for each million output tokens. */
  outputPricePerMTok: number
  /** Unit both prices are counted in. */
  currency: string
}

const hashModelPrice = 'modelPrice'

export function isModelPrice<V>(v: V) {
  return is$typed(v, id, hashModelPrice)
}

export function validateModelPrice<V>(v: V) {
  return validate<ModelPrice & V>(v, id, hashModelPrice)
}

/** How strongly a machine's claims about itself are backed: by its own signature only, or by attestation hardware. */
export type TrustLevel = 'self-attested' | 'hardware-attested' | (string & {})
/** Service class a machine or a piece of work runs under. */
export type Tier = 'attested-confidential' | 'best-effort' | (string & {})
/** Where a settlement stands. */
export type SettlementStatus =
  'settled' | 'refunded' | 'disputed' | (string & {})
