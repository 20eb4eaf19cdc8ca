// How many jobs the agent runs at once: up to each model's concurrency (what its engine was loaded
// for, advertised to the matchmaker as capacityByModel); more of a model wait here in arrival
// order. The matchmaker never sends more than it was told, so the wait only happens with one that
// does not know capacityByModel.

export class JobSlots {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  private readonly all = new Set<Promise<unknown>>();

  constructor(private readonly limit: (model: string) => number) {}

  /** Runs `job` once a slot of `model` is free. */
  run<T>(model: string, job: () => Promise<T>): Promise<T> {
    const p = this.acquire(model).then(async () => {
      try {
        return await job();
      } finally {
        this.release(model);
      }
    });
    this.all.add(p);
    void p.then(
      () => this.all.delete(p),
      () => this.all.delete(p),
    );
    return p;
  }

  /** Resolves when every job started so far (running or waiting) has ended. */
  async idle(): Promise<void> {
    while (this.all.size > 0) await Promise.allSettled([...this.all]);
  }

  private acquire(model: string): Promise<void> {
    const n = this.running.get(model) ?? 0;
    if (n < Math.max(1, this.limit(model))) {
      this.running.set(model, n + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const list = this.waiting.get(model) ?? [];
      list.push(resolve);
      this.waiting.set(model, list);
    });
  }

  private release(model: string): void {
    const next = this.waiting.get(model)?.shift();
    // The slot passes straight to the next waiter, so the running count stays.
    if (next) return next();
    const n = (this.running.get(model) ?? 1) - 1;
    if (n > 0) this.running.set(model, n);
    else this.running.delete(model);
  }
}
