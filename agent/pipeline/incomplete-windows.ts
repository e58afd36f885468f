import type { Logger } from "pino";
import type { IncompleteReason } from "./windows.ts";

/** Windows a collector left incomplete for one reason, since the profile's pipeline opened. */
export interface IncompleteWindowCount {
  collector: string;
  reason: IncompleteReason;
  count: number;
}

/**
 * One profile's count of measurement windows published incomplete (their values suspect), by collector and
 * reason, and a log line per job when its windows start lacking reads (missing or late) and one when a window is
 * whole again: a transition, never a line per window. A first read is counted but not logged: every start and
 * every new job has one.
 */
export class IncompleteWindows {
  readonly #log: Logger;
  readonly #profile: string;
  readonly #counts = new Map<string, IncompleteWindowCount>();
  /** Job id → windows incomplete in a row (missing or late), while its streak lasts. */
  readonly #streaks = new Map<string, number>();

  constructor(log: Logger, profile: string) {
    this.#log = log;
    this.#profile = profile;
  }

  /**
   * Takes the `incomplete` of a closed window ending at `end`, with the collector of each job the profile
   * runs (`jobs`); jobs no longer run are forgotten without a line.
   */
  observe(
    incomplete: ReadonlyMap<string, IncompleteReason>,
    jobs: ReadonlyMap<string, string>,
    end: number,
  ): void {
    for (const id of this.#streaks.keys()) if (!jobs.has(id)) this.#streaks.delete(id);
    for (const [id, collector] of jobs) {
      const reason = incomplete.get(id);
      if (reason) this.#count(collector, reason);
      if (reason === "missing" || reason === "late") this.#start(id, collector, reason, end);
      else if (reason === undefined) this.#end(id, collector, end);
    }
  }

  /** The counts, for metrics. */
  counts(): IncompleteWindowCount[] {
    return [...this.#counts.values()].map((c) => ({ ...c }));
  }

  #count(collector: string, reason: IncompleteReason): void {
    const key = `${collector}\0${reason}`;
    const c = this.#counts.get(key);
    if (c) c.count++;
    else this.#counts.set(key, { collector, reason, count: 1 });
  }

  #start(job: string, collector: string, reason: IncompleteReason, time: number): void {
    const streak = this.#streaks.get(job);
    this.#streaks.set(job, (streak ?? 0) + 1);
    if (streak === undefined)
      this.#log.warn(
        { profile: this.#profile, job, collector, reason, at: new Date(time).toISOString() },
        "measurement windows incomplete: values marked suspect",
      );
  }

  #end(job: string, collector: string, end: number): void {
    const streak = this.#streaks.get(job);
    if (streak === undefined) return;
    this.#streaks.delete(job);
    this.#log.info(
      { profile: this.#profile, job, collector, incomplete: streak, at: new Date(end).toISOString() },
      "measurement windows complete again",
    );
  }
}
