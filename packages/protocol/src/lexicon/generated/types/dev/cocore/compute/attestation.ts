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
const id = 'dev.cocore.compute.attestation'

export interface Main {
  $type: 'dev.cocore.compute.attestation'
  /** Base64 raw P-256 point (X then Y, 64 bytes) that signs this attestation and the machine's receipts. */
  publicKey: string
  /** Base64 X25519 public key prompts are sealed to. */
  encryptionPubKey: string
  /** Signature algorithm of publicKey. */
  sigScheme?: 'p256' | (string & {})
  /** Key agreement algorithm of encryptionPubKey. */
  encScheme?: 'x25519' | (string & {})
  /** Processor name. */
  chipName: string
  /** Hardware model of the host. */
  hardwareModel: string
  /** Hex SHA-256 of the serial number, so the serial itself stays private. */
  serialNumberHash: string
  /** Operating system and version. */
  osVersion: string
  /** Hex SHA-256 identifying the agent build that made this attestation. */
  binaryHash: string
  /** System integrity protection is on; false where the host has no such feature. */
  sipEnabled: boolean
  /** The host booted through a verified chain; false where not applicable. */
  secureBootEnabled: boolean
  /** The signing key lives in a hardware key store; false otherwise. */
  secureEnclaveAvailable: boolean
  /** The system volume is sealed and verified; false where not applicable. */
  authenticatedRootEnabled: boolean
  /** DER P-256 ECDSA signature by publicKey over the canonical JSON of the other fields. */
  selfSignature: Uint8Array
  /** Start of the validity window. */
  attestedAt: string
  /** End of the validity window. */
  expiresAt: string
  tier?: DevCocoreComputeDefs.Tier
  /** Code directory hash of the signed agent binary, on hosts that have one. */
  cdHash?: string
  /** Code signing team of the agent binary, on hosts that have one. */
  teamId?: string
  /** The agent runs with a hardened runtime, on hosts that have one. */
  hardenedRuntime?: boolean
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
