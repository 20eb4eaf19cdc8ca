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
import type * as DevCocoreComputeDefs from '../compute/defs.ts'

const is$typed = _is$typed,
  validate = _validate
const id = 'dev.cocore.exchange.admitJob'

export type QueryParams = {}

export interface InputSchema {
  job: ComAtprotoRepoStrongRef.Main
  requester: string
  priceCeiling: DevCocoreComputeDefs.Money
  /** When an unused hold lapses. */
  expiresAt: string
  /** The provider the matchmaker dispatches the job to: a receipt for the job from anyone else is not paid. */
  provider?: string
  /** The dispatched machine's attested signing key (standard base64 of the P-256 point): a receipt signed by another machine is not paid. */
  machineKey?: string
}

export interface OutputSchema {
  admitted: boolean
  /** Why the job was refused, e.g. below_floor. */
  code?: string
  message?: string
  /** Identifies the hold placed for an admitted job. */
  holdKey?: string
  balance: number
  /** Balance minus holds, after this decision. */
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
  error?: 'AuthRequired' | 'BelowFloor' | 'InvalidJob'
}

export type HandlerOutput = HandlerError | HandlerSuccess
