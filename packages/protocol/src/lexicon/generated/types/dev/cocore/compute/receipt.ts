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
const id = 'dev.cocore.compute.receipt'

export interface Main {
  $type: 'dev.cocore.compute.receipt'
  job: ComAtprotoRepoStrongRef.Main
  /** Owner of the job's repo. */
  requester: string
  /** Model that produced the output. */
  model: string
  /** Copied from the job; ties the receipt to the sealed prompt. */
  inputCommitment: string
  /** Hex SHA-256 of the plaintext output. */
  outputCommitment: string
  /** Hex SHA-256 of the sealed reply as delivered. */
  outputCipherCommitment?: string
  tokens: DevCocoreComputeDefs.TokenCounts
  startedAt: string
  /** Must not be after the job's deadline and must fall inside the attestation's window. */
  completedAt: string
  price: DevCocoreComputeDefs.Money
  attestation: ComAtprotoRepoStrongRef.Main
  /** DER P-256 ECDSA signature over the canonical JSON of this record minus this field, $type and brokerageCountersignature. */
  enclaveSignature: Uint8Array
  params?: Params
  tier?: DevCocoreComputeDefs.Tier
  /** Served for free: price and token counts are zero and nothing is settled. */
  proBono?: boolean
  brokerageCountersignature?: BrokerageCountersignature
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

/** Generation settings, all integers so they enter signatures unambiguously; fractional settings are scaled by 1000. */
export interface Params {
  $type?: 'dev.cocore.compute.receipt#params'
  /** Token limit the engine was given. */
  maxTokens?: number
  /** Sampler seed. */
  seed?: number
  /** Temperature times 1000. */
  temperatureMilli?: number
  /** Nucleus sampling threshold times 1000. */
  topPMilli?: number
  /** Hash of the structured-output schema, when one constrained the output. */
  outputSchemaHash?: string
  /** Hash of the tool definitions offered to the model, when there were any. */
  toolSchemaHash?: string
}

const hashParams = 'params'

export function isParams<V>(v: V) {
  return is$typed(v, id, hashParams)
}

export function validateParams<V>(v: V) {
  return validate<Params & V>(v, id, hashParams)
}

/** A matchmaker's signature vouching that it routed this job to this machine. */
export interface BrokerageCountersignature {
  $type?: 'dev.cocore.compute.receipt#brokerageCountersignature'
  /** The matchmaker that signed. */
  authority: string
  /** How the matchmaker identified the serving machine. */
  machineId: string
  /** Matchmaker-chosen value making the countersignature unique. */
  nonce: string
  /** The matchmaker's signature. */
  sig: Uint8Array
}

const hashBrokerageCountersignature = 'brokerageCountersignature'

export function isBrokerageCountersignature<V>(v: V) {
  return is$typed(v, id, hashBrokerageCountersignature)
}

export function validateBrokerageCountersignature<V>(v: V) {
  return validate<BrokerageCountersignature & V>(
    v,
    id,
    hashBrokerageCountersignature,
  )
}
