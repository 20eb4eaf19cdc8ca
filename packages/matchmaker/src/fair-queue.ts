// The waiting line for one model: one FIFO list per requester, served round-robin, bounded in
// total length. Pure (no clock, no I/O) so that its rules can be checked as properties.
//
// The rule: requesters with waiting jobs form a ring. Each time capacity frees, the requester at
// the cursor gets the slot for its oldest job (its oldest job that fits the freed machine), and the
// cursor moves on to the next requester. A requester arriving with nothing queued joins the ring at
// the end of the current round, so it is served after every requester already waiting has had one
// turn — never after a whole burst. A requester's own jobs therefore keep their order, and the
// oldest job of a requester waits for at most one job of each other requester in the ring.

export class FairQueue<T> {
  private readonly lists = new Map<string, T[]>();
  private readonly owner = new Map<T, string>();
  /** Requesters with at least one waiting item, in service order starting at `cursor`. */
  private ring: string[] = [];
  private cursor = 0;

  constructor(readonly maxLength: number) {
    if (!Number.isInteger(maxLength) || maxLength < 0) throw new RangeError("maxLength must be a non-negative integer");
  }

  get size(): number {
    return this.owner.size;
  }

  /** Requesters with something waiting. */
  get requesters(): number {
    return this.ring.length;
  }

  get full(): boolean {
    return this.size >= this.maxLength;
  }

  has(item: T): boolean {
    return this.owner.has(item);
  }

  /** Appends `item` to its requester's list; false (and nothing changes) when the queue is full or the item is already in it. */
  push(requester: string, item: T): boolean {
    if (this.full || this.owner.has(item)) return false;
    let list = this.lists.get(requester);
    if (!list) {
      list = [];
      this.lists.set(requester, list);
      // End of the current round: just before the cursor, which then still points where it did.
      this.ring.splice(this.cursor, 0, requester);
      this.cursor = (this.cursor + 1) % this.ring.length;
    }
    list.push(item);
    this.owner.set(item, requester);
    return true;
  }

  /**
   * Takes the next item in fair order: from the requester at the cursor onwards, the first
   * requester with an item that `fits`, and that requester's first such item.
   */
  take(fits: (item: T) => boolean = () => true): T | undefined {
    const n = this.ring.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.cursor + i) % n;
      const requester = this.ring[idx]!;
      const list = this.lists.get(requester)!;
      const k = list.findIndex(fits);
      if (k < 0) continue;
      const [item] = list.splice(k, 1) as [T];
      this.owner.delete(item);
      if (list.length === 0) {
        this.lists.delete(requester);
        this.ring.splice(idx, 1);
        // The requester after it has moved into idx.
        this.cursor = this.ring.length === 0 ? 0 : idx % this.ring.length;
      } else {
        this.cursor = (idx + 1) % n;
      }
      return item;
    }
    return undefined;
  }

  /** Takes `item` out wherever it is (it timed out, or its requester went away). */
  remove(item: T): boolean {
    const requester = this.owner.get(item);
    if (requester === undefined) return false;
    const list = this.lists.get(requester)!;
    list.splice(list.indexOf(item), 1);
    this.owner.delete(item);
    if (list.length === 0) {
      this.lists.delete(requester);
      const idx = this.ring.indexOf(requester);
      this.ring.splice(idx, 1);
      if (idx < this.cursor) this.cursor -= 1;
      this.cursor = this.ring.length === 0 ? 0 : this.cursor % this.ring.length;
    }
    return true;
  }

  /**
   * 1-based place of `item` in the order the queue would serve everything now waiting, if every
   * item fitted every freed slot: in round j each requester with more than j items gives one.
   */
  position(item: T): number | undefined {
    const requester = this.owner.get(item);
    if (requester === undefined) return undefined;
    const k = this.lists.get(requester)!.indexOf(item);
    const at = this.ring.indexOf(requester);
    const n = this.ring.length;
    let ahead = k;
    for (let j = 0; j < n; j++) {
      if (j === at) continue;
      const len = this.lists.get(this.ring[j]!)!.length;
      // Requesters before ours in this round's order also give their k-th item before ours.
      const before = (j - this.cursor + n) % n < (at - this.cursor + n) % n;
      ahead += Math.min(len, before ? k + 1 : k);
    }
    return ahead + 1;
  }

  /** Every waiting item in the order `take()` would return them (all fitting, nothing new arriving). */
  order(): T[] {
    const out: T[] = [];
    const n = this.ring.length;
    const longest = Math.max(0, ...[...this.lists.values()].map((l) => l.length));
    for (let round = 0; round < longest; round++) {
      for (let i = 0; i < n; i++) {
        const item = this.lists.get(this.ring[(this.cursor + i) % n]!)![round];
        if (item !== undefined) out.push(item);
      }
    }
    return out;
  }
}
