// At most `max` things at once per key (jobs per requester). A slot is given back exactly once,
// however many times its release is called, so an error path that releases twice cannot let a
// key run more than `max`.

export class ConcurrencyCaps {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`a concurrency cap must be a positive integer (got ${max})`);
  }

  /** A slot for `key`, or null when it already holds `max`. */
  acquire(key: string): (() => void) | null {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return null;
    this.counts.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
    };
  }

  held(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Keys holding at least one slot (memory is bounded by what is running). */
  get keys(): number {
    return this.counts.size;
  }
}
