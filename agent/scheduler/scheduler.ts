import type { Logger } from "pino";
import { backoffDelay } from "../../kube/backoff.ts";
import { nextBoundary, type Timers } from "../../kube/timers.ts";
import type { Collector, CollectorEnv } from "../collectors/collector.ts";
import type { CollectorRegistry } from "../collectors/registry.ts";
import type { CollectResult } from "../collectors/sample.ts";
import type { JobSpec } from "./job.ts";
import { PartialErrors } from "./partial-errors.ts";
import { plan } from "./plan.ts";

/** A job's state, as NodeMonitor.status reports it. */
export interface JobState {
  id: string;
  collector: string;
  intervalMs: number;
  state: "Pending" | "Running" | "Failed" | "Stopped";
  lastSuccessTime?: number;
  lastErrorTime?: number;
  lastError?: string;
  /** Cycles skipped because the previous one was still running. */
  skipped: number;
  /** Collections started since the job started. */
  collections: number;
  /**
   * Ticks of the job's schedule since its first on which no collection started: `skipped` ones, and ticks lost
   * because the agent fired its timer more than an interval late (a blocked event loop).
   */
  missed: number;
  /** The schedule's boundary (ms since the epoch) of the job's first and latest tick. */
  firstTick?: number;
  lastTick?: number;
  /** Duration of the last collection, ms. */
  lastDurationMs?: number;
  /** Distinct partial errors (`CollectResult.errors`) of the last successful collection. */
  partialErrors: number;
  /** Partial errors reported since the job started, each error of each collection. */
  partialErrorsTotal: number;
}

/** One finished collection, delivered to listeners: a result, or the error that prevented one. */
export type JobOutcome =
  | { job: JobSpec; ok: true; result: CollectResult }
  | { job: JobSpec; ok: false; error: string; time: number };

/** How an apply went. */
export interface ApplyOutcome {
  started: string[];
  stopped: string[];
  kept: string[];
  /** Jobs whose collector could not be created, with why (they are retried, unless refused). */
  failed: { id: string; error: string }[];
}

interface Running {
  job: JobSpec;
  state: JobState;
  collector?: Collector;
  timer?: unknown;
  retryTimer?: unknown;
  retries: number;
  /** Consecutive failed starts or collections; the log has a line for the first and for the recovery. */
  failures: number;
  partial: PartialErrors;
  busy?: Promise<void>;
  stopped: boolean;
}

/** Settings of a scheduler. */
export interface SchedulerOptions {
  registry: CollectorRegistry;
  env: CollectorEnv;
  timers: Timers;
  /** Backoff between attempts to create a collector that failed to start. Defaults to 1 s doubling to 5 min. */
  retry?: { initial: number; max: number };
  log?: Logger;
}

/**
 * Runs jobs on their intervals. Ticks are aligned to multiples of the interval on the wall clock; a tick
 * that finds the previous collection still running is skipped and counted, never queued. Applying a new job
 * set starts new jobs before stopping old ones and leaves unchanged jobs untouched; a stop awaits the
 * collector's close. A collector that fails to start is Failed and retried with backoff.
 */
export class Scheduler {
  readonly #opts: SchedulerOptions;
  readonly #jobs = new Map<string, Running>();
  readonly #listeners = new Set<(o: JobOutcome) => void>();

  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
  }

  /** Subscribes to every job's outcomes. */
  onOutcome(listener: (o: JobOutcome) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The jobs and their states, by id. */
  states(): JobState[] {
    return [...this.#jobs.values()].map((r) => ({ ...r.state }));
  }

  /** Ids of the jobs currently scheduled. */
  ids(): string[] {
    return [...this.#jobs.keys()];
  }

  /**
   * Makes `desired` the running set. With `atomic`, nothing changes unless every new job starts: the ones
   * that did start are stopped again and the outcome lists the failures.
   */
  async apply(desired: ReadonlyMap<string, JobSpec>, opts: { atomic?: boolean } = {}): Promise<ApplyOutcome> {
    const p = plan(this.#jobs, desired);
    const started: Running[] = [];
    const failed: { id: string; error: string }[] = [];
    await Promise.all(
      p.start.map(async (job) => {
        const r: Running = {
          job,
          state: {
            id: job.id,
            collector: job.collector,
            intervalMs: job.intervalMs,
            state: "Pending",
            skipped: 0,
            collections: 0,
            missed: 0,
            partialErrors: 0,
            partialErrorsTotal: 0,
          },
          retries: 0,
          failures: 0,
          partial: new PartialErrors(),
          stopped: false,
        };
        const error = await this.#create(r);
        if (error) failed.push({ id: job.id, error });
        started.push(r);
      }),
    );
    if (opts.atomic && failed.length) {
      await Promise.all(started.map((r) => this.#stop(r)));
      return { started: [], stopped: [], kept: [...this.#jobs.keys()], failed };
    }
    for (const r of started) {
      this.#jobs.set(r.job.id, r);
      if (r.collector) this.#schedule(r);
      else this.#retry(r);
    }
    await Promise.all(
      p.stop.map(async (id) => {
        const r = this.#jobs.get(id)!;
        this.#jobs.delete(id);
        await this.#stop(r);
      }),
    );
    return { started: p.start.map((j) => j.id), stopped: p.stop, kept: p.keep, failed };
  }

  /** Stops every job and awaits their collectors' shutdown. */
  async close(): Promise<void> {
    const all = [...this.#jobs.values()];
    this.#jobs.clear();
    await Promise.all(all.map((r) => this.#stop(r)));
  }

  async #create(r: Running): Promise<string | undefined> {
    const factory = this.#opts.registry.get(r.job.collector);
    if (!factory) return `no collector named "${r.job.collector}"`;
    try {
      r.collector = await factory.create(r.job.spec, this.#opts.env);
      r.state.state = "Running";
      delete r.state.lastError;
      this.#logTransition(r);
      return undefined;
    } catch (err) {
      const error = (err as Error).message;
      r.state = { ...r.state, state: "Failed", lastError: error, lastErrorTime: this.#opts.env.now() };
      this.#logTransition(r, error);
      this.#emit({ job: r.job, ok: false, error, time: this.#opts.env.now() });
      return error;
    }
  }

  #retry(r: Running): void {
    const delay = backoffDelay(r.retries++, this.#opts.retry ?? { initial: 1000, max: 300_000 });
    r.retryTimer = this.#opts.timers.setTimeout(async () => {
      if (r.stopped) return;
      const error = await this.#create(r);
      if (r.stopped) {
        await r.collector?.close();
        return;
      }
      if (error) this.#retry(r);
      else this.#schedule(r);
    }, delay);
  }

  #schedule(r: Running): void {
    if (r.stopped) return;
    const now = this.#opts.timers.now();
    // From the last boundary ticked, not only from now: a timer that fires a hair early (the wall clock and the
    // timer clock drift apart) must not tick the same boundary twice.
    const next = nextBoundary(Math.max(now, r.state.lastTick ?? now), r.job.intervalMs);
    r.timer = this.#opts.timers.setTimeout(() => {
      this.#tick(r, next);
      this.#schedule(r);
    }, next - now);
  }

  #tick(r: Running, boundary: number): void {
    if (r.stopped || !r.collector) return;
    const s = r.state;
    if (s.lastTick !== undefined)
      s.missed += Math.max(0, Math.round((boundary - s.lastTick) / r.job.intervalMs) - 1);
    s.firstTick ??= boundary;
    s.lastTick = boundary;
    if (r.busy) {
      s.skipped++;
      s.missed++;
      return;
    }
    s.collections++;
    const collector = r.collector;
    const started = this.#opts.timers.now();
    r.busy = collector
      .collect()
      .then(
        (result) => {
          r.state = {
            ...r.state,
            state: "Running",
            lastSuccessTime: result.time,
            lastDurationMs: this.#opts.timers.now() - started,
          };
          this.#logTransition(r);
          this.#observePartial(r, result);
          this.#emit({ job: r.job, ok: true, result });
        },
        (err: Error) => {
          const time = this.#opts.env.now();
          r.state = {
            ...r.state,
            state: "Failed",
            lastError: err.message,
            lastErrorTime: time,
            lastDurationMs: this.#opts.timers.now() - started,
          };
          this.#logTransition(r, err.message);
          this.#emit({ job: r.job, ok: false, error: err.message, time });
        },
      )
      .finally(() => {
        r.busy = undefined;
      });
  }

  /**
   * One log line when a job starts failing (to start or to collect), with the error, and one when it works
   * again; the failures in between are counted, not logged, so a collector failing every tick cannot flood.
   */
  #logTransition(r: Running, error?: string): void {
    const fields = { job: r.job.id, collector: r.job.collector };
    if (error !== undefined) {
      if (r.failures++ === 0) this.#opts.log?.warn({ ...fields, err: error }, "collector failing");
    } else if (r.failures > 0) {
      this.#opts.log?.info({ ...fields, failures: r.failures }, "collector recovered");
      r.failures = 0;
    }
  }

  /**
   * A successful collection's partial errors: one warn line when a distinct error appears, one info line when it
   * clears, counted in the job's state. The newest error becomes the job's lastError; the job stays Running.
   */
  #observePartial(r: Running, result: CollectResult): void {
    const { appeared, cleared } = r.partial.observe(result.errors);
    const fields = { job: r.job.id, collector: r.job.collector };
    for (const err of appeared) this.#opts.log?.warn({ ...fields, err }, "collector partial error");
    for (const err of cleared) this.#opts.log?.info({ ...fields, err }, "collector partial error cleared");
    r.state.partialErrors = r.partial.current;
    r.state.partialErrorsTotal = r.partial.total;
    if (appeared.length) {
      r.state.lastError = appeared[appeared.length - 1]!;
      r.state.lastErrorTime = result.time;
    }
  }

  async #stop(r: Running): Promise<void> {
    r.stopped = true;
    this.#opts.timers.clearTimeout(r.timer);
    this.#opts.timers.clearTimeout(r.retryTimer);
    await r.busy;
    await r.collector?.close();
    r.state.state = "Stopped";
  }

  #emit(o: JobOutcome): void {
    for (const l of this.#listeners) {
      try {
        l(o);
      } catch (err) {
        this.#opts.log?.error({ job: o.job.id, err: (err as Error).message }, "job listener failed");
      }
    }
  }
}
