import type { ThresholdSpec } from "../../api/v1alpha1/types.ts";
import type { Sample, Source } from "../collectors/sample.ts";
import {
  type Alarm,
  type AlarmTable,
  type AlarmUpdate,
  alarmKey,
  type RaisedSeverity,
  sourceKey,
} from "./alarm.ts";

/** How far a value is beyond a threshold's bounds: 0 inside, 1 beyond a warning bound, 2 beyond a failure bound. */
export type Level = 0 | 1 | 2;

/** Which bound: the upper (`max`, value too high) or the lower (`min`, value too low). */
export type Side = "max" | "min";

/** Severity per level. */
export interface ThresholdSeverities {
  warning: RaisedSeverity;
  failure: RaisedSeverity;
}

/**
 * Default severities: failure → CRITICAL, warning → WARNING (collectd's FAILURE and WARNING). Note that VES
 * listeners' senders are not asked to buffer WARNING faults; choose MINOR for warning to have them buffered.
 */
export const DEFAULT_SEVERITIES: Readonly<ThresholdSeverities> = Object.freeze({
  warning: "WARNING",
  failure: "CRITICAL",
});

/** Settings of a ThresholdEngine. */
export interface ThresholdEngineOptions {
  severities?: ThresholdSeverities;
}

/**
 * The level of `value` against `spec`, without hysteresis. A value equal to a bound is inside it: warningMax 80
 * raises at 80.01, not at 80. When both sides are beyond (only with inconsistent bounds) the higher level wins.
 */
export function levelOf(spec: ThresholdSpec, value: number): { level: Level; side: Side; bound?: number } {
  const max = sideLevel(spec, "max", value, 0);
  const min = sideLevel(spec, "min", value, 0);
  return min.level > max.level ? { ...min, side: "min" } : { ...max, side: "max" };
}

/**
 * The level of `value` on one side with the bounds moved inwards by `hysteresis`: what a raised alarm still
 * holds. With warningMax 80 and hysteresis 5 the value holds the warning while above 75; 75 itself is back
 * inside (the clear is inclusive, as the raise is exclusive, so hysteresis 0 clears at 80).
 */
export function sideLevel(
  spec: ThresholdSpec,
  side: Side,
  value: number,
  hysteresis: number,
): { level: Level; bound?: number } {
  if (side === "max") {
    if (spec.failureMax !== undefined && value > spec.failureMax - hysteresis)
      return { level: 2, bound: spec.failureMax };
    if (spec.warningMax !== undefined && value > spec.warningMax - hysteresis)
      return { level: 1, bound: spec.warningMax };
  } else {
    if (spec.failureMin !== undefined && value < spec.failureMin + hysteresis)
      return { level: 2, bound: spec.failureMin };
    if (spec.warningMin !== undefined && value < spec.warningMin + hysteresis)
      return { level: 1, bound: spec.warningMin };
  }
  return { level: 0 };
}

/** alarmCondition of a threshold: the metric in CamelCase and High or Low (`vm.cpu.percent` → `VmCpuPercentHigh`). */
export function thresholdCondition(metric: string, side: Side): string {
  const words = metric.split(/[._]/).filter((w) => w !== "");
  return `${words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join("")}${side === "max" ? "High" : "Low"}`;
}

/** A run of consecutive samples beyond the level currently raised (none yet raised counts as level 0). */
interface Run {
  count: number;
  side: Side;
}

/**
 * Raises and clears faults from thresholds, as collectd's threshold plugin does, one alarm per metric, source
 * and label set (each VM, each `cpu` label value is its own instance).
 *
 * - Raise and escalate: after `persist` consecutive samples beyond the level currently raised (on one side),
 *   the alarm goes to the level of the latest of those samples. Escalation WARNING → CRITICAL keeps the eventId.
 * - De-escalate and clear: at once, as soon as one sample is back inside the raised level's bound by
 *   `hysteresis` (inclusive, see `sideLevel`); persist does not delay them.
 * - A sample beyond the opposite side's bound clears the alarm, and starts a run on that side.
 * - Suspect and non-finite samples are ignored: they neither count towards a run nor break it, nor clear.
 *
 * Open alarms live in the AlarmTable (with their level and side in `state`), so an engine built over a table
 * restored after a restart continues them; runs not yet raised are lost on a restart.
 */
export class ThresholdEngine {
  readonly #table: AlarmTable;
  readonly #severities: ThresholdSeverities;
  #specs = new Map<string, ThresholdSpec>();
  readonly #runs = new Map<string, Run>();

  /** Starts with no thresholds; call `configure` (which also clears restored alarms of thresholds now gone). */
  constructor(table: AlarmTable, options: ThresholdEngineOptions = {}) {
    this.#table = table;
    this.#severities = options.severities ?? DEFAULT_SEVERITIES;
  }

  /**
   * Applies a new threshold list (validated and defaulted, one per metric). Open alarms of metrics no longer
   * listed are cleared. An unchanged threshold keeps its alarms and runs. A changed one keeps its open alarms
   * (same eventId, re-judged by the new bounds on the next sample) but restarts its runs.
   */
  configure(specs: readonly ThresholdSpec[], timeMs: number): AlarmUpdate[] {
    const next = new Map(specs.map((s) => [s.metric, s]));
    for (const [metric, old] of this.#specs) {
      const now = next.get(metric);
      if (!now || !sameSpec(old, now)) this.#dropRuns((k) => k === metric);
    }
    this.#specs = next;
    return this.#table.clearWhere(
      (a) => a.kind === "threshold" && (a.metric === undefined || !next.has(a.metric)),
      { specificProblem: "threshold removed" },
      timeMs,
    );
  }

  /** The samples of one collection, at `timeMs`; returns the records to send, in sample order. */
  observe(samples: readonly Sample[], timeMs: number): AlarmUpdate[] {
    const out: AlarmUpdate[] = [];
    for (const sample of samples) {
      const spec = this.#specs.get(sample.metric);
      if (!spec || sample.suspect || !Number.isFinite(sample.value)) continue;
      this.#judge(spec, sample, timeMs, out);
    }
    return out;
  }

  /** Clears the threshold alarms of a source (e.g. a VM that went away) and forgets its runs. */
  forgetSource(source: Source, timeMs: number): AlarmUpdate[] {
    const key = sourceKey(source);
    for (const [runKey] of this.#runs) if (JSON.parse(runKey)[1] === key) this.#runs.delete(runKey);
    return this.#table.clearWhere(
      (a) => a.kind === "threshold" && sourceKey(a.source) === key,
      { specificProblem: "source no longer monitored" },
      timeMs,
    );
  }

  /** Number of instances with a run in progress (beyond their raised level but not yet persisted). */
  get pendingRuns(): number {
    return this.#runs.size;
  }

  #judge(spec: ThresholdSpec, sample: Sample, timeMs: number, out: AlarmUpdate[]): void {
    const labels = sample.labels ?? {};
    const key = alarmKey("threshold", sample.source, spec.metric, labels);
    const value = sample.value;
    const raw = levelOf(spec, value);
    const open = this.#table.get(key);
    let raised = open ? parseState(open) : { level: 0 as Level, side: raw.side };

    if (open) {
      if (raw.level > 0 && raw.side !== raised.side) {
        this.#push(out, this.#clear(key, spec, open, value, timeMs));
        raised = { level: 0, side: raw.side };
      } else {
        const held = sideLevel(spec, raised.side, value, spec.hysteresis ?? 0);
        if (held.level < raised.level) {
          this.#push(
            out,
            held.level === 0
              ? this.#clear(key, spec, open, value, timeMs)
              : this.#set(spec, sample, raised.side, held.level, held.bound, timeMs),
          );
          raised = { level: held.level, side: raised.side };
        }
      }
    }

    if (raw.level <= raised.level) {
      this.#runs.delete(key);
      return;
    }
    const run = this.#runs.get(key);
    const count = run && run.side === raw.side ? run.count + 1 : 1;
    if (count < (spec.persist ?? 1)) {
      this.#runs.set(key, { count, side: raw.side });
      return;
    }
    this.#runs.delete(key);
    this.#push(out, this.#set(spec, sample, raw.side, raw.level, raw.bound, timeMs));
  }

  #set(
    spec: ThresholdSpec,
    sample: Sample,
    side: Side,
    level: Level,
    bound: number | undefined,
    timeMs: number,
  ): AlarmUpdate | undefined {
    const name = level === 2 ? "failure" : "warning";
    const where = side === "max" ? "above the" : "below the";
    const which = side === "max" ? "maximum" : "minimum";
    return this.#table.set(
      {
        kind: "threshold",
        source: sample.source,
        metric: spec.metric,
        labels: sample.labels ?? {},
        severity: level === 2 ? this.#severities.failure : this.#severities.warning,
        condition: thresholdCondition(spec.metric, side),
        specificProblem: `${spec.metric}${labelText(sample.labels)} is ${num(sample.value)}, ${where} ${name} ${which} ${num(bound ?? Number.NaN)}`,
        value: sample.value,
        ...(bound !== undefined ? { bound } : {}),
        state: `${name}:${side}`,
      },
      timeMs,
    );
  }

  #clear(
    key: string,
    spec: ThresholdSpec,
    open: Alarm,
    value: number,
    timeMs: number,
  ): AlarmUpdate | undefined {
    return this.#table.clear(
      key,
      {
        specificProblem: `${spec.metric}${labelText(open.labels)} is ${num(value)}, back within bounds`,
        value,
      },
      timeMs,
    );
  }

  #push(out: AlarmUpdate[], update: AlarmUpdate | undefined): void {
    if (update) out.push(update);
  }

  #dropRuns(match: (metric: string) => boolean): void {
    for (const [runKey] of this.#runs) if (match(JSON.parse(runKey)[2])) this.#runs.delete(runKey);
  }
}

/** Level and side from a threshold alarm's `state` (`warning:max`); an unreadable state counts as a warning. */
function parseState(alarm: Alarm): { level: Level; side: Side } {
  const [name, side] = (alarm.state ?? "").split(":");
  return { level: name === "failure" ? 2 : 1, side: side === "min" ? "min" : "max" };
}

function sameSpec(a: ThresholdSpec, b: ThresholdSpec): boolean {
  return (
    a.warningMin === b.warningMin &&
    a.warningMax === b.warningMax &&
    a.failureMin === b.failureMin &&
    a.failureMax === b.failureMax &&
    (a.hysteresis ?? 0) === (b.hysteresis ?? 0) &&
    (a.persist ?? 1) === (b.persist ?? 1)
  );
}

function labelText(labels: Readonly<Record<string, string>> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.length ? `{${keys.map((k) => `${k}=${labels?.[k]}`).join(",")}}` : "";
}

/** A value for humans: at most 6 significant digits, no exponent for everyday magnitudes. */
function num(v: number): string {
  return String(Number(v.toPrecision(6)));
}
