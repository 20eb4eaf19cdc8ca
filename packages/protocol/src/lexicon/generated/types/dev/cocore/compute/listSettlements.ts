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
const id = 'dev.cocore.compute.listSettlements'

export type QueryParams = {
  /** Only settlements where this DID is requester or provider. */
  did?: string
  limit: number
  cursor?: string
}
export type InputSchema = undefined

export interface OutputSchema {
  settlements: SettlementView[]
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
}

export type HandlerOutput = HandlerError | HandlerSuccess

export interface SettlementView {
  $type?: 'dev.cocore.compute.listSettlements#settlementView'
  uri: string
  cid: string
  /** The settled receipt. */
  receipt: string
  amountCharged: number
  providerPayout: number
  exchangeFee: number
  settledAt: string
}

const hashSettlementView = 'settlementView'

export function isSettlementView<V>(v: V) {
  return is$typed(v, id, hashSettlementView)
}

export function validateSettlementView<V>(v: V) {
  return validate<SettlementView & V>(v, id, hashSettlementView)
}
