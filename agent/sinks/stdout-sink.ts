import type { Writable } from "node:stream";
import type { Sink, SinkState } from "./sink.ts";

/**
 * Writes each event as one JSON line (or indented, with `pretty`). When the stream cannot keep up, lines
 * beyond `maxPending` are dropped and counted rather than buffered without bound.
 */
export class StdoutSink implements Sink {
  readonly kind = "stdout" as const;
  readonly name: string;
  readonly #out: Writable;
  readonly #pretty: boolean;
  readonly #maxPending: number;
  #delivered = 0;
  #dropped = 0;
  #last?: number;
  #closed = false;

  constructor(name: string, opts: { pretty?: boolean; out?: Writable; maxPending?: number } = {}) {
    this.name = name;
    this.#out = opts.out ?? process.stdout;
    this.#pretty = opts.pretty ?? false;
    this.#maxPending = opts.maxPending ?? 16 * 1024 * 1024;
  }

  enqueue(events: readonly object[]): void {
    if (this.#closed) return;
    for (const e of events) {
      if (this.#out.writableLength > this.#maxPending) {
        this.#dropped++;
        continue;
      }
      this.#out.write(`${JSON.stringify(e, null, this.#pretty ? 2 : undefined)}\n`);
      this.#delivered++;
      this.#last = Date.now();
    }
  }

  status(): SinkState {
    return {
      state: this.#closed ? "Stopped" : "Ready",
      queued: 0,
      queuedBytes: this.#out.writableLength,
      delivered: this.#delivered,
      dropped: this.#dropped,
      retries: 0,
      ...(this.#last ? { lastDeliveryTime: new Date(this.#last).toISOString() } : {}),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
