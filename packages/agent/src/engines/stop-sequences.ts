// Stop sequences (OpenAI `stop`): generation ends where one of them first appears, and neither it
// nor anything after it is part of the answer. Text that could be the start of a stop sequence is
// held back until the next token tells, so nothing has to be taken back from the stream.

export class StopMatcher {
  #held = "";
  #stopped = false;
  constructor(private readonly stops: readonly string[]) {}

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The text safe to emit after `text` arrived; once a stop matches, the text before it. */
  push(text: string): string {
    if (this.#stopped) return "";
    const all = this.#held + text;
    let cut = -1;
    for (const s of this.stops) {
      const at = all.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.#stopped = true;
      this.#held = "";
      return all.slice(0, cut);
    }
    // Hold back the longest tail that some stop sequence begins with.
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, all.length); n > keep; n--) {
        if (s.startsWith(all.slice(all.length - n))) {
          keep = n;
          break;
        }
      }
    }
    this.#held = all.slice(all.length - keep);
    return all.slice(0, all.length - keep);
  }

  /** Generation ended without a stop: what was held back is part of the answer after all. */
  flush(): string {
    const t = this.#held;
    this.#held = "";
    return this.#stopped ? "" : t;
  }
}
