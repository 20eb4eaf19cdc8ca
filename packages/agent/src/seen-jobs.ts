// Job uris this machine has been dispatched, so a replayed dispatch is refused as a duplicate.
// An entry is only needed until its job expires: after that runJob refuses the job as expired
// anyway, so entries are dropped then and the set stays as small as the jobs still live.

/** How long to remember a job whose record has no readable expiresAt (runJob refuses those too). */
const FALLBACK_TTL_MS = 10 * 60_000;

export class SeenJobs {
  private readonly expiry = new Map<string, number>();

  /**
   * Records `uri` (pruning expired entries first); false when it is already recorded.
   * `expiresAt` is the job record's expiresAt (any value; unparsable falls back to a fixed TTL).
   */
  add(uri: string, expiresAt: unknown, now: number): boolean {
    this.prune(now);
    if (this.expiry.has(uri)) return false;
    const t = typeof expiresAt === "string" ? Date.parse(expiresAt) : NaN;
    this.expiry.set(uri, Number.isFinite(t) ? t : now + FALLBACK_TTL_MS);
    return true;
  }

  has(uri: string): boolean {
    return this.expiry.has(uri);
  }

  prune(now: number): void {
    for (const [uri, t] of this.expiry) if (t < now) this.expiry.delete(uri);
  }

  get size(): number {
    return this.expiry.size;
  }
}
