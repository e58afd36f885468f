import { HOST } from "../collectors/sample.ts";
import { type AlarmTable, type AlarmUpdate, alarmKey } from "./alarm.ts";

/** alarmCondition of a failing collector. */
export const COLLECTOR_FAILED = "CollectorFailed";

/** Longest specificProblem kept from an error message; collector errors can quote whole files. */
export const MAX_PROBLEM_LENGTH = 1024;

/** Consecutive failures that raise CollectorFailed: one failed read (a daemon restarting) is not a fault. */
export const DEFAULT_RAISE_AFTER = 3;
/** Consecutive successes that clear it: a collector that alternates stays raised instead of flapping. */
export const DEFAULT_CLEAR_AFTER = 2;

/** Settings of CollectorFaults. */
export interface CollectorFaultsOptions {
  /** FaultSettings.collectorFailures; defaults to true. */
  enabled?: boolean;
  /** Consecutive failed collections (or starts) before the fault is raised; defaults to DEFAULT_RAISE_AFTER. */
  after?: number;
  /** Consecutive successful collections before a raised fault is cleared; defaults to DEFAULT_CLEAR_AFTER. */
  clearAfter?: number;
}

/**
 * Faults for collectors that fail: one MAJOR `CollectorFailed` alarm per job and collector (source: the host,
 * labels `job` and `collector`), raised after `after` consecutive failures with the error as specificProblem,
 * cleared after `clearAfter` consecutive successes. Damped both ways, so a collector failing every other
 * collection raises one fault and keeps it, instead of a raise and a clear per collection. Further failures
 * while raised send nothing, even with a different error.
 */
export class CollectorFaults {
  readonly #table: AlarmTable;
  #enabled: boolean;
  #after: number;
  #clearAfter: number;
  readonly #failures = new Map<string, number>();
  readonly #successes = new Map<string, number>();

  constructor(table: AlarmTable, options: CollectorFaultsOptions = {}) {
    this.#table = table;
    this.#enabled = options.enabled ?? true;
    this.#after = checkCount("after", options.after ?? DEFAULT_RAISE_AFTER);
    this.#clearAfter = checkCount("clearAfter", options.clearAfter ?? DEFAULT_CLEAR_AFTER);
  }

  /** Applies new settings; disabling clears the open collector alarms. Failure counts are kept. */
  configure(options: CollectorFaultsOptions, timeMs: number): AlarmUpdate[] {
    this.#after = checkCount("after", options.after ?? this.#after);
    this.#clearAfter = checkCount("clearAfter", options.clearAfter ?? this.#clearAfter);
    this.#enabled = options.enabled ?? this.#enabled;
    if (this.#enabled) return [];
    return this.#table.clearWhere(
      (a) => a.kind === "collector",
      { specificProblem: "collector failure faults disabled" },
      timeMs,
    );
  }

  /** The outcome of one collection of `collector` in `job`; `error` says what failed. */
  observeCollector(
    job: string,
    collector: string,
    ok: boolean,
    error: string | undefined,
    timeMs: number,
  ): AlarmUpdate[] {
    const labels = { job, collector };
    const key = alarmKey("collector", HOST, "", labels);
    if (ok) {
      this.#failures.delete(key);
      const successes = (this.#successes.get(key) ?? 0) + 1;
      if (this.#table.get(key) && successes < this.#clearAfter) {
        this.#successes.set(key, successes);
        return [];
      }
      this.#successes.delete(key);
      const cleared = this.#table.clear(key, { specificProblem: `collector ${collector} recovered` }, timeMs);
      return cleared ? [cleared] : [];
    }
    this.#successes.delete(key);
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    if (!this.#enabled || failures < this.#after) return [];
    const problem = error?.trim() || `collector ${collector} failed`;
    const update = this.#table.set(
      {
        kind: "collector",
        source: HOST,
        labels,
        severity: "MAJOR",
        condition: COLLECTOR_FAILED,
        specificProblem:
          problem.length > MAX_PROBLEM_LENGTH ? `${problem.slice(0, MAX_PROBLEM_LENGTH - 1)}…` : problem,
      },
      timeMs,
    );
    return update ? [update] : [];
  }

  /** Clears the alarms of a job that was removed (all its collectors, or only `collector`), and forgets its counts. */
  forgetJob(job: string, timeMs: number, collector?: string): AlarmUpdate[] {
    const match = (labels: Readonly<Record<string, string>>) =>
      labels.job === job && (collector === undefined || labels.collector === collector);
    for (const counts of [this.#failures, this.#successes])
      for (const [key] of counts) {
        const [, , , pairs] = JSON.parse(key) as [string, string, string, [string, string][]];
        if (match(Object.fromEntries(pairs))) counts.delete(key);
      }
    return this.#table.clearWhere(
      (a) => a.kind === "collector" && match(a.labels),
      { specificProblem: "collector no longer configured" },
      timeMs,
    );
  }
}

function checkCount(name: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}
