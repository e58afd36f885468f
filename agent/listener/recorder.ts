import { appendFile } from "node:fs/promises";

/** One accepted event, as kept in memory and written to the record file. */
export interface RecordedEvent {
  /** ISO 8601 time the request was received. */
  receivedAt: string;
  /** Request path, e.g. `/eventListener/v7/eventBatch`. */
  path: string;
  /** The event itself: a single event's `event`, or one element of a batch's `eventList`. */
  event: unknown;
}

/** Settings of a Recorder. */
export interface RecorderOptions {
  /** How many events memory keeps; the oldest go first. Defaults to 10 000. */
  maxEvents?: number;
  /** Also append each event as one JSON line to this file. */
  file?: string;
}

/**
 * Keeps accepted events in arrival order: a capped in-memory list and, optionally, a JSON-lines file.
 * Writes are chained so the file keeps the order in which requests were accepted.
 */
export class Recorder {
  readonly #max: number;
  readonly #file: string | undefined;
  #events: RecordedEvent[] = [];
  #dropped = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: RecorderOptions = {}) {
    this.#max = opts.maxEvents ?? 10_000;
    if (!Number.isInteger(this.#max) || this.#max < 0)
      throw new TypeError("maxEvents must be an integer ≥ 0");
    this.#file = opts.file;
  }

  /** The events in memory, oldest first. */
  get events(): readonly RecordedEvent[] {
    return this.#events;
  }

  /** How many events left memory because of the cap since the last clear. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Records the events of one request. Resolves once they are in the file (when there is one) and in memory;
   * rejects when the file cannot be written, leaving memory unchanged.
   */
  async record(events: readonly RecordedEvent[]): Promise<void> {
    if (this.#file !== undefined && events.length > 0) {
      const file = this.#file;
      const lines = events.map((e) => `${JSON.stringify(e)}\n`).join("");
      const write = this.#chain.then(() => appendFile(file, lines));
      this.#chain = write.catch(() => {});
      await write;
    }
    this.#events.push(...events);
    const over = this.#events.length - this.#max;
    if (over > 0) {
      this.#events.splice(0, over);
      this.#dropped += over;
    }
  }

  /** Empties memory (the file is left alone). */
  clear(): void {
    this.#events = [];
    this.#dropped = 0;
  }
}
