// What an exchange is started with. Everything has a default fit for the local network except the
// identity (PDS account) it publishes as.
import type { LedgerPolicy } from "@cocore/protocol";

/**
 * The policy parameters the exchange publishes (PROTOCOL.md §3 defaults, in TOK): the numbers the
 * ledger rules read back from the record, plus what the record only states.
 */
export interface PolicyParams extends Pick<LedgerPolicy, "currency" | "feeBps" | "feeMinMinor" | "tokenGrant" | "tokenFloor" | "refresh" | "patronage" | "selfLoopFeeWaived"> {
  /** Defaults to the exchange's own DID. */
  treasuryDid?: string;
  termsUri?: string;
  termsVersion?: string;
  processor?: string;
}

export const DEFAULT_POLICY: PolicyParams = {
  currency: "TOK",
  feeBps: 500,
  feeMinMinor: 0,
  tokenGrant: 1_000_000,
  tokenFloor: 100_000,
  refresh: { amountPerDid: 70_000, cadenceMinutes: 10_080 },
  patronage: { fractionBps: 8_000, cadenceDays: 30 },
  selfLoopFeeWaived: true,
  processor: "closed-loop",
};

export interface ExchangeConfig {
  /** `sqlite:PATH` (default `sqlite:<stateDir>/exchange.db`) or `postgres://…`. */
  db?: string;
  /** The PDS hosting the exchange's account. */
  pdsUrl: string;
  /** PLC directory used to resolve DIDs (commit signatures, service auth). */
  plcUrl: string;
  /** The exchange's account on `pdsUrl`. */
  handle: string;
  password: string;
  /** Holds the P-256 settlement signing key (`exchange-key.json`) and the default SQLite file. */
  stateDir: string;
  /** Firehose sources (PDS or relay URLs); default [pdsUrl]. */
  firehose?: string[];
  /** XRPC port; 0 (default) picks a free one. */
  port?: number;
  host?: string;
  /** DIDs allowed to call admitJob. */
  matchmakers?: string[];
  policy?: Partial<PolicyParams>;
  /** Injected clock for the scheduler, admissions and balance reads (ms). Default Date.now. */
  now?: () => number;
  /** Scheduler period in ms (hold expiry); 0 disables the timer (call tick()). Default 60 s. */
  schedulerIntervalMs?: number;
  /** Outbox publisher poll period in ms. Default 200. */
  publishIntervalMs?: number;
  /**
   * Worker threads for record checks (lexicon validation, P-256 signatures) in bulk ingest;
   * default 0 (inline). `cocore exchange serve` uses one per core.
   */
  verifyWorkers?: number;
  /**
   * How far the ledger's watermark stays behind ingestion (ms, default 1000): receipts that arrive
   * within it are decided in ledger-time order whatever their delivery order.
   */
  graceMs?: number;
  /** How often the watermark follows the clock between commits (ms, default 250; 0: never). */
  advanceIntervalMs?: number;
  /** Sign with a new settlement key from now on (publishes a new policy); see identity.ts. */
  newKey?: boolean;
  /** Log lines (stderr by default); pass () => {} to silence. */
  log?: (line: string) => void;
}
