// @cocore/exchange: the clearinghouse of PROTOCOL.md §5 — firehose ingestion, the token ledger
// (SQLite or PostgreSQL), receipt verification and settlement, admission holds, published
// settlement/grant/refresh/patronage records, and the XRPC API.
export { startExchange, type AccountView, type Exchange, type ReceiptStatus } from "./exchange.ts";
export { DEFAULT_POLICY, type ExchangeConfig, type PolicyParams } from "./config.ts";
export { openLedgerDb, describeDbUrl, type Dialect, type LedgerDb } from "./db/open.ts";
export { applyBatch, BatchPipeline, commitBatch, machineEnv, prepareBatch, watermarkTarget, type PreparedBatch } from "./engine.ts";
export { createOp, type BatchResult, type EngineContext, type IngestOp, type PolicyInUse } from "./context.ts";
export { buildPolicyRecord } from "./policy.ts";
export { policyFromRecord, settlementKey } from "@cocore/protocol";
export { SqlStore } from "./store/sql-store.ts";
export { loadOrCreateKey, MissingKeyError } from "./identity.ts";
export { CachingVerifier } from "./verifier.ts";
export { CheckPool, defaultCheckWorkers } from "./check-pool.ts";
export { checkItem, type CheckItem } from "./check.ts";
export { consistencyCheck, type ConsistencyReport } from "./consistency.ts";
export { admitJob, advance, releaseHold, tick, touchMember, type AdmitInput, type AdmitOutput, type ReleaseInput, type ReleaseOutput, type TickResult } from "./scheduler.ts";
export { signSettlement } from "./publisher.ts";
export { deterministicTid } from "./tid.ts";
export { openSimulation, simulationPolicy, type Simulation, type SimulationOutput } from "./simulate.ts";
