// The console API's answers, shared by the server (src/routes) and the browser.
import type { LedgerPolicy } from "@cocore/protocol";

export interface SessionInfo {
  signedIn: boolean;
  did?: string;
  handle?: string;
  /** Set when the exchange's current terms have not been accepted by this member. */
  terms?: TermsInfo;
}

export interface TermsInfo {
  needed: boolean;
  /** Absent when the exchange states no terms. */
  termsVersion?: string;
  termsUri?: string;
  exchange?: string;
  policy?: string;
  acceptedVersion?: string;
}

/** The exchange's policy in the numbers its ledger uses (policyFromRecord), for people to read. */
export type PolicySummary = Omit<LedgerPolicy, "createdAt" | "selfLoopMinMinor"> & {
  uri: string;
  termsVersion?: string;
  termsUri?: string;
};

export interface PatronageNow {
  start: string;
  end: string;
  fractionBps: number;
  totalScore: number;
  members?: number;
  projectedPool: number;
  score?: number;
  projectedRebate?: number;
}

export interface HistoryRow {
  kind: "job" | "grant" | "refresh" | "patronage";
  at: string;
  /** Job rows: what the member paid (fee included), was paid, and the fee within what it paid. */
  spent?: number;
  earned?: number;
  fee?: number;
  /** Grant, refresh and patronage rows. */
  amount?: number;
  receipt?: string;
  /** The exchange's public record of it (settlement, tokenGrant, tokenRefresh, tokenPatronage). */
  record?: string;
}

export interface HomeData {
  did: string;
  balance: number;
  held: number;
  available: number;
  lastRefreshAt?: string;
  nextRefreshAt?: string;
  policy: PolicySummary;
  patronage?: PatronageNow;
  treasuryBalance: number;
  /** Balance after each movement, oldest first (the history shown, from the exchange). */
  series: Array<{ at: string; balance: number }>;
  rows: HistoryRow[];
}

export interface ModelInfo {
  id: string;
  providers: number;
  inputPricePerMTok?: number;
  outputPricePerMTok?: number;
  currency?: string;
}

export interface CheckResult {
  label: string;
  ok: boolean;
  findings: Array<{ code: string; message: string }>;
}

/** One line of POST /api/chat's NDJSON stream. */
export type ChatEvent =
  | { type: "submitted"; job: string; provider: string }
  | { type: "queued"; position: number; waitMs: number }
  | { type: "keepalive" }
  | { type: "dispatched"; provider: string }
  | { type: "chunk"; text: string }
  | { type: "done"; job: string; provider: string; tokens: { in: number; out: number }; price: { amount: number; currency: string }; finishReason: string; receipt: string }
  | { type: "verified"; ok: boolean; checks: CheckResult[]; receipt: string; attestation: string }
  | { type: "settlement"; uri: string; amountCharged: number; providerPayout: number; exchangeFee: number; settledAt: string }
  | { type: "error"; code: string; message: string; job?: string };

export interface JobRow {
  uri: string;
  model: string;
  createdAt: string;
  expiresAt: string;
  status: "running" | "settling" | "settled" | "rejected" | "refused" | "cancelled" | "expired";
  /** Why it was refused or rejected (the matchmaker's code, or the exchange's finding codes). */
  code?: string;
  reason?: string;
  provider?: string;
  tokens?: { in: number; out: number };
  price?: number;
  receipt?: string;
  settlement?: string;
}

export interface MachineFault {
  kind: "engine" | "matchmaker" | "attestation";
  code: string;
  message: string;
  at?: string;
  models?: string[];
  /** What the owner can do about it. */
  remedy: string;
}

export interface Machine {
  rkey: string;
  uri: string;
  label: string;
  state: "provisioning" | "serving" | "offline" | "fault" | "paused";
  faults: MachineFault[];
  version?: string;
  supportedModels: string[];
  desiredModels?: string[];
  active: boolean;
  proBono?: { mode: string; dids?: string[] };
  toolCalls?: boolean;
  toolCallsDisabled: boolean;
  /** Live at the matchmaker right now. */
  live: boolean;
  earned: number;
  jobs: number;
  paired?: { id: string; label: string; createdAt: string };
}
