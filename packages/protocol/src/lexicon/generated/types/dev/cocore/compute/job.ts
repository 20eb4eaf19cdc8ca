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
import type * as ComAtprotoRepoStrongRef from '../../../com/atproto/repo/strongRef.ts'

const is$typed = _is$typed,
  validate = _validate
const id = 'dev.cocore.compute.job'

export interface Main {
  $type: 'dev.cocore.compute.job'
  /** Identifier of the model the work should run on; opaque to the protocol. */
  model: string
  /** Lowercase hex SHA-256 of the sealed prompt bytes; the prompt itself never appears in a record. */
  inputCommitment: string
  /** Where the sealed prompt may be fetched from, if anywhere. Only a convenience: the commitment is what binds. */
  inputCipherURL?: string
  /** Upper bound on generated tokens. */
  maxTokensOut: number
  priceCeiling: DevCocoreComputeDefs.Money
  acceptedTrustLevel: DevCocoreComputeDefs.TrustLevel
  /** Exchanges allowed to settle this job; the payment authorization has to name one of them. */
  acceptedExchanges?: string[]
  /** If present and non-empty, only these providers may serve the job. */
  acceptedProviders?: string[]
  paymentAuthorization: ComAtprotoRepoStrongRef.Main
  /** Hex of 16 random bytes, so that two otherwise equal jobs never collide. */
  nonce: string
  /** Deadline: work completed after this moment cannot produce a valid receipt. */
  expiresAt: string
  createdAt: string
  /** How the sealed input bytes are laid out: text is a raw prompt, messages-v1 a JSON envelope of chat messages. Missing: the provider tells from the bytes. */
  inputFormat?: 'text' | 'messages-v1' | (string & {})
  outputSchema?: OutputSchema
  /** Functions the model may call instead of, or before, answering. */
  tools?: Tool[]
  /** Whether the model may (auto), must not (none) or must (required) call one of the tools. Missing with tools: auto. */
  toolChoice?: 'auto' | 'none' | 'required' | (string & {})
  /** The one function the model has to call; takes precedence over toolChoice. */
  toolChoiceFunction?: string
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

/** A named JSON schema for the answer. No field is required, as on cocore.dev; a provider refuses one without a schema it can enforce. */
export interface OutputSchema {
  $type?: 'dev.cocore.compute.job#outputSchema'
  /** The schema's name as the requester gave it. */
  name?: string
  /** True: the answer validates against the schema exactly. */
  strict?: boolean
  /** The JSON schema itself (an object). */
  schema?: { [_ in string]: unknown }
}

const hashOutputSchema = 'outputSchema'

export function isOutputSchema<V>(v: V) {
  return is$typed(v, id, hashOutputSchema)
}

export function validateOutputSchema<V>(v: V) {
  return validate<OutputSchema & V>(v, id, hashOutputSchema)
}

/** One function the model may call. */
export interface Tool {
  $type?: 'dev.cocore.compute.job#tool'
  /** Kind of tool; only function is defined. */
  type: 'function' | (string & {})
  function: ToolFunction
}

const hashTool = 'tool'

export function isTool<V>(v: V) {
  return is$typed(v, id, hashTool)
}

export function validateTool<V>(v: V) {
  return validate<Tool & V>(v, id, hashTool)
}

/** A function's name, what it is for, and the JSON schema of its arguments. */
export interface ToolFunction {
  $type?: 'dev.cocore.compute.job#toolFunction'
  /** The name the model calls it by. */
  name: string
  /** What the function does, for the model. */
  description?: string
  /** JSON schema (an object) of the function's arguments. */
  parameters?: { [_ in string]: unknown }
}

const hashToolFunction = 'toolFunction'

export function isToolFunction<V>(v: V) {
  return is$typed(v, id, hashToolFunction)
}

export function validateToolFunction<V>(v: V) {
  return validate<ToolFunction & V>(v, id, hashToolFunction)
}
