import type { CollectResult, Sample } from "../collectors/sample.ts";
import { sourceKey } from "../ves/aggregate.ts";

/** The time a source's figures in a window cover (ms since the epoch), and whether they can be trusted. */
export interface Coverage {
  start: number;
  end: number;
  /** A first read, a read missing or late, or a span that does not reach an edge of the window. */
  suspect: boolean;
}

/**
 * Why a job's reads leave a window incomplete (its figures suspect), as docs/ves.md names them: it holds the job's
 * first read; a read is missing (failed or skipped, between two reads or at the window's end, or the job has none
 * in it); or the read at its end was late (not in when the window closed).
 */
export type IncompleteReason = "first" | "missing" | "late";

/** A closed window: its nominal edges, its samples (carried totals first) and, per source key, its coverage. */
export interface ClosedWindow {
  start: number;
  end: number;
  samples: Sample[];
  coverage: Map<string, Coverage>;
  /** The time (ms) a sample's read covers, for weighting rates; undefined for a first read. */
  weightOf: (s: Sample) => number | undefined;
  /** Job id → why its reads leave the window incomplete; a job not in it read the window whole. */
  incomplete: Map<string, IncompleteReason>;
}

/** One job's reads of one source within a window. */
interface JobReads {
  /** Start of the earliest span; undefined when a read had none (the job's first). */
  from: number | undefined;
  to: number;
  intervalMs: number;
  /** A span longer than one and a half intervals: a read in between is missing. */
  gap: boolean;
}

interface OpenWindow {
  end: number;
  samples: Sample[];
  reads: Map<string, Map<string, JobReads>>;
  /** Each job's reads in the window, whatever sources they named (a read may name none). */
  jobs: Map<string, JobReads>;
}

/** Why `r` leaves the window [start, end] incomplete, or undefined when it covers it whole. */
function reasonOf(r: JobReads, start: number, end: number): IncompleteReason | undefined {
  if (r.from === undefined) return "first";
  if (r.gap || r.from > start + r.intervalMs / 2) return "missing";
  if (r.to < end - r.intervalMs / 2) return "late";
  return undefined;
}

const seriesId = (s: Sample) => `${s.metric}|${sourceKey(s.source)}|${JSON.stringify(s.labels ?? {})}`;

/**
 * The distinct source keys of a collection's samples. A collector hands one source object to all of a source's
 * samples, so a key is made once per run of samples, not once per sample.
 */
function sourceKeys(samples: readonly Sample[]): Set<string> {
  const keys = new Set<string>();
  let previous: Sample["source"] | undefined;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    if (s.source === previous) continue;
    previous = s.source;
    keys.add(sourceKey(s.source));
  }
  return keys;
}

/**
 * Sorts collections into measurement windows that tile time. Each read of a job covers the span from the job's
 * previous read to this one; a read goes to the window that holds the middle of its span, so with the collection
 * interval dividing the measurement interval a window gets exactly the reads whose spans fall inside it (the read
 * at the boundary closes the window it ends, not the one it opens). Pure bookkeeping: the caller owns the clock.
 */
export class MeasurementWindows {
  readonly #intervalMs: number;
  readonly #open = new Map<number, OpenWindow>();
  /** Job id → its latest successful read and its latest outcome of any kind. */
  readonly #jobs = new Map<string, { read?: number; outcome: number; intervalMs: number }>();
  /** End of the last closed window: reads for it or earlier are late. */
  #closedUntil: number;
  /** Last accumulated counters, so a window's deltas start where the previous one ended. */
  #carry = new Map<string, Sample>();
  /** Source key → the end of its coverage in the last closed window (the start of its next one). */
  #lastEnd = new Map<string, number>();
  /** The span each sample's read covers. */
  readonly #spans = new WeakMap<Sample, number>();
  readonly #weightOf = (s: Sample) => this.#spans.get(s);
  /** Jobs that have had reads in a closed window: one with none in a later window misses its reads. */
  readonly #seen = new Set<string>();

  /** `start` is when measuring begins: the first window is the one it falls in. */
  constructor(intervalMs: number, start: number) {
    this.#intervalMs = intervalMs;
    this.#closedUntil = Math.floor(start / intervalMs) * intervalMs;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Takes a successful collection of `jobId`; returns false when it came too late for its window (then only its totals count). */
  add(jobId: string, intervalMs: number, result: CollectResult): boolean {
    const job = this.#jobs.get(jobId);
    const from = job?.read;
    this.#jobs.set(jobId, { read: result.time, outcome: result.time, intervalMs });
    const middle = from === undefined ? result.time - intervalMs / 2 : (from + result.time) / 2;
    const end = (Math.floor(middle / this.#intervalMs) + 1) * this.#intervalMs;
    if (end <= this.#closedUntil) {
      this.#takeTotals(result.samples);
      for (const s of result.samples) this.#lastEnd.delete(sourceKey(s.source));
      return false;
    }
    let w = this.#open.get(end);
    if (!w) {
      w = { end, samples: [], reads: new Map(), jobs: new Map() };
      this.#open.set(end, w);
    }
    // Index loops in the per-sample paths: this code runs a few times per cycle, often before V8 optimises it,
    // and unoptimised for…of makes an iterator result per element.
    const { samples } = result;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      w.samples.push(s);
      if (from !== undefined) this.#spans.set(s, result.time - from);
    }
    const gap = from !== undefined && result.time - from > intervalMs * 1.5;
    const extend = (prev: JobReads | undefined): JobReads => ({
      from: prev ? prev.from : from,
      to: result.time,
      intervalMs,
      gap: gap || prev?.gap === true,
    });
    w.jobs.set(jobId, extend(w.jobs.get(jobId)));
    for (const key of sourceKeys(result.samples)) {
      let jobs = w.reads.get(key);
      if (!jobs) {
        jobs = new Map();
        w.reads.set(key, jobs);
      }
      jobs.set(jobId, extend(jobs.get(jobId)));
    }
    return true;
  }

  /** Records that `jobId` tried to collect at `time` and failed: its window waits no longer for it. */
  failed(jobId: string, intervalMs: number, time: number): void {
    const job = this.#jobs.get(jobId);
    this.#jobs.set(jobId, {
      ...(job?.read !== undefined ? { read: job.read } : {}),
      outcome: time,
      intervalMs,
    });
  }

  /** Forgets jobs not in `ids` (removed from the profile), so no window waits for them. */
  keepJobs(ids: ReadonlySet<string>): void {
    for (const id of this.#jobs.keys()) if (!ids.has(id)) this.#jobs.delete(id);
    for (const id of this.#seen) if (!ids.has(id)) this.#seen.delete(id);
  }

  /** The end of the oldest window not yet closed. */
  get next(): number {
    return this.#closedUntil + this.#intervalMs;
  }

  /**
   * True when every job that has read has reported its read at or after `end` (within half its interval). A job
   * that never read (its collector cannot start) holds no window back.
   */
  complete(end: number): boolean {
    for (const job of this.#jobs.values())
      if (job.read !== undefined && job.outcome < end - job.intervalMs / 2) return false;
    return true;
  }

  /** Closes the oldest open window (the one ending at `next`) and returns it. */
  close(): ClosedWindow {
    const end = this.next;
    const start = this.#closedUntil;
    this.#closedUntil = end;
    const w = this.#open.get(end);
    this.#open.delete(end);
    const incomplete = new Map<string, IncompleteReason>();
    for (const [id, r] of w?.jobs ?? []) {
      let reason = reasonOf(r, start, end);
      // Short of the end with an outcome past it: the read there failed or was skipped, it is not on its way.
      if (reason === "late" && (this.#jobs.get(id)?.outcome ?? 0) >= end - r.intervalMs / 2)
        reason = "missing";
      if (reason) incomplete.set(id, reason);
      this.#seen.add(id);
    }
    for (const [id, job] of this.#jobs)
      if (job.read !== undefined && this.#seen.has(id) && !w?.jobs.has(id)) incomplete.set(id, "missing");
    if (!w || w.samples.length === 0) {
      this.#lastEnd.clear();
      return { start, end, samples: [], coverage: new Map(), weightOf: this.#weightOf, incomplete };
    }
    const coverage = new Map<string, Coverage>();
    for (const [key, jobs] of w.reads) {
      let from: number | undefined = Number.POSITIVE_INFINITY;
      let to = Number.NEGATIVE_INFINITY;
      let suspect = !this.#lastEnd.has(key);
      for (const r of jobs.values()) {
        if (r.from === undefined) from = undefined;
        else if (from !== undefined) from = Math.min(from, r.from);
        to = Math.max(to, r.to);
        suspect ||= reasonOf(r, start, end) !== undefined;
      }
      coverage.set(key, { start: this.#lastEnd.get(key) ?? from ?? start, end: to, suspect });
    }
    this.#lastEnd = new Map([...coverage].map(([key, c]) => [key, c.end]));
    const carried = [...this.#carry.values()].filter((s) => coverage.has(sourceKey(s.source)));
    this.#carry = new Map();
    this.#takeTotals(w.samples);
    const samples = carried.length ? carried.concat(w.samples) : w.samples;
    return { start, end, samples, coverage, weightOf: this.#weightOf, incomplete };
  }

  #takeTotals(samples: readonly Sample[]): void {
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      if (s.metric.endsWith(".total")) {
        const { suspect: _suspect, ...clean } = s;
        this.#carry.set(seriesId(s), clean);
      }
    }
  }
}
