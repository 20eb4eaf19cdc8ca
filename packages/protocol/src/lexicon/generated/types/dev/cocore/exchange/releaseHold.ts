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
const id = 'dev.cocore.exchange.releaseHold'

export type QueryParams = {}

export interface InputSchema {
  job: ComAtprotoRepoStrongRef.Main
  /** The holdKey admitJob answered with; when present it must name this job's hold. */
  holdKey?: string
  /** Why the job ended without a receipt, as a refusal code, e.g. provider_lost, not_admitted, job_expired. */
  reason: string
}

export interface OutputSchema {
  /** True only if this call changed a pending hold into a released one. */
  released: boolean
  /** The requester's total of pending holds afterwards. */
  held: number
  /** The requester's balance minus holds afterwards. */
  available: number
}

export interface HandlerInput {
  encoding: 'application/json'
  body: InputSchema
}

export interface HandlerSuccess {
  encoding: 'application/json'
  body: OutputSchema
  headers?: { [key: string]: string }
}

export interface HandlerError {
  status: number
  message?: string
  error?: 'AuthRequired' | 'InvalidJob'
}

export type HandlerOutput = HandlerError | HandlerSuccess
