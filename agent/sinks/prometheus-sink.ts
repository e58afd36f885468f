import type { Sample } from "../collectors/sample.ts";
import type { Sink, SinkState } from "./sink.ts";

/**
 * Keeps the latest samples of a profile for the agent's /metrics endpoint. It takes samples, not VES events:
 * the pipeline hands it each collection as it comes.
 */
export class PrometheusSink implements Sink {
  readonly kind = "prometheus" as const;
  readonly name: string;
  readonly profile: string;
  readonly #latest = new Map<string, Sample>();
  #updated?: number;
  #closed = false;

  constructor(name: string, profile: string) {
    this.name = name;
    this.profile = profile;
  }

  /** VES events are not what Prometheus wants; they are ignored here. */
  enqueue(): void {}

  /** Replaces the values of every series in `samples`. */
  observe(samples: readonly Sample[], time: number): void {
    for (const s of samples) this.#latest.set(seriesKey(s), s);
    this.#updated = time;
  }

  /** Forgets the series of a source that went away (a VM that was destroyed). */
  forget(predicate: (s: Sample) => boolean): void {
    for (const [k, s] of this.#latest) if (predicate(s)) this.#latest.delete(k);
  }

  samples(): Sample[] {
    return [...this.#latest.values()];
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
