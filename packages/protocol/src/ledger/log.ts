// The exchange's published log read back (README: "The auditor and a rebuild"): each record
// applied as the fact it states, at its place in the log. A rebuild applies its own log this way;
// the auditor does too, after checking each entry against what the machine itself would decide.
import { NSID, toJsonRecord } from "../lexicon/index.ts";
import { grantKey, refreshKey } from "./accounts.ts";
import { intOf, objOf, repoOf, str } from "./facts.ts";
import { nonceKey, type Ledger } from "./machine.ts";
import { patronageKey } from "./patronage.ts";
import { decisionOf, settlementKey } from "./publish.ts";
import { LedgerError, type Movement } from "./types.ts";
import { iso } from "./util.ts";

/** One of the exchange's own records, as read from its repo. */
export interface LogRecord {
  uri: string;
  cid: string;
  collection: string;
  rkey: string;
  /** atproto JSON or lex form: only plain fields are read. */
  value: Record<string, unknown>;
}

export const LOG_COLLECTIONS: ReadonlySet<string> = new Set([NSID.settlement, NSID.tokenGrant, NSID.tokenRefresh, NSID.tokenPatronage]);

/** The ledger key a published record answers to, or undefined when it is not a usable log record. */
export function logKey(r: LogRecord): string | undefined {
  const v = r.value;
  switch (r.collection) {
    case NSID.settlement: {
      const receipt = str(objOf(v, "receipt"), "uri");
      return receipt ? settlementKey(receipt) : undefined;
    }
    case NSID.tokenGrant: {
      const did = str(v, "recipient");
      return did ? grantKey(did) : undefined;
    }
    case NSID.tokenRefresh: {
      const did = str(v, "recipient");
      const at = Date.parse(str(v, "createdAt") ?? "");
      return did && Number.isSafeInteger(at) ? refreshKey(did, at) : undefined;
    }
    case NSID.tokenPatronage: {
      const did = str(v, "recipient");
      const start = Date.parse(str(objOf(v, "period"), "start") ?? "");
      return did && Number.isSafeInteger(start) ? patronageKey(start, did) : undefined;
    }
  }
  return undefined;
}

/** The ledger time a log record states (settledAt, createdAt, the period's end). */
export function logTime(r: LogRecord): number | undefined {
  const t =
    r.collection === NSID.settlement
      ? str(r.value, "settledAt")
      : r.collection === NSID.tokenPatronage
        ? str(objOf(r.value, "period"), "end")
        : str(r.value, "createdAt");
  const ms = Date.parse(t ?? "");
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Log order: by record key (decisionTid), which is the order the exchange decided in. */
export function sortLog<T extends LogRecord>(records: readonly T[]): T[] {
  return [...records].filter((r) => LOG_COLLECTIONS.has(r.collection)).sort((a, b) => (a.rkey < b.rkey ? -1 : a.rkey > b.rkey ? 1 : 0));
}

/**
 * Applies one log record as a fact. Returns false when its key is already applied or the record
 * is unusable. `overdraw` lets a fact take a balance below zero (a rebuild trusts its own log; the
 * auditor reports the overdraft separately and keeps its replay aligned with the exchange's).
 */
export async function applyLogRecord(ledger: Ledger, r: LogRecord, opts: { overdraw: boolean }): Promise<boolean> {
  const key = logKey(r);
  const at = logTime(r);
  if (!key || at === undefined || (await ledger.store.published(key))) return false;
  // Periods that ended before this entry closed before it (a patronage share closes its own).
  if (r.collection === NSID.tokenPatronage) await ledger.closePeriodsThrough(Date.parse(str(objOf(r.value, "period"), "start") ?? ""));
  else await ledger.closePeriodsThrough(at);
  const meta = ledger.state;
  // The log's order is its record keys; keep the machine's decision counter past this one.
  const d = decisionOf(r.rkey);
  if (d && (d.ms > meta.decisionMs || (d.ms === meta.decisionMs && d.seq >= meta.decisionSeq))) {
    meta.decisionMs = d.ms;
    meta.decisionSeq = d.seq + 1;
  }
  if (at > meta.watermark) meta.watermark = at;
  ledger.markMetaDirty();
  const timeline = await ledger.policies();
  const named = timeline.byUri(str(objOf(r.value, "policy"), "uri") ?? "");
  const store = ledger.store;
  switch (r.collection) {
    case NSID.tokenGrant:
    case NSID.tokenRefresh: {
      const did = str(r.value, "recipient")!;
      const amount = intOf(r.value, "amount") ?? 0;
      const a = await ledger.account(did);
      if (r.collection === NSID.tokenGrant) {
        if (a.grantedAt !== null) return false;
        ledger.putAccount({ ...a, grantedAt: at, grantAmount: amount, lastRefreshAt: Math.max(a.lastRefreshAt ?? at, at) });
      } else {
        ledger.putAccount({ ...a, lastRefreshAt: Math.max(a.lastRefreshAt ?? at, at) });
      }
      if (amount > 0 && !(await store.hasMovement(key))) await ledger.move(mint(key, r.collection === NSID.tokenGrant ? "grant" : "refresh", did, amount, at), null, opts.overdraw);
      break;
    }
    case NSID.settlement: {
      const receiptUri = str(objOf(r.value, "receipt"), "uri") ?? "";
      const receiptCid = str(objOf(r.value, "receipt"), "cid") ?? "";
      const provider = repoOf(receiptUri);
      const requester = repoOf(str(objOf(r.value, "requesterAuthorization"), "uri"));
      if (!provider || !requester || str(r.value, "status") !== "settled") return false;
      const charged = intOf(objOf(r.value, "amountCharged"), "amount") ?? 0;
      const payout = intOf(objOf(r.value, "providerPayout"), "amount") ?? 0;
      const fee = intOf(objOf(r.value, "exchangeFee"), "amount") ?? 0;
      const policy = named ?? timeline.at(at);
      const treasury = policy.ledger.treasury;
      const selfLoop = requester === provider;
      if (!selfLoop && payout > 0) await ledger.move({ key: `rcpt:${receiptUri}:payout`, kind: "payout", from: requester, to: provider, amount: payout, at: iso(at) }, receiptUri, opts.overdraw);
      if (fee > 0 && requester !== treasury) await ledger.move({ key: `rcpt:${receiptUri}:fee`, kind: "fee", from: requester, to: treasury, amount: fee, at: iso(at) }, receiptUri, opts.overdraw);
      const kind = selfLoop ? "self-loop" : charged === 0 ? "pro-bono" : "transfer";
      if (kind === "transfer") {
        const period = timeline.period(meta.periodsClosed);
        if (requester !== treasury && charged > 0) store.addScore(period.start, requester, charged);
        if (provider !== treasury && payout > 0) store.addScore(period.start, provider, payout);
      }
      const prior = await store.receipt(receiptUri);
      // Its claims, as far as the records at hand tell (a rebuild meets the receipt later and
      // restores them then; the auditor holds every record already).
      const receiptRec = await store.record(receiptUri);
      const jobUri = prior?.jobUri || (str(objOf(receiptRec?.value, "job"), "uri") ?? "");
      const authRef = objOf(r.value, "requesterAuthorization");
      const auth = await store.record(str(authRef, "uri") ?? "");
      const nonce = str(auth?.value, "nonce");
      if (auth && nonce && !(await store.claim(nonceKey(requester, nonce)))) store.putClaim({ key: nonceKey(requester, nonce), receipt: receiptUri, authUri: auth.uri, jobUri });
      // The job claim and the session's spending go together, once (Ledger.restoreClaims may add them later).
      if (jobUri && !(await store.claim(`job:${jobUri}`))) {
        store.putClaim({ key: `job:${jobUri}`, receipt: receiptUri, authUri: auth?.uri ?? null, jobUri });
        if (auth && str(auth.value, "scope") === "session") store.putBudgetUsed(auth.uri, (await store.budgetUsed(auth.uri)) + charged);
      }
      store.putReceipt({
        uri: receiptUri,
        cid: receiptCid,
        jobUri,
        requester,
        provider,
        status: "settled",
        reason: null,
        waitingFor: null,
        findings: null,
        completedAt: prior?.completedAt ?? null,
        eff: null,
        facts: null,
        settlement: { kind, charged, payout, fee, settledAt: at, policyUri: policy.uri },
      });
      break;
    }
    case NSID.tokenPatronage: {
      const did = str(r.value, "recipient")!;
      const amount = intOf(r.value, "tokensCredited") ?? 0;
      const start = Date.parse(str(objOf(r.value, "period"), "start") ?? "");
      for (let i = meta.periodsClosed; ; i++) {
        const p = timeline.period(i);
        if (p.start > start || !Number.isFinite(p.end)) break;
        if (p.start === start) {
          meta.periodsClosed = Math.max(meta.periodsClosed, i + 1);
          break;
        }
      }
      const treasury = (named ?? timeline.at(start)).ledger.treasury;
      if (amount > 0) await ledger.move({ key, kind: "patronage", from: treasury, to: did, amount, at: iso(at) }, null, opts.overdraw);
      break;
    }
    default:
      throw new LedgerError("invalid-input", `${r.collection} is not a log record`);
  }
  store.publish({ key, collection: r.collection, rkey: r.rkey, value: toJsonRecord(r.value) as Record<string, unknown> });
  return true;
}

function mint(key: string, kind: "grant" | "refresh", did: string, amount: number, at: number): Movement {
  return { key, kind, from: null, to: did, amount, at: iso(at) };
}
