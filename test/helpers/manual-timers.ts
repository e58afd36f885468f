import type { Timers } from "../../kube/timers.ts";

/** Timers driven by the test: time moves only when `advance` is called, running what falls due in order. */
export class ManualTimers implements Timers {
  #now = 0;
  #seq = 0;
  #due = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#due.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#due.delete(handle as number);
  }

  now(): number {
    return this.#now;
  }

  /** Moves time forward by `ms`, firing every timer that falls due (including ones scheduled meanwhile). */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const next = [...this.#due.entries()]
        .filter(([, t]) => t.at <= until)
        .sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!next) break;
      this.#due.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = until;
  }

  /** Timers still scheduled. */
  get pending(): number {
    return this.#due.size;
  }
}
