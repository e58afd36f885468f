import type { Logger } from "pino";

/** Settings of a durable spool. */
export interface SpoolOptions {
  /** Directory owned by this spool (one per sink). */
  dir: string;
  /** Bytes on disk before the oldest records are dropped. */
  maxBytes: number;
  /** Age (ms) after which records are dropped instead of delivered. */
  maxAgeMs: number;
  /** Size at which a new segment file is started. Defaults to maxBytes / 8, between 64 KiB and 8 MiB. */
  segmentBytes?: number;
  /** Wall clock, ms; injectable for tests. */
  now?: () => number;
  /** Where damage found in the files and write failures are reported (once per segment, once per transition). */
  log?: Logger;
}

/** One queued record. */
export interface SpoolRecord {
  /** When it was appended, ms since the epoch. */
  at: number;
  /** Its sequence number in this spool. */
  seq: number;
  payload: Buffer;
}

/**
 * Why records were dropped: the spool held `maxBytes` (`full`, the oldest go), they were older than `maxAge`
 * (`expired`), their bytes were damaged or gone (`corrupt`), or the disk refused to take them (`disk_full` for
 * ENOSPC and EDQUOT, `write_error` for any other error; the newest are refused).
 */
export type DropReason = "full" | "expired" | "corrupt" | "disk_full" | "write_error";

/**
 * Where corrupt records were found: damaged bytes inside a segment (`checksum`), at the end of the newest
 * segment (`torn`, what a crash in the middle of a write leaves), or sequence numbers with no bytes at all
 * (`missing`: a deleted segment file).
 */
export type LossReason = "checksum" | "torn" | "missing";

/** Counters a spool keeps since it was opened. */
export interface SpoolStats {
  queued: number;
  queuedBytes: number;
  diskBytes: number;
  dropped: Record<DropReason, number>;
  lost: Record<LossReason, { records: number; bytes: number }>;
  /** False from a failed append until one succeeds again; `writeError` says why. */
  writable: boolean;
  writeError?: string;
  /** False while the cursor cannot be saved: delivery goes on, but a restart would send the delivered again. */
  cursorSaved: boolean;
  /** Records taken over from a spool of the previous on-disk format. */
  migrated: number;
}

/** What became of an append: how many records were written, and how many refused (and why). */
export interface AppendResult {
  appended: number;
  refused: number;
  reason?: "disk_full" | "write_error";
  error?: string;
}
