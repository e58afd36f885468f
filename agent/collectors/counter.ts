/** How a counter moved between two reads. */
export type CounterDelta =
  | { kind: "first" }
  | { kind: "ok"; delta: bigint }
  | { kind: "wrap"; delta: bigint }
  | { kind: "reset" };

/**
 * Tells a counter's normal increase from its first read, a reset (the source restarted: the value fell
 * back towards zero) and a wrap (the value passed the top of its width). A fall from the upper quarter of
 * the width to the lower quarter is a wrap; any other fall is a reset.
 */
export function counterDelta(
  previous: bigint | undefined,
  current: bigint,
  bits: 32 | 64 = 64,
): CounterDelta {
  if (previous === undefined) return { kind: "first" };
  if (current >= previous) return { kind: "ok", delta: current - previous };
  const top = 1n << BigInt(bits);
  const quarter = top >> 2n;
  if (previous >= top - quarter && current < quarter)
    return { kind: "wrap", delta: top - previous + current };
  return { kind: "reset" };
}

/** A rate from a counter, or why there is none; `suspect` marks everything but a plain increase. */
export interface Rate {
  /** Increase per second; absent on the first read and after a reset. */
  perSecond?: number;
  /** Increase since the previous read; absent on the first read and after a reset. */
  delta?: number;
  suspect: boolean;
  /** Why the read is suspect: the counter's first read, a reset, a wrap, or a value no counter can have (below 0). */
  reason?: "first" | "reset" | "wrap" | "invalid";
}

/** Remembers counters between collections, by key, and turns them into rates over the elapsed wall time. */
export class CounterSet {
  #last = new Map<string, { value: bigint; time: number; seen: number }>();
  #generation = 0;

  /**
   * Records `value` for `key` at `time` (ms) and returns the rate since the previous record. A zero or
   * negative elapsed time gives no rate. `bits` is the counter's width (32 for some NIC drivers).
   */
  rate(key: string, value: bigint, time: number, bits: 32 | 64 = 64): Rate {
    // A negative counter (a signed field gone wrong) is no reading: forgotten, so the next good one starts afresh.
    if (value < 0n) {
      this.#last.delete(key);
      return { suspect: true, reason: "invalid" };
    }
    const prev = this.#last.get(key);
    if (!prev) {
      this.#last.set(key, { value, time, seen: this.#generation });
      return { suspect: true, reason: "first" };
    }
    // The entry is updated in place: every counter of every collection passes here, and a new entry per read
    // was garbage for the young generation to collect.
    const previous = prev.value;
    const elapsed = time - prev.time;
    prev.value = value;
    prev.time = time;
    prev.seen = this.#generation;
    const seconds = elapsed / 1000;
    if (value >= previous) {
      if (seconds <= 0) return { suspect: true };
      const delta = Number(value - previous);
      return { delta, perSecond: delta / seconds, suspect: false };
    }
    const d = counterDelta(previous, value, bits);
    if (d.kind !== "wrap") return { suspect: true, reason: "reset" };
    if (seconds <= 0) return { suspect: true };
    const delta = Number(d.delta);
    return { delta, perSecond: delta / seconds, suspect: true, reason: "wrap" };
  }

  /** Forgets keys not recorded since the previous sweep (devices or domains that went away); call once per collection. */
  sweep(): void {
    // forEach rather than for…of: no [key, entry] pair per remembered counter.
    this.#last.forEach((entry, key, map) => {
      if (entry.seen !== this.#generation) map.delete(key);
    });
    this.#generation++;
  }

  /** Number of remembered counters. */
  get size(): number {
    return this.#last.size;
  }
}
