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
const id = 'dev.cocore.compute.provider'

export interface Main {
  $type: 'dev.cocore.compute.provider'
  /** Operating system name and version, useful when matching on engine features. */
  os?: string
  /** Processor name as reported by the host. */
  chip: string
  ramGB: number
  /** Set to false when the machine is retired; retired machines are never matched. */
  active: boolean
  /** Efficiency cores, on hosts that have them. */
  eCores?: number
  /** Performance cores, on hosts that have them. */
  pCores?: number
  /** True while the agent's serve loop runs; written false on an orderly stop. Missing means not known, which consumers should not read as offline. */
  serving?: boolean
  /** Total number of CPU cores. */
  cpuCores?: number
  /** GPU cores, where the host reports them. */
  gpuCores?: number
  createdAt: string
  /** Rates the machine advertises per model. For display only while an exchange policy's tokenRate governs pricing; kept required so older readers still parse the record. */
  priceList: DevCocoreComputeDefs.ModelPrice[]
  trustLevel: DevCocoreComputeDefs.TrustLevel
  engineFault?: EngineFault
  /** Name a person gave this machine. */
  machineLabel: string
  /** True while the agent is still starting: the machine is shown but must not be routed jobs. Missing means false. */
  provisioning?: boolean
  /** Version of the agent that last wrote this record. */
  binaryVersion?: string
  /** Models the owner asks this machine to load; the agent works toward this set and keeps the field when it re-publishes. supportedModels says what actually loaded. */
  desiredModels?: string[]
  /** True once some exchange can actually pay this provider out. Missing means false. */
  payoutsEnabled?: boolean
  /** Matchmaker this machine is currently connected through. May change freely. */
  contactEndpoint?: string
  /** Vendor hardware model code, stable across OS upgrades. */
  modelIdentifier?: string
  /** Models this machine can serve right now. */
  supportedModels: string[]
  /** Base64 X25519 public key that prompts for this machine are sealed to. */
  encryptionPubKey: string
  /** Exchanges this provider accepts settlement from; missing or empty means any. */
  acceptedExchanges?: string[]
  /** Base64 P-256 public key held by the machine, which signs its attestations and receipts. It never changes for a machine, so it also identifies the machine. */
  attestationPubKey: string
  /** Memory bandwidth in GB/s, where known. */
  memoryBandwidthGBs?: number
  proBono?: ProBono
  tier?: DevCocoreComputeDefs.Tier
  desiredTier?: DevCocoreComputeDefs.Tier
  /** Stable identifier of the physical machine, independent of its keys. */
  machineFingerprint?: string
  /** ISO 3166-1 alpha-2 country code of the machine. Only present when the owner opted in. */
  region?: string
  /** How the region was determined, for example by the owner or by address lookup. */
  regionSource?: string
  /** When the region was last determined. */
  regionObservedAt?: string
  /** The owner's consent to publishing region. Missing means no. */
  shareLocation?: boolean
  /** True when the engine can handle tool-calling requests. */
  toolCalls?: boolean
  /** Owner switch that turns tool calling off even when the engine could do it. */
  toolCallsDisabled?: boolean
  attestationFault?: Fault
  advisorFault?: Fault
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

/** Which requesters may have work served without charge. */
export interface ProBono {
  $type?: 'dev.cocore.compute.provider#proBono'
  /** any: free for every requester; direct: free only for the listed DIDs. */
  mode: 'any' | 'direct' | (string & {})
  /** Requesters served for free in direct mode. */
  dids?: string[]
}

const hashProBono = 'proBono'

export function isProBono<V>(v: V) {
  return is$typed(v, id, hashProBono)
}

export function validateProBono<V>(v: V) {
  return validate<ProBono & V>(v, id, hashProBono)
}

/** A condition the operator should look at, in the same shape as engineFault. */
export interface Fault {
  $type?: 'dev.cocore.compute.provider#fault'
  /** Short machine-readable fault name. */
  code: string
  /** Explanation and suggested fix; never includes prompt or output content. */
  message: string
  /** Moment the fault was recorded. */
  at: string
}

const hashFault = 'fault'

export function isFault<V>(v: V) {
  return is$typed(v, id, hashFault)
}

export function validateFault<V>(v: V) {
  return validate<Fault & V>(v, id, hashFault)
}

/** Why the inference engine did not come up. */
export interface EngineFault {
  $type?: 'dev.cocore.compute.provider#engineFault'
  /** Moment the fault was recorded. */
  at: string
  /** Short machine-readable fault name. */
  code: string
  /** Configured models that could not be loaded. */
  models?: string[]
  /** Explanation and suggested fix for the operator; never includes prompt or output content. */
  message: string
}

const hashEngineFault = 'engineFault'

export function isEngineFault<V>(v: V) {
  return is$typed(v, id, hashEngineFault)
}

export function validateEngineFault<V>(v: V) {
  return validate<EngineFault & V>(v, id, hashEngineFault)
}
