/** What a sink reports about itself (NodeMonitor.status.sinks[]). */
export interface SinkState {
  state: "Pending" | "Ready" | "Retrying" | "Failing" | "Stopped";
  target?: "primary" | "backup";
  queued: number;
  queuedBytes: number;
  delivered: number;
  dropped: number;
  retries: number;
  lastDeliveryTime?: string;
  lastErrorTime?: string;
  lastError?: string;
}

/** A destination for one profile's events. `enqueue` never blocks nor throws: delivery happens behind it. */
export interface Sink {
  readonly kind: "ves" | "stdout" | "prometheus";
  readonly name: string;
  enqueue(events: readonly object[]): void;
  status(): SinkState;
  /** Stops delivery; what is queued stays in the spool for the next start. */
  close(): Promise<void>;
}
