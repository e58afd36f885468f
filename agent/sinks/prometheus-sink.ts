import type { Sample } from "../collectors/sample.ts";
import type { Sink, SinkState } from "./sink.ts";

/**
 * Keeps the latest samples of a profile for the agent's /metrics endpoint. It takes samples, not VES events:
 * the pipeline hands it each collection as it comes. A series not refreshed for `staleMs` (a destroyed VM, a
 * removed collector) is dropped, so /metrics never shows figures that are no longer measured.
 */
export class PrometheusSink implements Sink {
  readonly kind = "prometheus" as const;
  readonly name: string;
  readonly profile: string;
  readonly #latest = new Map<string, { sample: Sample; time: number }>();
  readonly #staleMs: number;
  readonly #now: () => number;
  #updated?: number;
  #closed = false;

  constructor(name: string, profile: string, opts: { staleMs?: number; now?: () => number } = {}) {
    this.name = name;
    this.profile = profile;
    this.#staleMs = opts.staleMs ?? 300_000;
    this.#now = opts.now ?? Date.now;
  }

  /** VES events are not what Prometheus wants; they are ignored here. */
  enqueue(): void {}

  /** Replaces the values of every series in `samples`. */
  observe(samples: readonly Sample[], time: number): void {
    for (const s of samples) this.#latest.set(seriesKey(s), { sample: s, time });
    this.#updated = time;
  }

  /** The current series; stale ones are dropped on the way. */
  samples(): Sample[] {
    const limit = this.#now() - this.#staleMs;
    const out: Sample[] = [];
    for (const [k, v] of this.#latest) {
      if (v.time < limit) this.#latest.delete(k);
      else out.push(v.sample);
    }
    return out;
  }

  status(): SinkState {
    return {
      state: this.#closed ? "Stopped" : "Ready",
      queued: 0,
      queuedBytes: 0,
      delivered: 0,
      dropped: 0,
      retries: 0,
      ...(this.#updated ? { lastDeliveryTime: new Date(this.#updated).toISOString() } : {}),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#latest.clear();
  }
}

function seriesKey(s: Sample): string {
  const src = s.source.kind === "vm" ? s.source.uuid : "host";
  return `${s.metric}|${src}|${JSON.stringify(s.labels ?? {})}`;
}
