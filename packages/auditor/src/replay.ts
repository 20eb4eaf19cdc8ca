// The audit proper, over records already fetched (and verified): the exchange's published log is
// replayed in record-key order through the ledger machine the exchange itself runs
// (@cocore/protocol ledger/), each settlement re-decided at its place and compared with what was
// published, each grant and refresh checked for amount and cadence, each patronage period
// distributed at its end and compared; then every verified receipt nobody settled although its
// requester can pay is reported. No I/O: `./cocore audit` fetches, `exchange simulate` passes the
// records it was given and published.
import {
  applyLogRecord,
  canonicalJson,
  compareBytes,
  decisionOf,
  judge,
  Ledger,
  LedgerError,
  policyAsPublished,
  loadParts,
  logKey,
  logTime,
  MemoryStore,
  NSID,
  sortLog,
  splitReceipt,
  Timeline,
  toJsonRecord,
  validateRecord,
  verifyRecordSignature,
  type LogRecord,
  type PolicyEntry,
  type PublishedRow,
} from "@cocore/protocol";
import type { Discrepancy, Warning } from "./codes.ts";
import { int, iso, obj, parseAtUri, str, type Value } from "./fields.ts";

export interface AuditRecord {
  uri: string;
  cid: string;
  /** Lex form (bytes as Uint8Array). */
  value: Record<string, unknown>;
}

export interface AuditRecordsInput {
  exchangeDid: string;
  /** Every record fetched: the exchange's own and its members'. */
  records: readonly AuditRecord[];
  /** Audit time (ms): receipts and periods younger than now − graceMs may still be undecided. */
  now: number;
  graceMs: number;
  /**
   * The exchange's own word on a receipt it did not settle (its verifyReceipt method), when it can
   * be asked: a rejection resting on what only the exchange saw (when it first saw the receipt)
   * is then a warning, not a discrepancy.
   */
  statusOf?: (uri: string) => Promise<{ status: string; codes: string[] } | undefined>;
  /** Settlement signatures are checked against this key as well as the policies' keys. */
  exchangePublicKey?: string;
  /** DIDs whose repos could not be fetched: their records are not judged. */
  unavailable?: ReadonlySet<string>;
  /** The balances the exchange itself reports, compared with the re-derived ones (balance-mismatch). */
  reportedBalances?: Readonly<Record<string, number>>;
}

export interface AuditRecordsResult {
  discrepancies: Discrepancy[];
  warnings: Warning[];
  balances: Record<string, number>;
  policy: string;
  signaturesChecked: boolean;
  counts: { receipts: number; settlements: number; grants: number; refreshes: number; patronage: number };
}

/** The audit could not run: there is nothing to audit (no usable policy). */
export class AuditInputError extends Error {
  override readonly name = "AuditInputError";
}

const UNSEEN = 4_000_000_000_000_000;
const LOG = new Set<string>([NSID.settlement, NSID.tokenGrant, NSID.tokenRefresh, NSID.tokenPatronage]);
// Findings that rest on what only the exchange observed (when it first saw the receipt).
// Findings that rest on what only the exchange knows: when it first saw the receipt, and which
// machine its matchmaker dispatched the job to.
// Rejections resting on what is not public: when the exchange first saw a receipt, and where its
// matchmaker dispatched a job (the hold's binding: its machine, and that it was countersigned).
const UNVERIFIABLE = new Set(["completed-in-future", "not-dispatched-provider", "countersignature-missing"]);

function jsonOf(v: Record<string, unknown>, drop: string[] = []): string {
  const j = toJsonRecord(v) as Record<string, unknown>;
  for (const k of drop) delete j[k];
  return canonicalJson(j);
}

export async function auditRecords(input: AuditRecordsInput): Promise<AuditRecordsResult> {
  const { exchangeDid } = input;
  const discrepancies: Discrepancy[] = [];
  const warnings: Warning[] = [];
  const report = (d: Discrepancy) => discrepancies.push(d);
  const unavailable = input.unavailable ?? new Set<string>();

  // --- the exchange's own records ---------------------------------------------------------------
  const store = new MemoryStore();
  const policies: AuditRecord[] = [];
  const log: (LogRecord & { key: string; at: number })[] = [];
  const counts = { receipts: 0, settlements: 0, grants: 0, refreshes: 0, patronage: 0 };
  for (const r of input.records) {
    const at = parseAtUri(r.uri);
    if (!at) continue;
    if (at.repo !== exchangeDid) {
      const v = validateRecord(at.collection, r.value);
      // When the exchange first saw a record is not public: the future-dating bound is not judged here.
      store.putRecord({ uri: r.uri, did: at.repo, collection: at.collection, rkey: at.rkey, cid: r.cid, value: r.value, status: v.ok ? "accepted" : "rejected", reason: v.ok ? null : v.message, firstSeen: UNSEEN, rev: null });
      continue;
    }
    if (at.collection === NSID.exchangePolicy) {
      if (validateRecord(at.collection, r.value).ok && str(r.value, "exchange") === exchangeDid) policies.push(r);
      continue;
    }
    if (!LOG.has(at.collection)) continue;
    const valid = validateRecord(at.collection, r.value);
    if (!valid.ok) {
      report({ code: "record-invalid", subject: r.uri, expected: at.collection, actual: valid.message, message: `${at.collection} record does not match its lexicon: ${valid.message}` });
      continue;
    }
    if (at.collection !== NSID.settlement && str(r.value, "exchange") !== exchangeDid) {
      report({ code: "record-invalid", subject: r.uri, expected: exchangeDid, actual: str(r.value, "exchange") ?? null, message: "the record names another exchange" });
      continue;
    }
    const entry = { uri: r.uri, cid: r.cid, collection: at.collection, rkey: at.rkey, value: r.value };
    const key = logKey(entry);
    const t = logTime(entry);
    if (!key || t === undefined) {
      report({ code: "record-invalid", subject: r.uri, expected: null, actual: null, message: "the record lacks the fields that place it in the ledger" });
      continue;
    }
    log.push({ ...entry, key, at: t });
  }
  // Policies as first seen: a policy flipped to active: false is the same policy (its CID as
  // originally published is the one settlements pin, recovered by flipping it back).
  policies.sort((a, b) => Date.parse(str(a.value, "createdAt") ?? "") - Date.parse(str(b.value, "createdAt") ?? "") || compareBytes(a.uri, b.uri));
  const timeline = new Timeline();
  const policyCids = new Map<string, Set<string>>();
  for (const p of policies) {
    const first = policyAsPublished(p.value, p.cid);
    policyCids.set(p.uri, new Set([p.cid, first.cid]));
    try {
      const row = { uri: p.uri, cid: first.cid, createdAt: Date.parse(str(p.value, "createdAt") ?? ""), value: first.value };
      if (timeline.add(row)) store.putPolicy(row);
    } catch (err) {
      if (!(err instanceof LedgerError)) throw err;
      report({ code: "record-invalid", subject: p.uri, expected: "a usable exchangePolicy", actual: err.message, message: `the policy cannot be read: ${err.message}` });
    }
  }
  if (timeline.size === 0) throw new AuditInputError(`${exchangeDid} publishes no usable ${NSID.exchangePolicy}: not an exchange`);
  const latest = timeline.latest();

  // --- the log, in record-key order ------------------------------------------------------------
  const ordered = sortLog(log);
  const ledger = new Ledger(store, { exchange: exchangeDid, timeline });
  await ledger.watermark(); // starts the machine's meta at the first policy
  const published = new Map<string, (typeof log)[number][]>();
  for (const e of ordered) published.set(e.key, [...(published.get(e.key) ?? []), e]);
  const derivedFrom = (before: number) => ledger.effects.published.slice(before);
  const derived = new Map<string, PublishedRow>();
  const note = (rows: PublishedRow[]) => {
    for (const r of rows) derived.set(r.key, r);
  };

  for (const e of ordered) {
    const place = decisionOf(e.rkey);
    if (!place || place.ms !== e.at) {
      report({ code: "log-order-invalid", subject: e.uri, expected: iso(e.at), actual: place ? iso(place.ms) : e.rkey, message: "the record key does not place the record at its own ledger time, so its place in the exchange's log is unknown" });
    }
    const dup = published.get(e.key)!;
    if (dup.length > 1 && dup[0] !== e) {
      const code = e.collection === NSID.settlement ? "receipt-settled-twice" : e.collection === NSID.tokenGrant ? "grant-duplicate" : e.collection === NSID.tokenRefresh ? "refresh-duplicate" : "patronage-unexpected";
      // Subjects as the README names them: the receipt, the DID, or the record itself.
      const subject = e.collection === NSID.settlement ? (str(obj(e.value, "receipt"), "uri") ?? e.uri) : e.collection === NSID.tokenGrant ? (str(e.value, "recipient") ?? e.uri) : e.uri;
      report({ code, subject, expected: dup[0]!.uri, actual: e.uri, message: `a second ${e.collection} record for ${e.key}` });
      continue;
    }
    // Periods ending by this entry are distributed first, by the machine, as the exchange must have.
    let before = ledger.effects.published.length;
    await ledger.closePeriodsThrough(e.at);
    note(derivedFrom(before));
    const policy = timeline.byUri(str(obj(e.value, "policy"), "uri") ?? "");
    switch (e.collection) {
      case NSID.tokenGrant:
      case NSID.tokenRefresh:
        await checkMint(ledger, e, timeline, report);
        await applyLog(ledger, e);
        break;
      case NSID.tokenPatronage:
        counts.patronage++;
        // Applied when its period was distributed above; compared at the end.
        if (!derived.has(e.key)) await applyLog(ledger, e);
        break;
      case NSID.settlement: {
        counts.settlements++;
        const v = e.value as Value;
        checkSettlementShape(e, v, policy, policyCids, timeline, input.exchangePublicKey, report);
        const receipt = obj(v, "receipt");
        const receiptUri = str(receipt, "uri") ?? "";
        const repo = parseAtUri(receiptUri)?.repo;
        if (str(v, "status") !== "settled" || !repo) break;
        if (unavailable.has(repo)) {
          await applyLog(ledger, e);
          break;
        }
        counts.receipts++;
        before = ledger.effects.published.length;
        const outcome = await ledger.replaySettlement(receiptUri, str(receipt, "cid") ?? "", e.at);
        const made = derivedFrom(before);
        if (outcome.kind === "settled") {
          note(made);
          const mine = made.find((r) => r.key === e.key)!;
          compareSettlement(e, mine, report);
        } else {
          if (outcome.kind === "changed") {
            warnings.push({
              code: "record-changed-after-settlement",
              subject: receiptUri,
              message: outcome.current ? `the receipt was edited after it settled (now ${outcome.current}); its settlement is taken as published` : "the receipt was deleted after it settled; its settlement is taken as published",
            });
          } else if (outcome.kind === "invalid") {
            const codes = outcome.findings.map((f) => f.code as string);
            report({ code: codes.includes("nonce-reused") ? "job-settled-twice" : "receipt-invalid", subject: receiptUri, expected: [], actual: codes, message: `settled by ${e.uri} but ${outcome.findings.map((f) => f.message).join("; ")}` });
          } else {
            report({ code: "settlement-unfunded", subject: e.uri, expected: `a balance of at least ${outcome.debit}`, actual: outcome.balance, message: `the requester held ${outcome.balance} at this point of the log, less than the ${outcome.debit} it was charged` });
          }
          note(made.filter((r) => r.collection !== NSID.settlement));
          await applyLog(ledger, e);
        }
        break;
      }
    }
  }
  // Periods that ended a grace ago must have been distributed.
  let before = ledger.effects.published.length;
  await ledger.closePeriodsThrough(input.now - input.graceMs);
  note(derivedFrom(before));

  // --- what the machine made that the exchange did not publish, and the reverse -----------------
  for (const [key, row] of derived) {
    const mine = published.get(key)?.[0];
    if (row.collection === NSID.tokenGrant || row.collection === NSID.tokenRefresh) {
      if (!mine) {
        const v = row.value as Value;
        report({ code: row.collection === NSID.tokenGrant ? "grant-missing" : "refresh-missing", subject: str(v, "recipient") ?? key, expected: { amount: int(v, "amount"), at: str(v, "createdAt") }, actual: null, message: `the rules ${row.collection === NSID.tokenGrant ? "grant" : "refresh"} ${str(v, "recipient")} ${int(v, "amount")} at ${str(v, "createdAt")}; no such record was published` });
      }
    } else if (row.collection === NSID.tokenPatronage) {
      const v = row.value as Value;
      const expected = { tokensCredited: int(v, "tokensCredited"), patronageScore: int(v, "patronageScore"), totalPatronage: int(v, "totalPatronage"), treasuryBefore: int(v, "treasuryBefore") };
      if (!mine) {
        report({ code: "patronage-missing", subject: str(obj(v, "period"), "start") ?? key, expected: { recipient: str(v, "recipient"), ...expected }, actual: null, message: `no tokenPatronage record for ${str(v, "recipient")} in the period starting ${str(obj(v, "period"), "start")}` });
      } else if (jsonOf(mine.value) !== jsonOf(row.value)) {
        const m = mine.value as Value;
        report({ code: "patronage-mismatch", subject: mine.uri, expected, actual: { tokensCredited: int(m, "tokensCredited"), patronageScore: int(m, "patronageScore"), totalPatronage: int(m, "totalPatronage"), treasuryBefore: int(m, "treasuryBefore") }, message: `patronage for ${str(v, "recipient")} in the period starting ${str(obj(v, "period"), "start")} differs from the rules` });
      }
    }
  }
  for (const [key, list] of published) {
    const e = list[0]!;
    if (e.collection === NSID.tokenPatronage && !derived.has(key)) {
      report({ code: "patronage-unexpected", subject: e.uri, expected: null, actual: int(e.value, "tokensCredited") ?? null, message: `tokenPatronage for ${str(e.value, "recipient")} in the period starting ${str(obj(e.value, "period"), "start")}, which the rules do not credit` });
    }
    if (e.collection === NSID.tokenGrant) counts.grants++;
    if (e.collection === NSID.tokenRefresh) counts.refreshes++;
  }

  // --- receipts nobody settled ------------------------------------------------------------------
  await checkUnsettled(ledger, store, input, unavailable, report, warnings);

  const balances: Record<string, number> = {};
  for (const d of [...new Set([...store.accounts.keys(), latest.ledger.treasury])].sort(compareBytes)) balances[d] = store.accounts.get(d)?.balance ?? 0;
  if (input.reportedBalances) {
    const reported = input.reportedBalances;
    for (const d of [...new Set([...Object.keys(balances), ...Object.keys(reported)])].sort(compareBytes)) {
      const want = balances[d] ?? 0;
      const got = reported[d] ?? 0;
      if (want !== got) report({ code: "balance-mismatch", subject: d, expected: want, actual: got, message: `the exchange reports ${got} for ${d}; public records give ${want}` });
    }
  }
  return { discrepancies, warnings, balances, policy: latest.uri, signaturesChecked: true, counts };
}

async function applyLog(ledger: Ledger, e: LogRecord): Promise<void> {
  await applyLogRecord(ledger, e, { overdraw: true });
}

/** A grant or refresh on its own terms: amount under the policy in force, once, cadence kept. */
async function checkMint(ledger: Ledger, e: LogRecord & { at: number }, timeline: Timeline, report: (d: Discrepancy) => void): Promise<void> {
  const did = str(e.value, "recipient") ?? "";
  const amount = int(e.value, "amount");
  const policy = timeline.at(e.at).ledger;
  const a = await ledger.account(did);
  if (e.collection === NSID.tokenGrant) {
    if (a.grantedAt !== null) {
      report({ code: "grant-duplicate", subject: did, expected: 1, actual: e.uri, message: `a second grant for ${did}; a DID is granted once, ever` });
    } else if (amount !== policy.tokenGrant) {
      report({ code: "grant-amount-mismatch", subject: e.uri, expected: policy.tokenGrant, actual: amount ?? null, message: `grant of ${amount} to ${did}; the policy grants ${policy.tokenGrant}` });
    }
    return;
  }
  const rule = policy.refresh;
  if (!rule || amount !== rule.amountPerDid) {
    report({ code: "refresh-amount-mismatch", subject: e.uri, expected: rule?.amountPerDid ?? null, actual: amount ?? null, message: rule ? `refresh of ${amount} to ${did}; the policy refreshes ${rule.amountPerDid}` : `refresh of ${amount} to ${did} under a policy without refreshes` });
  }
  const last = a.lastRefreshAt ?? a.grantedAt;
  if (rule && (last === null || e.at - last < rule.cadenceMinutes * 60_000)) {
    report({
      code: "refresh-early",
      subject: e.uri,
      expected: last === null ? "a grant first" : iso(last + rule.cadenceMinutes * 60_000),
      actual: iso(e.at),
      message: last === null ? `refresh for ${did} before any grant` : `refresh for ${did} less than ${rule.cadenceMinutes} minutes after the previous one`,
    });
  }
}

/** What a settlement says about itself: balanced amounts, its policy, its signature. */
function checkSettlementShape(
  e: LogRecord,
  v: Value,
  policy: PolicyEntry | undefined,
  policyCids: Map<string, Set<string>>,
  timeline: Timeline,
  extraKey: string | undefined,
  report: (d: Discrepancy) => void,
): void {
  const charged = int(obj(v, "amountCharged"), "amount");
  const payout = int(obj(v, "providerPayout"), "amount");
  const fee = int(obj(v, "exchangeFee"), "amount");
  if (charged === undefined || payout === undefined || fee === undefined || charged !== payout + fee) {
    report({ code: "settlement-unbalanced", subject: e.uri, expected: "amountCharged = providerPayout + exchangeFee", actual: { amountCharged: charged ?? null, providerPayout: payout ?? null, exchangeFee: fee ?? null }, message: "the settlement's amounts do not add up" });
  }
  const ref = obj(v, "policy");
  const policyUri = str(ref, "uri");
  if (!policy) {
    report({ code: "policy-missing", subject: e.uri, expected: "an exchangePolicy record", actual: policyUri ?? null, message: `the settlement names policy ${policyUri ?? "none"}, which the exchange's repo does not hold` });
  } else if (!policyCids.get(policy.uri)?.has(str(ref, "cid") ?? "")) {
    report({ code: "settlement-ref-mismatch", subject: e.uri, expected: policy.cid, actual: str(ref, "cid") ?? null, message: "the settlement names a version of its policy the exchange never published" });
  }
  // Signed with the key of the policy it names, or of a later one (a key rotation).
  const keys = new Set<string>();
  if (extraKey) keys.add(extraKey);
  const from = policy?.createdAt ?? Number.NEGATIVE_INFINITY;
  for (const p of timeline.all()) if (p.createdAt >= from && typeof p.value.settlementPublicKey === "string") keys.add(p.value.settlementPublicKey);
  if (keys.size === 0) return;
  const good = [...keys].some((k) => {
    try {
      return verifyRecordSignature(v, "sig", k);
    } catch {
      return false;
    }
  });
  if (!good) report({ code: "settlement-bad-signature", subject: e.uri, expected: [...keys], actual: v.sig === undefined ? null : "a signature that does not verify", message: "the settlement's sig verifies under none of the exchange's settlement keys" });
}

/** The published settlement against the one the machine made at the same place. */
function compareSettlement(e: LogRecord, mine: PublishedRow, report: (d: Discrepancy) => void): void {
  if (jsonOf(e.value, ["sig"]) === jsonOf(mine.value, ["sig"])) return;
  const a = e.value as Value;
  const b = mine.value as Value;
  const amounts = (v: Value) => ({ amountCharged: int(obj(v, "amountCharged"), "amount") ?? null, providerPayout: int(obj(v, "providerPayout"), "amount") ?? null, exchangeFee: int(obj(v, "exchangeFee"), "amount") ?? null, currency: str(obj(v, "amountCharged"), "currency") ?? null });
  if (jsonOf(amounts(a)) !== jsonOf(amounts(b))) {
    report({ code: "settlement-amount-mismatch", subject: e.uri, expected: amounts(b), actual: amounts(a), message: `the settlement of ${str(obj(a, "receipt"), "uri")} does not carry the amounts the rules give` });
  } else if (str(a, "settledAt") !== str(b, "settledAt")) {
    report({ code: "settlement-time-mismatch", subject: e.uri, expected: str(b, "settledAt") ?? null, actual: str(a, "settledAt") ?? null, message: "the settlement's time is not its place in the log" });
  } else {
    report({ code: "settlement-ref-mismatch", subject: e.uri, expected: toJsonRecord(b), actual: toJsonRecord(a), message: "the settlement names other records (authorization, policy) than the rules do" });
  }
}

/**
 * Verified receipts for this exchange that nobody settled although they are old enough, claim
 * nothing already settled, and their requester's balance now covers them: the exchange is sitting
 * on them (a parked receipt settles at the first credit that covers it, and balances only fall
 * between credits, so one covered now was covered then).
 */
async function checkUnsettled(
  ledger: Ledger,
  store: MemoryStore,
  input: AuditRecordsInput,
  unavailable: ReadonlySet<string>,
  report: (d: Discrepancy) => void,
  warnings: Warning[],
): Promise<void> {
  const timeline = await ledger.policies();
  for (const rec of [...store.records.values()].sort((a, b) => compareBytes(a.uri, b.uri))) {
    if (rec.collection !== NSID.receipt || unavailable.has(rec.did)) continue;
    if ((await store.receipt(rec.uri))?.status === "settled") continue;
    const j = judge(await loadParts(store, rec), input.exchangeDid, timeline);
    if (!j.ok) continue;
    const f = j.facts;
    if (f.completedAt > input.now - input.graceMs || unavailable.has(f.requester)) continue;
    if (await ledger.claimConflict(f)) continue;
    const split = splitReceipt(f, timeline.at(f.completedAt).ledger);
    if (split.debit > (await ledger.account(f.requester)).balance) continue;
    const said = await input.statusOf?.(rec.uri);
    if (said && (said.status === "rejected" && said.codes.length > 0 && said.codes.every((c) => UNVERIFIABLE.has(c)))) {
      warnings.push({ code: "receipt-rejected-unverifiable", subject: rec.uri, message: `the exchange rejected it for ${said.codes.join(", ")}, which rests on when it first saw the receipt` });
      continue;
    }
    report({ code: "receipt-unsettled", subject: rec.uri, expected: "a settlement", actual: said ? said.status : null, message: `a valid receipt for this exchange completed at ${iso(f.completedAt)} has no settlement, and its requester can pay` });
  }
}
