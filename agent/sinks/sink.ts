/**
 * Why a sink dropped events: spool full (`full`, the oldest go), older than maxAge (`expired`), refused for
 * good by the collector (`refused_4xx`), damaged or missing on disk (`corrupt`), refused because the disk was
 * full (`disk_full`) or would not write (`write_error`).
 */
export type DropReason = "full" | "expired" | "refused_4xx" | "corrupt" | "disk_full" | "write_error";

/** Whether a sink's spool can take events: `writable` false means new events are being refused. */
export interface SpoolHealth {
  writable: boolean;
  /** False while the spool's cursor cannot be saved (a restart would resend what was delivered since). */
  cursorSaved: boolean;
  error?: string;
  /** Bytes of damaged spool files skipped since start: inside a segment (`checksum`) or at its end (`torn`). */
  skippedBytes: { checksum: number; torn: number };
}

/** What a sink reports about itself (NodeMonitor.status.sinks[]). */
export interface SinkState {
  state: "Pending" | "Ready" | "Retrying" | "Failing" | "Stopped";
  target?: "primary" | "backup";
  queued: number;
  queuedBytes: number;
  delivered: number;
  dropped: number;
  /** `dropped` by reason, for sinks that can drop. */
  droppedByReason?: Record<DropReason, number>;
  /** Sinks with a spool: whether it can write. */
  spool?: SpoolHealth;
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
