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
const id = 'dev.cocore.compute.verifyReceipt'

export type QueryParams = {
  /** The receipt record. */
  uri: string
}
export type InputSchema = undefined

export interface OutputSchema {
  ok: boolean
  findings: Finding[]
  /** Where the receipt stands at this exchange, e.g. settled or rejected. */
  status?: string
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
  error?: 'NotFound'
}

export type HandlerOutput = HandlerError | HandlerSuccess

/** One problem found while verifying. */
export interface Finding {
  $type?: 'dev.cocore.compute.verifyReceipt#finding'
  code: string
  message: string
}

const hashFinding = 'finding'

export function isFinding<V>(v: V) {
  return is$typed(v, id, hashFinding)
}

export function validateFinding<V>(v: V) {
  return validate<Finding & V>(v, id, hashFinding)
}
