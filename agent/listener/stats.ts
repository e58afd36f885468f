/** Counts of what the VES routes answered, as the control API shows them. */
export interface StatsSnapshot {
  /** Answers per status code, e.g. `{"202": 10, "429": 2}`. */
  responses: Record<string, number>;
  /** Requests whose socket was destroyed without an answer. */
  dropped: number;
  /** Events accepted (a batch counts each of its events). */
  accepted: number;
}

/** Running counters of one listener. */
export class Stats {
  #responses = new Map<number, number>();
  #dropped = 0;
  #accepted = 0;

  /** Counts one answer. */
  response(status: number): void {
    this.#responses.set(status, (this.#responses.get(status) ?? 0) + 1);
  }

  /** Counts one dropped connection. */
  drop(): void {
    this.#dropped++;
  }

  /** Counts accepted events. */
  accept(events: number): void {
    this.#accepted += events;
  }

  snapshot(): StatsSnapshot {
    const responses: Record<string, number> = {};
    for (const [status, n] of [...this.#responses].sort(([a], [b]) => a - b)) responses[String(status)] = n;
    return { responses, dropped: this.#dropped, accepted: this.#accepted };
  }

  reset(): void {
    this.#responses.clear();
    this.#dropped = 0;
    this.#accepted = 0;
  }
}
