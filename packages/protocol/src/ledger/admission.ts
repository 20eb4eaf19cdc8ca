// Admission (README: "Admission"; PROTOCOL.md §5.5–5.6): every check on a job and its payment
// authorization that can be known before the work, then the floor. An admitted job is a touch (at
// the watermark), a hold for its priceCeiling and a reservation of its authorization's nonce; a
// refused one changes nothing.
import { recordCid } from "../cid.ts";
import { NSID, validateRecord } from "../lexicon/index.ts";
import { touchRule } from "./accounts.ts";
import { intOf, objOf, repoOf, str } from "./facts.ts";
import type { AdmissionCode, AdmissionResult, FetchedRecord, LedgerInput } from "./inputs.ts";
import type { Ledger } from "./machine.ts";
import { nonceKey } from "./machine.ts";

/** The balance test alone: a job runs only if what is left after its ceiling stays at the floor. */
export function admitsAboveFloor(o: { balance: number; held: number; ceiling: number; floor: number }): boolean {
  // BigInt: balance − held − ceiling can leave the safe range even when each term is inside it.
  return BigInt(o.balance) - BigInt(o.held) - BigInt(o.ceiling) >= BigInt(o.floor);
}

interface Found {
  cid: string;
  value: Record<string, unknown>;
  problem: string | null;
}

/** The record at exactly `ref.cid`: the indexed version when it is that one, else what the PDS gave. */
async function recordAt(ledger: Ledger, ref: { uri: string; cid: string }, nsid: string, fetched?: FetchedRecord): Promise<Found | "missing" | "mismatch"> {
  const row = await ledger.store.record(ref.uri);
  if (row && row.status !== "deleted" && row.cid === ref.cid) return { cid: row.cid, value: row.value, problem: row.collection === nsid ? row.reason : `not a ${nsid} record` };
  if (!fetched) return row && row.status !== "deleted" ? "mismatch" : "missing";
  // A record read from a PDS is trusted only through its recomputed CID.
  if (fetched.cid !== ref.cid || recordCid(fetched.value) !== ref.cid) return "mismatch";
  const v = validateRecord(nsid, fetched.value);
  return { cid: fetched.cid, value: fetched.value, problem: v.ok ? null : v.message };
}

const time = (v: unknown, key: string) => Date.parse(str(v, key) ?? "");

export async function admitJob(ledger: Ledger, input: Extract<LedgerInput, { type: "admit" }>): Promise<AdmissionResult> {
  const requester = repoOf(input.job.uri) ?? "";
  const store = ledger.store;
  const account = await ledger.account(requester);
  const refuse = (code: AdmissionCode, message: string): AdmissionResult => ({ admitted: false, code, message, balance: account.balance, available: account.balance - account.held });

  const prior = await store.hold(input.job.uri);
  // Asking again for a job already held is answered, not held twice; a job sent on to another
  // machine (the first was lost before it answered) is bound to that one from now on.
  if (prior?.state === "pending") {
    const to = input.dispatchedTo;
    if (to && (to.provider !== prior.provider || (to.machineKey ?? null) !== prior.machineKey)) store.putHold({ ...prior, provider: to.provider, machineKey: to.machineKey ?? null });
    return { admitted: true, holdKey: holdKey(input.job.uri), balance: account.balance, available: account.balance - account.held };
  }
  const settled = await store.claim(`job:${input.job.uri}`);
  if (settled || prior?.state === "posted") return refuse("job_already_settled", `job ${input.job.uri} was already settled${settled ? ` by ${settled.receipt}` : ""}`);

  const job = await recordAt(ledger, input.job, NSID.job, input.fetched?.job);
  if (job === "missing") return refuse("job_not_found", `job ${input.job.uri} (cid ${input.job.cid}) is not indexed and could not be read`);
  if (job === "mismatch") return refuse("job_mismatch", `job ${input.job.uri} is not at cid ${input.job.cid}`);
  if (job.problem) return refuse("job_invalid", `job ${input.job.uri} failed validation: ${job.problem}`);
  const timeline = await ledger.policies();
  const policy = timeline.latest();
  const ceiling = objOf(job.value, "priceCeiling");
  const amount = intOf(ceiling, "amount")!;
  const currency = str(ceiling, "currency")!;
  const jobExpires = time(job.value, "expiresAt");
  if (currency !== policy.ledger.currency) return refuse("job_invalid", `job ${input.job.uri} is priced in ${currency}, not ${policy.ledger.currency}`);
  if (!(jobExpires > input.at)) return refuse("job_expired", `job ${input.job.uri} expired at ${str(job.value, "expiresAt")}`);
  const accepted = job.value.acceptedExchanges;
  if (Array.isArray(accepted) && !accepted.includes(ledger.env.exchange)) return refuse("exchange_not_accepted", `this exchange ${ledger.env.exchange} is not in the job's acceptedExchanges`);

  const authRef = objOf(job.value, "paymentAuthorization") as { uri: string; cid: string };
  if (repoOf(authRef.uri) !== requester) return refuse("authorization_invalid", `the job's paymentAuthorization ${authRef.uri} is not in ${requester}'s repo`);
  const auth = await recordAt(ledger, authRef, NSID.paymentAuthorization, input.fetched?.auth);
  if (auth === "missing") return refuse("authorization_not_found", `payment authorization ${authRef.uri} (cid ${authRef.cid}) is not indexed and could not be read`);
  if (auth === "mismatch") return refuse("authorization_mismatch", `payment authorization ${authRef.uri} is not at cid ${authRef.cid}`);
  if (auth.problem) return refuse("authorization_invalid", `payment authorization ${authRef.uri} failed validation: ${auth.problem}`);
  if (str(auth.value, "exchange") !== ledger.env.exchange) return refuse("authorization_other_exchange", `the authorization names exchange ${str(auth.value, "exchange")}, not ${ledger.env.exchange}`);
  const authCeiling = objOf(auth.value, "ceiling");
  if (str(authCeiling, "currency") !== currency || intOf(authCeiling, "amount")! < amount) {
    return refuse("authorization_ceiling_too_low", `the authorization's ceiling ${intOf(authCeiling, "amount")} ${str(authCeiling, "currency")} does not cover the job's priceCeiling ${amount} ${currency}`);
  }
  if (time(auth.value, "expiresAt") < jobExpires) return refuse("authorization_expires_first", `the authorization expires at ${str(auth.value, "expiresAt")}, before the job (${str(job.value, "expiresAt")})`);

  const scope = str(auth.value, "scope");
  const nonce = str(auth.value, "nonce")!;
  const key = nonceKey(requester, nonce);
  const claim = await store.claim(key);
  if (claim && (claim.authUri !== authRef.uri || (scope !== "session" && claim.jobUri !== input.job.uri))) {
    return refuse("authorization_nonce_used", `the authorization's nonce was already used by ${claim.jobUri}`);
  }
  const reserved = await store.reservation(key);
  if (reserved && reserved.job !== input.job.uri && (scope !== "session" || reserved.authUri !== authRef.uri)) {
    return refuse("authorization_nonce_reserved", `the authorization's nonce is reserved by the admitted job ${reserved.job}`);
  }
  if (scope === "session") {
    const budget = objOf(auth.value, "sessionBudget");
    if (budget) {
      const limit = str(budget, "currency") === currency ? (intOf(budget, "amount") ?? 0) : 0;
      const open = (await store.pendingHoldsOf(authRef.uri)).reduce((t, h) => t + h.amount, 0);
      const used = await store.budgetUsed(authRef.uri);
      if (used + open + amount > limit) {
        return refuse("session_budget_exceeded", `settled ${used} + admitted ${open} + this ceiling ${amount} exceed the session budget ${limit}`);
      }
    }
  }

  // The admission's touch counts toward the balance it is judged on, and happens only if admitted.
  const at = ledger.state.watermark;
  const { mint } = touchRule(account, at, timeline.at(at).ledger);
  const balance = account.balance + (mint?.amount ?? 0);
  if (!admitsAboveFloor({ balance, held: account.held, ceiling: amount, floor: policy.ledger.tokenFloor })) {
    const left = BigInt(balance) - BigInt(account.held) - BigInt(amount);
    return { ...refuse("below_floor", `balance ${balance} − held ${account.held} − ceiling ${amount} = ${left} is below the floor ${policy.ledger.tokenFloor}`), balance, available: balance - account.held };
  }
  await ledger.touch(requester, at);
  const after = await ledger.account(requester);
  ledger.putAccount({ ...after, held: after.held + amount });
  store.putHold({
    job: input.job.uri,
    requester,
    amount,
    expiresAt: jobExpires,
    state: "pending",
    authUri: authRef.uri,
    nonceKey: key,
    provider: input.dispatchedTo?.provider ?? null,
    machineKey: input.dispatchedTo?.machineKey ?? null,
  });
  return { admitted: true, holdKey: holdKey(input.job.uri), balance: after.balance, available: after.balance - after.held - amount };
}

export function holdKey(jobUri: string): string {
  return `hold:${jobUri}`;
}
