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

/** One field of a lexicon object, as /docs/inference lists it. */
export interface LexiconField {
  name: string;
  type: string;
  /** The def a ref (or an array of refs) points at, and its anchor on the page. */
  ref?: string;
  anchor?: string;
  required: boolean;
  nullable?: boolean;
  constraints: string[];
  description?: string;
}

export interface LexiconBody {
  encoding: string;
  description?: string;
  fields?: LexiconField[];
  ref?: string;
  anchor?: string;
}

export interface LexiconDefView {
  name: string;
  /** `id` for main, else `id#name`. */
  ref: string;
  anchor: string;
  /** record, object, query, procedure, token, or a primitive's type. */
  kind: string;
  description?: string;
  recordKey?: string;
  fields?: LexiconField[];
  parameters?: LexiconField[];
  input?: LexiconBody;
  output?: LexiconBody;
  errors?: Array<{ name: string; description?: string }>;
  constraints: string[];
}

export interface LexiconView {
  id: string;
  anchor: string;
  description?: string;
  defs: LexiconDefView[];
}

/** Everything /docs/inference shows, from the code and lexicons that decide it. */
export interface InferenceDocs {
  /** The OpenAI-compatible API's base URL (…/v1), when the console knows it. */
  apiBase: string | null;
  served: string[];
  refused: Array<{ param: string; code: string }>;
  schemaKeywords: { enforced: string[]; unenforced: string[]; annotations: string[]; formats: string[] };
  lexicons: LexiconView[];
}

/** One receipt as the explorer shows it: what it states and the protocol core's verdict on it. */
export interface ExplorerReceipt {
  uri: string;
  provider: string;
  requester?: string;
  job?: string;
  model?: string;
  tokens?: { in: number; out: number };
  price?: { amount: number; currency: string };
  completedAt?: string;
  proBono?: boolean;
  /** Computed here, from the public records, by @cocore/protocol's verifyReceipt. */
  verdict: { ok: boolean; checks: CheckResult[] };
  /** The records the verdict was computed from. */
  records: Record<string, string>;
  missing: string[];
  settlement?: { uri?: string; amountCharged: number; providerPayout: number; exchangeFee: number; settledAt: string };
  /** What the exchange decided (settled, rejected with findings, parked), when it has seen the receipt. */
  exchange?: { status: string; findings: Array<{ code: string; message: string }> };
  /** The receipt could not be gathered (a record missing): why. */
  error?: { code: string; message: string };
}

export type ExplorerResult =
  | { kind: "receipt"; receipt: ExplorerReceipt }
  | { kind: "job"; job: string; receipts: ExplorerReceipt[]; searched: number }
  | { kind: "member"; did: string; receipts: ExplorerReceipt[] };

export interface ExplorerExchange {
  did: string;
  policy: PolicySummary;
  treasury: string;
  treasuryBalance: number;
  current?: PatronageNow;
  periods: Array<{ end: string; distributed: number; recipients: number }>;
}
