/**
 * GENERATED CODE - DO NOT MODIFY
 */
import {
  type LexiconDoc,
  Lexicons,
  ValidationError,
  type ValidationResult,
} from '@atproto/lexicon'
import { type $Typed, is$typed, maybe$typed } from './util.ts'

export const schemaDict = {
  ComAtprotoRepoStrongRef: {
    lexicon: 1,
    id: 'com.atproto.repo.strongRef',
    description:
      'A reference to one specific version of a record: its AT-URI together with the CID of the content it pointed at.',
    defs: {
      main: {
        type: 'object',
        required: ['uri', 'cid'],
        properties: {
          uri: {
            type: 'string',
            format: 'at-uri',
          },
          cid: {
            type: 'string',
            format: 'cid',
          },
        },
      },
    },
  },
  DevCocoreAccountTokenGrant: {
    lexicon: 1,
    id: 'dev.cocore.account.tokenGrant',
    description:
      'Evidence that an exchange gave a DID its one-time welcome tokens. At most one per recipient.',
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: ['exchange', 'recipient', 'amount', 'policy', 'createdAt'],
          properties: {
            exchange: {
              type: 'string',
              format: 'did',
              description: 'Granting exchange; the repo owner.',
            },
            recipient: {
              type: 'string',
              format: 'did',
              description: 'Member who received the grant.',
            },
            amount: {
              type: 'integer',
              minimum: 0,
              description: 'Tokens credited.',
            },
            policy: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'Policy that set the grant size.',
            },
            createdAt: {
              type: 'string',
              format: 'datetime',
              description: 'When the grant took effect in the ledger.',
            },
          },
        },
      },
    },
  },
  DevCocoreAccountTokenPatronage: {
    lexicon: 1,
    id: 'dev.cocore.account.tokenPatronage',
    description:
      "One member's share of a patronage distribution for one period, with the figures needed to check it.",
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'exchange',
            'recipient',
            'period',
            'patronageScore',
            'totalPatronage',
            'tokensCredited',
            'treasuryBefore',
            'policy',
            'createdAt',
          ],
          properties: {
            exchange: {
              type: 'string',
              format: 'did',
              description: 'Distributing exchange; the repo owner.',
            },
            recipient: {
              type: 'string',
              format: 'did',
              description: 'Member credited.',
            },
            period: {
              type: 'ref',
              ref: 'lex:dev.cocore.account.tokenPatronage#period',
              description: 'Period the share was earned in.',
            },
            patronageScore: {
              type: 'integer',
              minimum: 0,
              description:
                "The member's tokens spent plus tokens earned in the period.",
            },
            totalPatronage: {
              type: 'integer',
              minimum: 0,
              description: "Sum of all members' scores for the period.",
            },
            tokensCredited: {
              type: 'integer',
              minimum: 1,
              description: 'Tokens paid to the member.',
            },
            treasuryBefore: {
              type: 'integer',
              minimum: 0,
              description:
                'Treasury balance at the end of the period, before distribution.',
            },
            policy: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'Policy whose patronage rule applied.',
            },
            createdAt: {
              type: 'string',
              format: 'datetime',
            },
          },
        },
      },
      period: {
        type: 'object',
        description: 'Time range including start and excluding end.',
        required: ['start', 'end'],
        properties: {
          start: {
            type: 'string',
            format: 'datetime',
          },
          end: {
            type: 'string',
            format: 'datetime',
          },
        },
      },
    },
  },
  DevCocoreAccountTokenRefresh: {
    lexicon: 1,
    id: 'dev.cocore.account.tokenRefresh',
    description:
      'Evidence of one periodic top-up of an active member, published because a refresh caused by a balance read would otherwise leave nothing public behind.',
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: ['exchange', 'recipient', 'amount', 'policy', 'createdAt'],
          properties: {
            exchange: {
              type: 'string',
              format: 'did',
              description: 'Refreshing exchange; the repo owner.',
            },
            recipient: {
              type: 'string',
              format: 'did',
              description: 'Member topped up.',
            },
            amount: {
              type: 'integer',
              minimum: 0,
              description: 'Tokens credited.',
            },
            policy: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'Policy whose refresh rule applied.',
            },
            createdAt: {
              type: 'string',
              format: 'datetime',
              description: 'When the refresh took effect in the ledger.',
            },
          },
        },
      },
    },
  },
  DevCocoreComputeAttestation: {
    lexicon: 1,
    id: 'dev.cocore.compute.attestation',
    description:
      "A machine's signed statement about its keys and its software and hardware posture, valid for a limited time. Receipts point at one of these by strong reference.",
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'publicKey',
            'encryptionPubKey',
            'chipName',
            'hardwareModel',
            'serialNumberHash',
            'osVersion',
            'binaryHash',
            'sipEnabled',
            'secureBootEnabled',
            'secureEnclaveAvailable',
            'authenticatedRootEnabled',
            'selfSignature',
            'attestedAt',
            'expiresAt',
          ],
          properties: {
            publicKey: {
              type: 'string',
              maxLength: 256,
              description:
                "Base64 raw P-256 point (X then Y, 64 bytes) that signs this attestation and the machine's receipts.",
            },
            encryptionPubKey: {
              type: 'string',
              maxLength: 128,
              description: 'Base64 X25519 public key prompts are sealed to.',
            },
            sigScheme: {
              type: 'string',
              maxLength: 32,
              knownValues: ['p256'],
              description: 'Signature algorithm of publicKey.',
            },
            encScheme: {
              type: 'string',
              maxLength: 32,
              knownValues: ['x25519'],
              description: 'Key agreement algorithm of encryptionPubKey.',
            },
            chipName: {
              type: 'string',
              maxLength: 128,
              description: 'Processor name.',
            },
            hardwareModel: {
              type: 'string',
              maxLength: 128,
              description: 'Hardware model of the host.',
            },
            serialNumberHash: {
              type: 'string',
              minLength: 64,
              maxLength: 64,
              description:
                'Hex SHA-256 of the serial number, so the serial itself stays private.',
            },
            osVersion: {
              type: 'string',
              maxLength: 128,
              description: 'Operating system and version.',
            },
            binaryHash: {
              type: 'string',
              minLength: 64,
              maxLength: 64,
              description:
                'Hex SHA-256 identifying the agent build that made this attestation.',
            },
            sipEnabled: {
              type: 'boolean',
              description:
                'System integrity protection is on; false where the host has no such feature.',
            },
            secureBootEnabled: {
              type: 'boolean',
              description:
                'The host booted through a verified chain; false where not applicable.',
            },
            secureEnclaveAvailable: {
              type: 'boolean',
              description:
                'The signing key lives in a hardware key store; false otherwise.',
            },
            authenticatedRootEnabled: {
              type: 'boolean',
              description:
                'The system volume is sealed and verified; false where not applicable.',
            },
            selfSignature: {
              type: 'bytes',
              maxLength: 256,
              description:
                'DER P-256 ECDSA signature by publicKey over the canonical JSON of the other fields.',
            },
            attestedAt: {
              type: 'string',
              format: 'datetime',
              description: 'Start of the validity window.',
            },
            expiresAt: {
              type: 'string',
              format: 'datetime',
              description: 'End of the validity window.',
            },
            tier: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#tier',
              description: 'Service class this posture qualifies for.',
            },
            cdHash: {
              type: 'string',
              maxLength: 128,
              description:
                'Code directory hash of the signed agent binary, on hosts that have one.',
            },
            teamId: {
              type: 'string',
              maxLength: 64,
              description:
                'Code signing team of the agent binary, on hosts that have one.',
            },
            hardenedRuntime: {
              type: 'boolean',
              description:
                'The agent runs with a hardened runtime, on hosts that have one.',
            },
          },
        },
      },
    },
  },
  DevCocoreComputeBrokerageKey: {
    lexicon: 1,
    id: 'dev.cocore.compute.brokerageKey',
    description:
      "The keys a matchmaker signs brokerageCountersignatures with, published in the matchmaker's own repo (rkey self) so that exchanges, clients and auditors can check a countersignature from public records alone. Each running matchmaker process of the account adds its key; a key is retired by setting its validUntil, never removed, so that what it countersigned keeps verifying.",
    defs: {
      main: {
        type: 'record',
        key: 'literal:self',
        record: {
          type: 'object',
          required: ['keys', 'createdAt'],
          properties: {
            keys: {
              type: 'array',
              minLength: 1,
              maxLength: 256,
              items: {
                type: 'ref',
                ref: 'lex:dev.cocore.compute.brokerageKey#key',
              },
              description:
                'Every key the matchmaker has signed with, newest first.',
            },
            createdAt: {
              type: 'string',
              format: 'datetime',
            },
          },
        },
      },
      key: {
        type: 'object',
        required: ['publicKey', 'validFrom'],
        properties: {
          publicKey: {
            type: 'string',
            maxLength: 128,
            description:
              "P-256, standard base64 of the 64-byte raw point X‖Y (as an attestation's publicKey); signatures are DER ECDSA over SHA-256.",
          },
          sigScheme: {
            type: 'string',
            knownValues: ['p256'],
          },
          validFrom: {
            type: 'string',
            format: 'datetime',
            description: 'From when the key signs.',
          },
          validUntil: {
            type: 'string',
            format: 'datetime',
            description: 'When the key was retired; absent while it is in use.',
          },
        },
      },
    },
  },
  DevCocoreComputeDefs: {
    lexicon: 1,
    id: 'dev.cocore.compute.defs',
    description:
      'Building blocks shared by the cocore compute records: amounts, token counts, rates and the small vocabularies used across jobs, providers, receipts and settlements.',
    defs: {
      money: {
        type: 'object',
        description:
          'An amount in a named unit. Integer minor units, never fractions; when the unit is a token currency the amount is a plain token count.',
        required: ['amount', 'currency'],
        properties: {
          amount: {
            type: 'integer',
            minimum: 0,
            description:
              'Integer quantity in the smallest unit of the currency.',
          },
          currency: {
            type: 'string',
            minLength: 3,
            maxLength: 8,
            description:
              'Code of the unit the amount is counted in, such as TOK or an ISO 4217 code.',
          },
        },
      },
      tokenCounts: {
        type: 'object',
        description:
          'How many model tokens went into and came out of one piece of work.',
        required: ['in', 'out'],
        properties: {
          in: {
            type: 'integer',
            minimum: 0,
            description: 'Prompt-side tokens consumed.',
          },
          out: {
            type: 'integer',
            minimum: 0,
            description: 'Generated tokens produced.',
          },
        },
      },
      tokenRate: {
        type: 'object',
        description:
          'A price per million tokens, separately for input and output, in one currency.',
        required: ['inputPricePerMTok', 'outputPricePerMTok', 'currency'],
        properties: {
          inputPricePerMTok: {
            type: 'integer',
            minimum: 0,
            description: 'Minor units charged for each million input tokens.',
          },
          outputPricePerMTok: {
            type: 'integer',
            minimum: 0,
            description: 'Minor units charged for each million output tokens.',
          },
          currency: {
            type: 'string',
            minLength: 3,
            maxLength: 8,
            description: 'Unit both prices are counted in.',
          },
        },
      },
      modelPrice: {
        type: 'object',
        description: 'A token rate that applies to one particular model.',
        required: [
          'modelId',
          'inputPricePerMTok',
          'outputPricePerMTok',
          'currency',
        ],
        properties: {
          modelId: {
            type: 'string',
            maxLength: 256,
            description: 'The model this rate is quoted for.',
          },
          inputPricePerMTok: {
            type: 'integer',
            minimum: 0,
            description: 'Minor units charged for each million input tokens.',
          },
          outputPricePerMTok: {
            type: 'integer',
            minimum: 0,
            description: 'Minor units charged for each million output tokens.',
          },
          currency: {
            type: 'string',
            minLength: 3,
            maxLength: 8,
            description: 'Unit both prices are counted in.',
          },
        },
      },
      trustLevel: {
        type: 'string',
        description:
          "How strongly a machine's claims about itself are backed: by its own signature only, or by attestation hardware.",
        knownValues: ['self-attested', 'hardware-attested'],
      },
      tier: {
        type: 'string',
        description: 'Service class a machine or a piece of work runs under.',
        knownValues: ['attested-confidential', 'best-effort'],
      },
      settlementStatus: {
        type: 'string',
        description: 'Where a settlement stands.',
        knownValues: ['settled', 'refunded', 'disputed'],
      },
    },
  },
  DevCocoreComputeExchangePolicy: {
    lexicon: 1,
    id: 'dev.cocore.compute.exchangePolicy',
    description:
      'The published terms an exchange settles by: fee, currencies, self-dealing rule, settlement backend, and the token accounting parameters (grant, floor, refresh, patronage, treasury). Settlements point at the policy in force so anyone can recompute them. A policy never changes; new terms mean a new record, with the old one marked inactive.',
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'exchange',
            'fee',
            'supportedCurrencies',
            'selfLoop',
            'createdAt',
          ],
          properties: {
            fee: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.exchangePolicy#feeSchedule',
              description:
                "Share of each receipt's price that goes to the treasury rather than the provider; the treasury pays it back to members as patronage.",
            },
            active: {
              type: 'boolean',
              default: true,
              description:
                'False once a newer policy has replaced this one. Receipts settled while it was active stay valid.',
            },
            exchange: {
              type: 'string',
              format: 'did',
              description:
                'The exchange; always the DID of the repo holding this record.',
            },
            selfLoop: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.exchangePolicy#selfLoopRule',
              description:
                'Treatment of jobs whose requester also owns the serving provider.',
            },
            termsUri: {
              type: 'string',
              format: 'uri',
              description:
                'Human-readable terms and privacy text. Members are asked to agree again when termsVersion no longer matches their latest termsAcceptance.',
            },
            createdAt: {
              type: 'string',
              format: 'datetime',
            },
            processor: {
              type: 'string',
              maxLength: 64,
              description:
                'Name of the settlement backend, telling clients whether settlement stays inside the exchange or leaves it.',
            },
            tokenRate: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#tokenRate',
              description:
                'The one rate receipts settled here must be priced at, whatever a provider advertises. Price = in·inputPricePerMTok/1e6 + out·outputPricePerMTok/1e6.',
            },
            tokenFloor: {
              type: 'integer',
              minimum: 0,
              description:
                "Balance a member must still have after subtracting a job's price ceiling for the job to be admitted.",
            },
            tokenGrant: {
              type: 'integer',
              minimum: 0,
              description:
                'One-time welcome credit per DID, issued once and evidenced by a tokenGrant record. Zero turns grants off.',
            },
            treasuryDid: {
              type: 'string',
              format: 'did',
              description:
                'Account that collects fees and pays patronage. When absent it is the exchange itself.',
            },
            termsVersion: {
              type: 'string',
              maxLength: 32,
              description:
                'Version label of the text at termsUri, compared for exact equality.',
            },
            weeklyRefresh: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.exchangePolicy#refreshRule',
              description:
                'Periodic top-up for members who use the network, applied when they next touch it. Absent means no refresh.',
            },
            supportedCurrencies: {
              type: 'array',
              minLength: 1,
              maxLength: 32,
              items: {
                type: 'string',
                minLength: 3,
                maxLength: 8,
              },
              description: 'Currency codes this exchange settles in.',
            },
            patronageDistribution: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.exchangePolicy#patronageRule',
              description:
                'Periodic return of treasury funds to active members in proportion to what they spent and earned. Absent means none.',
            },
            settlementPublicKey: {
              type: 'string',
              maxLength: 256,
              description:
                "cocore addition: the P-256 public key (standard base64 of the raw 64-byte X‖Y point) whose signatures appear in this exchange's settlement records (`sig`). A settlement strong-refs its policy, so anyone can check the settlement offline. A new key means a new policy record.",
            },
          },
        },
      },
      feeSchedule: {
        type: 'object',
        description: 'Fee = max(amount·bps/10000, minMinor).',
        required: ['bps', 'minMinor', 'currency'],
        properties: {
          bps: {
            type: 'integer',
            minimum: 0,
            maximum: 10000,
            description: 'Fee rate in hundredths of a percent.',
          },
          currency: {
            type: 'string',
            minLength: 3,
            maxLength: 8,
            description: 'Unit the fee is counted in.',
          },
          minMinor: {
            type: 'integer',
            minimum: 0,
            description: 'Smallest fee charged, in minor units; 0 for none.',
          },
        },
      },
      refreshRule: {
        type: 'object',
        description:
          'How much an active member is topped up by, and how often at most.',
        required: ['amountPerDid', 'cadenceMinutes'],
        properties: {
          amountPerDid: {
            type: 'integer',
            minimum: 0,
            description: 'Tokens credited per refresh.',
          },
          cadenceMinutes: {
            type: 'integer',
            minimum: 60,
            description:
              'Least number of minutes between two refreshes of one DID.',
          },
        },
      },
      selfLoopRule: {
        type: 'object',
        description:
          'Rule for jobs where requester and provider are the same DID.',
        required: ['feeWaived'],
        properties: {
          minMinor: {
            type: 'integer',
            minimum: 0,
            description:
              'Flat charge still taken to cover costs; unused when feeWaived is true.',
          },
          feeWaived: {
            type: 'boolean',
            description:
              'No fee on such jobs; a settlement is still published for the record.',
          },
        },
      },
      patronageRule: {
        type: 'object',
        description:
          'How much of the treasury is returned to members, and how often.',
        required: ['fractionBps', 'cadenceDays'],
        properties: {
          cadenceDays: {
            type: 'integer',
            minimum: 1,
            description: 'Length of a patronage period in days.',
          },
          fractionBps: {
            type: 'integer',
            minimum: 0,
            maximum: 10000,
            description:
              'Part of the treasury handed out each period, in hundredths of a percent; the rest is kept in reserve.',
          },
        },
      },
    },
  },
  DevCocoreComputeJob: {
    lexicon: 1,
    id: 'dev.cocore.compute.job',
    description:
      "A requester's ask for one piece of compute, written to the requester's own repo before any work starts so that a receipt can later point back at it.",
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'model',
            'inputCommitment',
            'maxTokensOut',
            'priceCeiling',
            'acceptedTrustLevel',
            'paymentAuthorization',
            'nonce',
            'expiresAt',
            'createdAt',
          ],
          properties: {
            model: {
              type: 'string',
              maxLength: 256,
              description:
                'Identifier of the model the work should run on; opaque to the protocol.',
            },
            inputCommitment: {
              type: 'string',
              minLength: 64,
              maxLength: 64,
              description:
                'Lowercase hex SHA-256 of the sealed prompt bytes; the prompt itself never appears in a record.',
            },
            inputCipherURL: {
              type: 'string',
              format: 'uri',
              description:
                'Where the sealed prompt may be fetched from, if anywhere. Only a convenience: the commitment is what binds.',
            },
            maxTokensOut: {
              type: 'integer',
              minimum: 1,
              maximum: 2000000,
              description: 'Upper bound on generated tokens.',
            },
            priceCeiling: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#money',
              description:
                'Most the requester is willing to pay; a receipt priced above this, or in another currency, is not valid.',
            },
            acceptedTrustLevel: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#trustLevel',
              description:
                'Weakest provider trust level the requester will take.',
            },
            acceptedExchanges: {
              type: 'array',
              maxLength: 16,
              items: {
                type: 'string',
                format: 'did',
              },
              description:
                'Exchanges allowed to settle this job; the payment authorization has to name one of them.',
            },
            acceptedProviders: {
              type: 'array',
              maxLength: 64,
              items: {
                type: 'string',
                format: 'did',
              },
              description:
                'If present and non-empty, only these providers may serve the job.',
            },
            paymentAuthorization: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description:
                "The requester's paymentAuthorization record (same repo) that funds this job.",
            },
            nonce: {
              type: 'string',
              minLength: 32,
              maxLength: 32,
              description:
                'Hex of 16 random bytes, so that two otherwise equal jobs never collide.',
            },
            expiresAt: {
              type: 'string',
              format: 'datetime',
              description:
                'Deadline: work completed after this moment cannot produce a valid receipt.',
            },
            createdAt: {
              type: 'string',
              format: 'datetime',
            },
            inputFormat: {
              type: 'string',
              maxLength: 64,
              knownValues: ['text', 'messages-v1'],
              description:
                'How the sealed input bytes are laid out: text is a raw prompt, messages-v1 a JSON envelope of chat messages. Missing: the provider tells from the bytes.',
            },
            outputSchema: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.job#outputSchema',
              description:
                "A JSON schema the answer has to follow (OpenAI's response_format.json_schema).",
            },
            tools: {
              type: 'array',
              maxLength: 128,
              items: {
                type: 'ref',
                ref: 'lex:dev.cocore.compute.job#tool',
              },
              description:
                'Functions the model may call instead of, or before, answering.',
            },
            toolChoice: {
              type: 'string',
              maxLength: 64,
              knownValues: ['auto', 'none', 'required'],
              description:
                'Whether the model may (auto), must not (none) or must (required) call one of the tools. Missing with tools: auto.',
            },
            toolChoiceFunction: {
              type: 'string',
              maxLength: 256,
              description:
                'The one function the model has to call; takes precedence over toolChoice.',
            },
          },
        },
      },
      outputSchema: {
        type: 'object',
        description:
          'A named JSON schema for the answer. No field is required, as on cocore.dev; a provider refuses one without a schema it can enforce.',
        properties: {
          name: {
            type: 'string',
            maxLength: 256,
            description: "The schema's name as the requester gave it.",
          },
          strict: {
            type: 'boolean',
            description:
              'True: the answer validates against the schema exactly.',
          },
          schema: {
            type: 'unknown',
            description: 'The JSON schema itself (an object).',
          },
        },
      },
      tool: {
        type: 'object',
        description: 'One function the model may call.',
        required: ['type', 'function'],
        properties: {
          type: {
            type: 'string',
            maxLength: 64,
            knownValues: ['function'],
            description: 'Kind of tool; only function is defined.',
          },
          function: {
            type: 'ref',
            ref: 'lex:dev.cocore.compute.job#toolFunction',
          },
        },
      },
      toolFunction: {
        type: 'object',
        description:
          "A function's name, what it is for, and the JSON schema of its arguments.",
        required: ['name'],
        properties: {
          name: {
            type: 'string',
            maxLength: 256,
            description: 'The name the model calls it by.',
          },
          description: {
            type: 'string',
            maxLength: 4096,
            description: 'What the function does, for the model.',
          },
          parameters: {
            type: 'unknown',
            description: "JSON schema (an object) of the function's arguments.",
          },
        },
      },
    },
  },
  DevCocoreComputeListSettlements: {
    lexicon: 1,
    id: 'dev.cocore.compute.listSettlements',
    defs: {
      main: {
        type: 'query',
        description:
          'Settlements this exchange has published, newest first, optionally only those involving one member.',
        parameters: {
          type: 'params',
          properties: {
            did: {
              type: 'string',
              format: 'did',
              description:
                'Only settlements where this DID is requester or provider.',
            },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: 100,
              default: 50,
            },
            cursor: {
              type: 'string',
            },
          },
        },
        output: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['settlements'],
            properties: {
              settlements: {
                type: 'array',
                items: {
                  type: 'ref',
                  ref: 'lex:dev.cocore.compute.listSettlements#settlementView',
                },
              },
              cursor: {
                type: 'string',
              },
            },
          },
        },
      },
      settlementView: {
        type: 'object',
        required: [
          'uri',
          'cid',
          'receipt',
          'amountCharged',
          'providerPayout',
          'exchangeFee',
          'settledAt',
        ],
        properties: {
          uri: {
            type: 'string',
            format: 'at-uri',
          },
          cid: {
            type: 'string',
            format: 'cid',
          },
          receipt: {
            type: 'string',
            format: 'at-uri',
            description: 'The settled receipt.',
          },
          amountCharged: {
            type: 'integer',
          },
          providerPayout: {
            type: 'integer',
          },
          exchangeFee: {
            type: 'integer',
          },
          settledAt: {
            type: 'string',
            format: 'datetime',
          },
        },
      },
    },
  },
  DevCocoreComputePaymentAuthorization: {
    lexicon: 1,
    id: 'dev.cocore.compute.paymentAuthorization',
    description:
      "A requester's permission for one exchange to charge them, up to a ceiling, for a job or a session of jobs.",
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'exchange',
            'ceiling',
            'scope',
            'nonce',
            'expiresAt',
            'createdAt',
          ],
          properties: {
            exchange: {
              type: 'string',
              format: 'did',
              description:
                'The only exchange this authorization lets charge the requester.',
            },
            ceiling: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#money',
              description:
                "Largest charge allowed per job; must be at least the job's own price ceiling.",
            },
            scope: {
              type: 'string',
              knownValues: ['singleJob', 'session'],
              description: 'Whether this covers one job or a run of jobs.',
            },
            sessionBudget: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#money',
              description:
                'For session scope: total that all jobs together may be charged.',
            },
            nonce: {
              type: 'string',
              minLength: 32,
              maxLength: 32,
              description:
                'Hex of 16 random bytes. Seeing the same nonce twice voids the authorization.',
            },
            expiresAt: {
              type: 'string',
              format: 'datetime',
              description:
                'After this moment the authorization covers nothing.',
            },
            createdAt: {
              type: 'string',
              format: 'datetime',
            },
          },
        },
      },
    },
  },
  DevCocoreComputeProvider: {
    lexicon: 1,
    id: 'dev.cocore.compute.provider',
    description:
      'Public profile of one physical machine offering compute. The repo owner is the identity that gets paid; one owner may run several machines, each with its own record.',
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'machineLabel',
            'chip',
            'ramGB',
            'supportedModels',
            'priceList',
            'encryptionPubKey',
            'attestationPubKey',
            'trustLevel',
            'createdAt',
          ],
          properties: {
            os: {
              type: 'string',
              maxLength: 64,
              description:
                'Operating system name and version, useful when matching on engine features.',
            },
            chip: {
              type: 'string',
              maxLength: 64,
              description: 'Processor name as reported by the host.',
            },
            ramGB: {
              type: 'integer',
              minimum: 1,
            },
            active: {
              type: 'boolean',
              default: true,
              description:
                'Set to false when the machine is retired; retired machines are never matched.',
            },
            eCores: {
              type: 'integer',
              minimum: 0,
              description: 'Efficiency cores, on hosts that have them.',
            },
            pCores: {
              type: 'integer',
              minimum: 0,
              description: 'Performance cores, on hosts that have them.',
            },
            serving: {
              type: 'boolean',
              description:
                "True while the agent's serve loop runs; written false on an orderly stop. Missing means not known, which consumers should not read as offline.",
            },
            cpuCores: {
              type: 'integer',
              minimum: 1,
              description: 'Total number of CPU cores.',
            },
            gpuCores: {
              type: 'integer',
              minimum: 0,
              description: 'GPU cores, where the host reports them.',
            },
            createdAt: {
              type: 'string',
              format: 'datetime',
            },
            priceList: {
              type: 'array',
              minLength: 1,
              maxLength: 256,
              items: {
                type: 'ref',
                ref: 'lex:dev.cocore.compute.defs#modelPrice',
              },
              description:
                "Rates the machine advertises per model. For display only while an exchange policy's tokenRate governs pricing; kept required so older readers still parse the record.",
            },
            trustLevel: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#trustLevel',
            },
            engineFault: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.provider#engineFault',
              description:
                'Set when the agent gave up bringing its inference engine up. Such a machine stays listed but is not routed real work; removed again once the engine starts cleanly.',
            },
            machineLabel: {
              type: 'string',
              maxLength: 128,
              description: 'Name a person gave this machine.',
            },
            provisioning: {
              type: 'boolean',
              description:
                'True while the agent is still starting: the machine is shown but must not be routed jobs. Missing means false.',
            },
            binaryVersion: {
              type: 'string',
              maxLength: 64,
              description: 'Version of the agent that last wrote this record.',
            },
            desiredModels: {
              type: 'array',
              maxLength: 256,
              items: {
                type: 'string',
                maxLength: 256,
              },
              description:
                'Models the owner asks this machine to load; the agent works toward this set and keeps the field when it re-publishes. supportedModels says what actually loaded.',
            },
            payoutsEnabled: {
              type: 'boolean',
              description:
                'True once some exchange can actually pay this provider out. Missing means false.',
            },
            contactEndpoint: {
              type: 'string',
              format: 'uri',
              description:
                'Matchmaker this machine is currently connected through. May change freely.',
            },
            modelIdentifier: {
              type: 'string',
              maxLength: 64,
              description:
                'Vendor hardware model code, stable across OS upgrades.',
            },
            supportedModels: {
              type: 'array',
              minLength: 1,
              maxLength: 256,
              items: {
                type: 'string',
                maxLength: 256,
              },
              description: 'Models this machine can serve right now.',
            },
            encryptionPubKey: {
              type: 'string',
              maxLength: 128,
              description:
                'Base64 X25519 public key that prompts for this machine are sealed to.',
            },
            acceptedExchanges: {
              type: 'array',
              maxLength: 64,
              items: {
                type: 'string',
                format: 'did',
              },
              description:
                'Exchanges this provider accepts settlement from; missing or empty means any.',
            },
            attestationPubKey: {
              type: 'string',
              maxLength: 256,
              description:
                'Base64 P-256 public key held by the machine, which signs its attestations and receipts. It never changes for a machine, so it also identifies the machine.',
            },
            memoryBandwidthGBs: {
              type: 'integer',
              minimum: 0,
              description: 'Memory bandwidth in GB/s, where known.',
            },
            proBono: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.provider#proBono',
              description:
                "Owner's offer to serve some work for free. Written by the owner and kept by the agent.",
            },
            tier: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#tier',
              description: 'Service class the machine currently runs in.',
            },
            desiredTier: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#tier',
              description:
                'Service class the owner wants the machine to run in.',
            },
            machineFingerprint: {
              type: 'string',
              maxLength: 128,
              description:
                'Stable identifier of the physical machine, independent of its keys.',
            },
            region: {
              type: 'string',
              minLength: 2,
              maxLength: 2,
              description:
                'ISO 3166-1 alpha-2 country code of the machine. Only present when the owner opted in.',
            },
            regionSource: {
              type: 'string',
              maxLength: 64,
              description:
                'How the region was determined, for example by the owner or by address lookup.',
            },
            regionObservedAt: {
              type: 'string',
              format: 'datetime',
              description: 'When the region was last determined.',
            },
            shareLocation: {
              type: 'boolean',
              description:
                "The owner's consent to publishing region. Missing means no.",
            },
            toolCalls: {
              type: 'boolean',
              description:
                'True when the engine can handle tool-calling requests.',
            },
            toolCallsDisabled: {
              type: 'boolean',
              description:
                'Owner switch that turns tool calling off even when the engine could do it.',
            },
            attestationFault: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.provider#fault',
              description:
                'Set when the machine could not produce a valid attestation.',
            },
            advisorFault: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.provider#fault',
              description:
                'Set when the agent could not keep a connection to its matchmaker.',
            },
          },
        },
      },
      proBono: {
        type: 'object',
        description: 'Which requesters may have work served without charge.',
        required: ['mode'],
        properties: {
          mode: {
            type: 'string',
            maxLength: 32,
            knownValues: ['any', 'direct'],
            description:
              'any: free for every requester; direct: free only for the listed DIDs.',
          },
          dids: {
            type: 'array',
            maxLength: 256,
            items: {
              type: 'string',
              format: 'did',
            },
            description: 'Requesters served for free in direct mode.',
          },
        },
      },
      fault: {
        type: 'object',
        description:
          'A condition the operator should look at, in the same shape as engineFault.',
        required: ['code', 'message', 'at'],
        properties: {
          code: {
            type: 'string',
            maxLength: 64,
            description: 'Short machine-readable fault name.',
          },
          message: {
            type: 'string',
            maxLength: 600,
            description:
              'Explanation and suggested fix; never includes prompt or output content.',
          },
          at: {
            type: 'string',
            format: 'datetime',
            description: 'Moment the fault was recorded.',
          },
        },
      },
      engineFault: {
        type: 'object',
        description: 'Why the inference engine did not come up.',
        required: ['code', 'message', 'at'],
        properties: {
          at: {
            type: 'string',
            format: 'datetime',
            description: 'Moment the fault was recorded.',
          },
          code: {
            type: 'string',
            maxLength: 64,
            description: 'Short machine-readable fault name.',
          },
          models: {
            type: 'array',
            maxLength: 256,
            items: {
              type: 'string',
              maxLength: 256,
            },
            description: 'Configured models that could not be loaded.',
          },
          message: {
            type: 'string',
            maxLength: 600,
            description:
              'Explanation and suggested fix for the operator; never includes prompt or output content.',
          },
        },
      },
    },
  },
  DevCocoreComputeReceipt: {
    lexicon: 1,
    id: 'dev.cocore.compute.receipt',
    description:
      "A provider's signed account of one finished job: what ran, how many tokens it took, and what it costs. Kept in the provider's repo and verifiable offline against the job and the attestation.",
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'job',
            'requester',
            'model',
            'inputCommitment',
            'outputCommitment',
            'tokens',
            'startedAt',
            'completedAt',
            'price',
            'attestation',
            'enclaveSignature',
          ],
          properties: {
            job: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'The job record this work answered.',
            },
            requester: {
              type: 'string',
              format: 'did',
              description: "Owner of the job's repo.",
            },
            model: {
              type: 'string',
              maxLength: 256,
              description: 'Model that produced the output.',
            },
            inputCommitment: {
              type: 'string',
              minLength: 64,
              maxLength: 64,
              description:
                'Copied from the job; ties the receipt to the sealed prompt.',
            },
            outputCommitment: {
              type: 'string',
              minLength: 64,
              maxLength: 64,
              description: 'Hex SHA-256 of the plaintext output.',
            },
            outputCipherCommitment: {
              type: 'string',
              minLength: 64,
              maxLength: 64,
              description: 'Hex SHA-256 of the sealed reply as delivered.',
            },
            tokens: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#tokenCounts',
              description: 'Exact token counts of the run.',
            },
            startedAt: {
              type: 'string',
              format: 'datetime',
            },
            completedAt: {
              type: 'string',
              format: 'datetime',
              description:
                "Must not be after the job's deadline and must fall inside the attestation's window.",
            },
            price: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#money',
              description:
                "Charge for the run at the settling exchange's token rate; at most the job's ceiling, in its currency.",
            },
            attestation: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'Attestation whose key made enclaveSignature.',
            },
            enclaveSignature: {
              type: 'bytes',
              maxLength: 256,
              description:
                'DER P-256 ECDSA signature over the canonical JSON of this record minus this field, $type and brokerageCountersignature.',
            },
            params: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.receipt#params',
              description: 'Sampling settings the run used.',
            },
            tier: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#tier',
              description: 'Service class the run was served under.',
            },
            proBono: {
              type: 'boolean',
              description:
                'Served for free: price and token counts are zero and nothing is settled.',
            },
            brokerageCountersignature: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.receipt#brokerageCountersignature',
              description:
                'Added by the matchmaker that brokered the job, after the provider signed.',
            },
          },
        },
      },
      params: {
        type: 'object',
        description:
          'Generation settings, all integers so they enter signatures unambiguously; fractional settings are scaled by 1000.',
        properties: {
          maxTokens: {
            type: 'integer',
            minimum: 0,
            description: 'Token limit the engine was given.',
          },
          seed: {
            type: 'integer',
            description: 'Sampler seed.',
          },
          temperatureMilli: {
            type: 'integer',
            minimum: 0,
            description: 'Temperature times 1000.',
          },
          topPMilli: {
            type: 'integer',
            minimum: 0,
            maximum: 1000,
            description: 'Nucleus sampling threshold times 1000.',
          },
          outputSchemaHash: {
            type: 'string',
            maxLength: 128,
            description:
              'Hash of the structured-output schema, when one constrained the output.',
          },
          toolSchemaHash: {
            type: 'string',
            maxLength: 128,
            description:
              'Hash of the tool definitions offered to the model, when there were any.',
          },
        },
      },
      brokerageCountersignature: {
        type: 'object',
        description:
          "A matchmaker's signature vouching that it routed this job to this machine.",
        required: ['authority', 'machineId', 'nonce', 'sig'],
        properties: {
          authority: {
            type: 'string',
            format: 'did',
            description: 'The matchmaker that signed.',
          },
          machineId: {
            type: 'string',
            maxLength: 256,
            description: 'How the matchmaker identified the serving machine.',
          },
          nonce: {
            type: 'string',
            maxLength: 128,
            description:
              'Matchmaker-chosen value making the countersignature unique.',
          },
          sig: {
            type: 'bytes',
            maxLength: 256,
            description: "The matchmaker's signature.",
          },
        },
      },
    },
  },
  DevCocoreComputeSettlement: {
    lexicon: 1,
    id: 'dev.cocore.compute.settlement',
    description:
      "An exchange's record of how it settled one receipt: what the requester was charged and how that split between provider and treasury.",
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'receipt',
            'requesterAuthorization',
            'amountCharged',
            'providerPayout',
            'exchangeFee',
            'processorReference',
            'status',
            'settledAt',
          ],
          properties: {
            receipt: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'Receipt being settled.',
            },
            requesterAuthorization: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'Payment authorization that allowed the charge.',
            },
            amountCharged: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#money',
              description: 'Taken from the requester; equals payout plus fee.',
            },
            providerPayout: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#money',
              description: 'Credited to the provider.',
            },
            exchangeFee: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#money',
              description: 'Credited to the treasury.',
            },
            processorReference: {
              type: 'bytes',
              maxLength: 1024,
              description:
                'Identifier from the settlement backend for this movement.',
            },
            status: {
              type: 'ref',
              ref: 'lex:dev.cocore.compute.defs#settlementStatus',
            },
            refundOf: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'For a refund: the settlement it reverses.',
            },
            policy: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'Exchange policy the numbers were computed under.',
            },
            sig: {
              type: 'bytes',
              maxLength: 512,
              description: "The exchange's signature over this settlement.",
            },
            settledAt: {
              type: 'string',
              format: 'datetime',
            },
          },
        },
      },
    },
  },
  DevCocoreComputeTermsAcceptance: {
    lexicon: 1,
    id: 'dev.cocore.compute.termsAcceptance',
    description:
      "A member's record that they agreed to a given version of an exchange's terms.",
    defs: {
      main: {
        type: 'record',
        key: 'tid',
        record: {
          type: 'object',
          required: [
            'exchange',
            'policy',
            'termsVersion',
            'termsUri',
            'acceptedAt',
          ],
          properties: {
            exchange: {
              type: 'string',
              format: 'did',
              description: 'Exchange whose terms were accepted.',
            },
            policy: {
              type: 'ref',
              ref: 'lex:com.atproto.repo.strongRef',
              description: 'Policy record that carried these terms.',
            },
            termsVersion: {
              type: 'string',
              maxLength: 32,
              description:
                'Terms version agreed to; a newer version in the active policy calls for agreeing again.',
            },
            termsUri: {
              type: 'string',
              format: 'uri',
              description: 'Where the agreed text was published.',
            },
            userAgent: {
              type: 'string',
              maxLength: 512,
              description: 'Client through which the member agreed.',
            },
            acceptedAt: {
              type: 'string',
              format: 'datetime',
            },
            sig: {
              type: 'bytes',
              maxLength: 512,
              description: 'Optional signature by the member over this record.',
            },
          },
        },
      },
    },
  },
  DevCocoreComputeVerifyReceipt: {
    lexicon: 1,
    id: 'dev.cocore.compute.verifyReceipt',
    defs: {
      main: {
        type: 'query',
        description:
          "The exchange's verdict on a receipt it has seen, with the reasons when it failed.",
        parameters: {
          type: 'params',
          required: ['uri'],
          properties: {
            uri: {
              type: 'string',
              format: 'at-uri',
              description: 'The receipt record.',
            },
          },
        },
        output: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['ok', 'findings'],
            properties: {
              ok: {
                type: 'boolean',
              },
              findings: {
                type: 'array',
                items: {
                  type: 'ref',
                  ref: 'lex:dev.cocore.compute.verifyReceipt#finding',
                },
              },
              status: {
                type: 'string',
                description:
                  'Where the receipt stands at this exchange, e.g. settled or rejected.',
              },
            },
          },
        },
        errors: [
          {
            name: 'NotFound',
          },
        ],
      },
      finding: {
        type: 'object',
        description: 'One problem found while verifying.',
        required: ['code', 'message'],
        properties: {
          code: {
            type: 'string',
          },
          message: {
            type: 'string',
          },
        },
      },
    },
  },
  DevCocoreExchangeAdmitJob: {
    lexicon: 1,
    id: 'dev.cocore.exchange.admitJob',
    defs: {
      main: {
        type: 'procedure',
        description:
          "Asked by a matchmaker before dispatch: checks the requester's balance against the floor and, if admitted, holds the job's price ceiling until the receipt settles or the job expires.",
        input: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['job', 'requester', 'priceCeiling', 'expiresAt'],
            properties: {
              job: {
                type: 'ref',
                ref: 'lex:com.atproto.repo.strongRef',
              },
              requester: {
                type: 'string',
                format: 'did',
              },
              priceCeiling: {
                type: 'ref',
                ref: 'lex:dev.cocore.compute.defs#money',
              },
              expiresAt: {
                type: 'string',
                format: 'datetime',
                description: 'When an unused hold lapses.',
              },
              provider: {
                type: 'string',
                format: 'did',
                description:
                  'The provider the matchmaker dispatches the job to: a receipt for the job from anyone else is not paid.',
              },
              machineKey: {
                type: 'string',
                maxLength: 256,
                description:
                  "The dispatched machine's attested signing key (standard base64 of the P-256 point): a receipt signed by another machine is not paid.",
              },
            },
          },
        },
        output: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['admitted', 'balance', 'available'],
            properties: {
              admitted: {
                type: 'boolean',
              },
              code: {
                type: 'string',
                description: 'Why the job was refused, e.g. below_floor.',
              },
              message: {
                type: 'string',
              },
              holdKey: {
                type: 'string',
                description: 'Identifies the hold placed for an admitted job.',
              },
              balance: {
                type: 'integer',
              },
              available: {
                type: 'integer',
                description: 'Balance minus holds, after this decision.',
              },
            },
          },
        },
        errors: [
          {
            name: 'AuthRequired',
          },
          {
            name: 'BelowFloor',
          },
          {
            name: 'InvalidJob',
          },
        ],
      },
    },
  },
  DevCocoreExchangeGetBalance: {
    lexicon: 1,
    id: 'dev.cocore.exchange.getBalance',
    defs: {
      main: {
        type: 'query',
        description:
          "A member's token balance at this exchange. Reading it counts as activity for the refresh rule.",
        parameters: {
          type: 'params',
          required: ['did'],
          properties: {
            did: {
              type: 'string',
              format: 'did',
              description: 'Member to report on.',
            },
          },
        },
        output: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['did', 'balance', 'held', 'available', 'granted'],
            properties: {
              did: {
                type: 'string',
                format: 'did',
              },
              balance: {
                type: 'integer',
                description: 'Settled tokens.',
              },
              held: {
                type: 'integer',
                description:
                  'Tokens reserved for admitted jobs not yet settled.',
              },
              available: {
                type: 'integer',
                description: 'Balance minus holds.',
              },
              lastRefreshAt: {
                type: 'string',
                format: 'datetime',
              },
              nextRefreshAt: {
                type: 'string',
                format: 'datetime',
                description:
                  'Earliest moment a touch will trigger the next refresh.',
              },
              granted: {
                type: 'boolean',
                description: 'Whether the welcome grant has been issued.',
              },
            },
          },
        },
        errors: [
          {
            name: 'AuthRequired',
          },
          {
            name: 'NotFound',
          },
        ],
      },
    },
  },
  DevCocoreExchangeGetPatronage: {
    lexicon: 1,
    id: 'dev.cocore.exchange.getPatronage',
    defs: {
      main: {
        type: 'query',
        description:
          'The patronage period in progress (scores so far, and what each member would be credited if it ended now) and the periods already distributed. Everything here can be re-derived from public records.',
        parameters: {
          type: 'params',
          properties: {
            did: {
              type: 'string',
              format: 'did',
              description: 'Member whose score and projected rebate to report.',
            },
          },
        },
        output: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['treasury', 'treasuryBalance', 'periods'],
            properties: {
              treasury: {
                type: 'string',
                format: 'did',
              },
              treasuryBalance: {
                type: 'integer',
                description: "The treasury's balance now.",
              },
              current: {
                type: 'ref',
                ref: 'lex:dev.cocore.exchange.getPatronage#current',
                description:
                  'Absent when the policy in force distributes no patronage.',
              },
              periods: {
                type: 'array',
                items: {
                  type: 'ref',
                  ref: 'lex:dev.cocore.exchange.getPatronage#pastPeriod',
                },
                description: 'Distributed periods, newest first (at most 24).',
              },
            },
          },
        },
      },
      current: {
        type: 'object',
        required: [
          'start',
          'end',
          'fractionBps',
          'totalScore',
          'projectedPool',
        ],
        properties: {
          start: {
            type: 'string',
            format: 'datetime',
          },
          end: {
            type: 'string',
            format: 'datetime',
          },
          fractionBps: {
            type: 'integer',
            minimum: 0,
          },
          totalScore: {
            type: 'integer',
            minimum: 0,
            description:
              'Tokens spent plus tokens earned by all members this period so far.',
          },
          members: {
            type: 'integer',
            minimum: 0,
          },
          projectedPool: {
            type: 'integer',
            minimum: 0,
            description:
              'floor(treasury now · fractionBps / 10000): the pool if the period ended now.',
          },
          score: {
            type: 'integer',
            minimum: 0,
            description: "The member's patronage so far.",
          },
          projectedRebate: {
            type: 'integer',
            minimum: 0,
            description:
              "The member's share of the projected pool, split as at a period's end.",
          },
        },
      },
      pastPeriod: {
        type: 'object',
        required: ['end', 'distributed', 'recipients'],
        properties: {
          end: {
            type: 'string',
            format: 'datetime',
          },
          distributed: {
            type: 'integer',
            minimum: 0,
          },
          recipients: {
            type: 'integer',
            minimum: 0,
          },
          credited: {
            type: 'integer',
            minimum: 0,
            description: 'What the member was credited.',
          },
        },
      },
    },
  },
  DevCocoreExchangeGetPolicy: {
    lexicon: 1,
    id: 'dev.cocore.exchange.getPolicy',
    defs: {
      main: {
        type: 'query',
        description: 'The exchange policy currently in force.',
        output: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['uri', 'cid', 'policy'],
            properties: {
              uri: {
                type: 'string',
                format: 'at-uri',
              },
              cid: {
                type: 'string',
                format: 'cid',
              },
              policy: {
                type: 'unknown',
                description:
                  'The dev.cocore.compute.exchangePolicy record value.',
              },
            },
          },
        },
        errors: [
          {
            name: 'NotFound',
          },
        ],
      },
    },
  },
  DevCocoreExchangeListHistory: {
    lexicon: 1,
    id: 'dev.cocore.exchange.listHistory',
    defs: {
      main: {
        type: 'query',
        description: 'Ledger movements touching a member, newest first.',
        parameters: {
          type: 'params',
          required: ['did'],
          properties: {
            did: {
              type: 'string',
              format: 'did',
            },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: 100,
              default: 50,
            },
            cursor: {
              type: 'string',
            },
          },
        },
        output: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['movements'],
            properties: {
              movements: {
                type: 'array',
                items: {
                  type: 'ref',
                  ref: 'lex:dev.cocore.exchange.listHistory#movement',
                },
              },
              cursor: {
                type: 'string',
              },
            },
          },
        },
        errors: [
          {
            name: 'AuthRequired',
          },
        ],
      },
      movement: {
        type: 'object',
        description: 'One transfer of tokens in the ledger.',
        required: ['key', 'kind', 'amount', 'at'],
        properties: {
          key: {
            type: 'string',
            description:
              'Idempotency key; the same event always yields the same key.',
          },
          kind: {
            type: 'string',
            knownValues: [
              'grant',
              'refresh',
              'charge',
              'payout',
              'fee',
              'patronage',
            ],
          },
          from: {
            type: 'string',
            format: 'did',
          },
          to: {
            type: 'string',
            format: 'did',
          },
          amount: {
            type: 'integer',
            minimum: 0,
          },
          at: {
            type: 'string',
            format: 'datetime',
          },
          ref: {
            type: 'string',
            description:
              'URI of the record that caused the movement, when there is one.',
          },
          record: {
            type: 'string',
            format: 'at-uri',
            description:
              "The exchange's public record of the movement: the settlement of a receipt, or the tokenGrant, tokenRefresh or tokenPatronage record.",
          },
        },
      },
    },
  },
  DevCocoreExchangeReleaseHold: {
    lexicon: 1,
    id: 'dev.cocore.exchange.releaseHold',
    defs: {
      main: {
        type: 'procedure',
        description:
          "Called by a matchmaker when a job it admitted ends without a receipt (the provider dropped, admission could not be confirmed, the job expired): gives the job's held price ceiling back to the requester at once instead of at the hold's expiry. Releasing a hold that is already released is a no-op; a hold a receipt has already posted against is never released.",
        input: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['job', 'reason'],
            properties: {
              job: {
                type: 'ref',
                ref: 'lex:com.atproto.repo.strongRef',
                description: 'The admitted job whose hold is given back.',
              },
              holdKey: {
                type: 'string',
                description:
                  "The holdKey admitJob answered with; when present it must name this job's hold.",
              },
              reason: {
                type: 'string',
                maxLength: 64,
                description:
                  'Why the job ended without a receipt, as a refusal code, e.g. provider_lost, not_admitted, job_expired.',
              },
            },
          },
        },
        output: {
          encoding: 'application/json',
          schema: {
            type: 'object',
            required: ['released', 'held', 'available'],
            properties: {
              released: {
                type: 'boolean',
                description:
                  'True only if this call changed a pending hold into a released one.',
              },
              held: {
                type: 'integer',
                description:
                  "The requester's total of pending holds afterwards.",
              },
              available: {
                type: 'integer',
                description: "The requester's balance minus holds afterwards.",
              },
            },
          },
        },
        errors: [
          {
            name: 'AuthRequired',
          },
          {
            name: 'InvalidJob',
          },
        ],
      },
    },
  },
} as const satisfies Record<string, LexiconDoc>
export const schemas = Object.values(schemaDict) satisfies LexiconDoc[]
export const lexicons: Lexicons = new Lexicons(schemas)

export function validate<T extends { $type: string }>(
  v: unknown,
  id: string,
  hash: string,
  requiredType: true,
): ValidationResult<T>
export function validate<T extends { $type?: string }>(
  v: unknown,
  id: string,
  hash: string,
  requiredType?: false,
): ValidationResult<T>
export function validate(
  v: unknown,
  id: string,
  hash: string,
  requiredType?: boolean,
): ValidationResult {
  return (requiredType ? is$typed : maybe$typed)(v, id, hash)
    ? lexicons.validate(`${id}#${hash}`, v)
    : {
        success: false,
        error: new ValidationError(
          `Must be an object with "${hash === 'main' ? id : `${id}#${hash}`}" $type property`,
        ),
      }
}

export const ids = {
  ComAtprotoRepoStrongRef: 'com.atproto.repo.strongRef',
  DevCocoreAccountTokenGrant: 'dev.cocore.account.tokenGrant',
  DevCocoreAccountTokenPatronage: 'dev.cocore.account.tokenPatronage',
  DevCocoreAccountTokenRefresh: 'dev.cocore.account.tokenRefresh',
  DevCocoreComputeAttestation: 'dev.cocore.compute.attestation',
  DevCocoreComputeBrokerageKey: 'dev.cocore.compute.brokerageKey',
  DevCocoreComputeDefs: 'dev.cocore.compute.defs',
  DevCocoreComputeExchangePolicy: 'dev.cocore.compute.exchangePolicy',
  DevCocoreComputeJob: 'dev.cocore.compute.job',
  DevCocoreComputeListSettlements: 'dev.cocore.compute.listSettlements',
  DevCocoreComputePaymentAuthorization:
    'dev.cocore.compute.paymentAuthorization',
  DevCocoreComputeProvider: 'dev.cocore.compute.provider',
  DevCocoreComputeReceipt: 'dev.cocore.compute.receipt',
  DevCocoreComputeSettlement: 'dev.cocore.compute.settlement',
  DevCocoreComputeTermsAcceptance: 'dev.cocore.compute.termsAcceptance',
  DevCocoreComputeVerifyReceipt: 'dev.cocore.compute.verifyReceipt',
  DevCocoreExchangeAdmitJob: 'dev.cocore.exchange.admitJob',
  DevCocoreExchangeGetBalance: 'dev.cocore.exchange.getBalance',
  DevCocoreExchangeGetPatronage: 'dev.cocore.exchange.getPatronage',
  DevCocoreExchangeGetPolicy: 'dev.cocore.exchange.getPolicy',
  DevCocoreExchangeListHistory: 'dev.cocore.exchange.listHistory',
  DevCocoreExchangeReleaseHold: 'dev.cocore.exchange.releaseHold',
} as const
