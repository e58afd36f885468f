/**
 * Picks, among collections every `intervalMs`, the one nearest each multiple of `periodMs` on the wall clock: the
 * read at a measurement window's edge, so a counter read only there gives a rate over exactly the window. The
 * first collection reads (to start the counters); a missed edge is made up by the next collection.
 */
export class EdgeCadence {
  readonly #periodMs: number;
  readonly #halfInterval: number;
  /** The edge the next read is for; undefined before the first read. */
  #nextEdge: number | undefined;

  constructor(periodMs: number, intervalMs: number) {
    this.#periodMs = periodMs;
    this.#halfInterval = intervalMs / 2;
  }

  /** Whether a collection starting at `now` should read: it is the first, or the nearest to the pending edge. */
  due(now: number): boolean {
    // A period no longer than the interval leaves no collection to skip.
    if (this.#nextEdge === undefined || this.#periodMs <= this.#halfInterval * 2) return true;
    return now + this.#halfInterval >= this.#nextEdge;
  }

  /** Records a successful read by the collection that started at `now`: the next read is for the following edge. */
  read(now: number): void {
    this.#nextEdge = (Math.floor((now + this.#halfInterval) / this.#periodMs) + 1) * this.#periodMs;
  }
}
