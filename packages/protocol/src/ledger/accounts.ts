// Grants and refreshes (README: "Grants and refreshes"; PROTOCOL.md §5.1, §5.3, §6): the pure rule
// of one touch, given the account row as it stands.
import { MS_PER_MINUTE, type LedgerPolicy } from "./policy.ts";
import type { AccountRow } from "./store.ts";
import type { Movement } from "./types.ts";
import { iso } from "./util.ts";

export function grantKey(did: string): string {
  return `grant:${did}`;
}

export function refreshKey(did: string, atMs: number): string {
  return `refresh:${did}:${iso(atMs)}`;
}

export function newAccount(did: string): AccountRow {
  return { did, balance: 0, held: 0, grantedAt: null, grantAmount: null, lastRefreshAt: null };
}

/**
 * A touch of `did` at `atMs` under `policy`: the first touch ever grants and starts the refresh
 * clock; a later one refreshes once when a full cadence has passed since the last refresh (no
 * catch-up). Returns the account's new clock fields and the mint, if any (a zero grant starts the
 * clock but mints nothing). Balances are not changed here: the mint is applied as a movement.
 */
export function touchRule(prior: AccountRow, atMs: number, policy: LedgerPolicy): { next: AccountRow; mint: Movement | null } {
  const at = iso(atMs);
  if (prior.grantedAt === null) {
    const next = { ...prior, grantedAt: atMs, grantAmount: policy.tokenGrant, lastRefreshAt: atMs };
    const mint: Movement | null = policy.tokenGrant > 0 ? { key: grantKey(prior.did), kind: "grant", from: null, to: prior.did, amount: policy.tokenGrant, at } : null;
    return { next, mint };
  }
  const r = policy.refresh;
  const last = prior.lastRefreshAt ?? prior.grantedAt;
  if (!r || atMs - last < r.cadenceMinutes * MS_PER_MINUTE) return { next: prior, mint: null };
  const next = { ...prior, lastRefreshAt: atMs };
  const mint: Movement | null = r.amountPerDid > 0 ? { key: refreshKey(prior.did, atMs), kind: "refresh", from: null, to: prior.did, amount: r.amountPerDid, at } : null;
  return { next, mint };
}
