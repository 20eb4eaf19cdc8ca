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
const id = 'dev.cocore.compute.exchangePolicy'

export interface Main {
  $type: 'dev.cocore.compute.exchangePolicy'
  fee: FeeSchedule
  /** False once a newer policy has replaced this one. Receipts settled while it was active stay valid. */
  active: boolean
  /** The exchange; always the DID of the repo holding this record. */
  exchange: string
  selfLoop: SelfLoopRule
  /** Human-readable terms and privacy text. Members are asked to agree again when termsVersion no longer matches their latest termsAcceptance. */
  termsUri?: string
  createdAt: string
  /** Name of the settlement backend, telling clients whether settlement stays inside the exchange or leaves it. */
  processor?: string
  tokenRate?: DevCocoreComputeDefs.TokenRate
  /** Balance a member must still have after subtracting a job's price ceiling for the job to be admitted. */
  tokenFloor?: number
  /** One-time welcome credit per DID, issued once and evidenced by a tokenGrant record. Zero turns grants off. */
  tokenGrant?: number
  /** Account that collects fees and pays patronage. When absent it is the exchange itself. */
  treasuryDid?: string
  /** Version label of the text at termsUri, compared for exact equality. */
  termsVersion?: string
  weeklyRefresh?: RefreshRule
  /** Currency codes this exchange settles in. */
  supportedCurrencies: string[]
  patronageDistribution?: PatronageRule
  /** cocore addition: the P-256 public key (standard base64 of the raw 64-byte X‖Y point) whose signatures appear in this exchange's settlement records (`sig`). A settlement strong-refs its policy, so anyone can check the settlement offline. A new key means a new policy record. */
  settlementPublicKey?: string
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

/** Fee = max(amount·bps/10000, minMinor). */
export interface FeeSchedule {
  $type?: 'dev.cocore.compute.exchangePolicy#feeSchedule'
  /** Fee rate in hundredths of a percent. */
  bps: number
  /** Unit the fee is counted in. */
  currency: string
  /** Smallest fee charged, in minor units; 0 for none. */
  minMinor: number
}

const hashFeeSchedule = 'feeSchedule'

export function isFeeSchedule<V>(v: V) {
  return is$typed(v, id, hashFeeSchedule)
}

export function validateFeeSchedule<V>(v: V) {
  return validate<FeeSchedule & V>(v, id, hashFeeSchedule)
}

/** How much an active member is topped up by, and how often at most. */
export interface RefreshRule {
  $type?: 'dev.cocore.compute.exchangePolicy#refreshRule'
  /** Tokens credited per refresh. */
  amountPerDid: number
  /** Least number of minutes between two refreshes of one DID. */
  cadenceMinutes: number
}

const hashRefreshRule = 'refreshRule'

export function isRefreshRule<V>(v: V) {
  return is$typed(v, id, hashRefreshRule)
}

export function validateRefreshRule<V>(v: V) {
  return validate<RefreshRule & V>(v, id, hashRefreshRule)
}

/** Rule for jobs where requester and provider are the same DID. */
export interface SelfLoopRule {
  $type?: 'dev.cocore.compute.exchangePolicy#selfLoopRule'
  /** Flat charge still taken to cover costs; unused when feeWaived is true. */
  minMinor?: number
  /** No fee on such jobs; a settlement is still published for the record. */
  feeWaived: boolean
}

const hashSelfLoopRule = 'selfLoopRule'

export function isSelfLoopRule<V>(v: V) {
  return is$typed(v, id, hashSelfLoopRule)
}

export function validateSelfLoopRule<V>(v: V) {
  return validate<SelfLoopRule & V>(v, id, hashSelfLoopRule)
}

/** How much of the treasury is returned to members, and how often. */
export interface PatronageRule {
  $type?: 'dev.cocore.compute.exchangePolicy#patronageRule'
  /** Length of a patronage period in days. */
  cadenceDays: number
  /** Part of the treasury handed out each period, in hundredths of a percent; the rest is kept in reserve. */
  fractionBps: number
}

const hashPatronageRule = 'patronageRule'

export function isPatronageRule<V>(v: V) {
  return is$typed(v, id, hashPatronageRule)
}

export function validatePatronageRule<V>(v: V) {
  return validate<PatronageRule & V>(v, id, hashPatronageRule)
}
