import type { Sample, Source, Unit } from "../collectors/sample.ts";

/**
 * How a series is summarised over a window: a rate or percentage by its average, a gauge by its last value, an
 * accumulated counter (`….total`) by its last value and its increase.
 */
export type SeriesKind = "rate" | "gauge" | "counter";

const RATE_UNITS: ReadonlySet<Unit> = new Set<Unit>([
  "percent",
  "bytes/s",
  "packets/s",
  "ops/s",
  "count/s",
  "ms/op",
  // `ms` is busy time per second of wall time (vm.disk.*.busy): a rate.
  "ms",
]);

// The accumulated counters the collectors emit are the interface totals; `host.memory.total` is a gauge.
const ACCUMULATED = /^(host|vm)\.interface\.(rx|tx)\.[a-z]+\.total$/;

/** The kind of a metric, from its name and unit. */
export function seriesKind(metric: string, unit: Unit): SeriesKind {
  if (ACCUMULATED.test(metric)) return "counter";
  return RATE_UNITS.has(unit) ? "rate" : "gauge";
}

/** One metric with one label set at one source, over a window: its values in collection order. */
export interface Series {
  metric: string;
  unit: Unit;
  labels: Readonly<Record<string, string>>;
  kind: SeriesKind;
  values: number[];
  /** Each value's weight (the time its read covers), when every value has one; rates are averaged by them. */
  weights?: number[];
  /** True when any contributing sample was suspect (first read, counter reset or wrap), or a total went back. */
  suspect: boolean;
}

/** Every series of one source within a window. */
export interface SourceWindow {
  /** The source as its most recent sample gave it (a VM may have been renamed). */
  source: Source;
  series: Series[];
}

/** A stable key for a source: VMs by UUID, since a domain can be renamed. */
export function sourceKey(source: Source): string {
  return source.kind === "vm" ? `vm:${source.uuid}` : "host";
}

/**
 * A key for a label set that does not depend on the order of its names. Built by hand, not through
 * `Object.entries` and `JSON.stringify`: it runs once per sample, and the arrays those make were a large share of
 * the agent's garbage per cycle. NUL separates the parts; no label name or value from a collector holds one.
 */
export function labelKey(labels: Readonly<Record<string, string>> | undefined): string {
  if (!labels) return "";
  let key = "";
  let names: string[] | undefined;
  let previous = "";
  for (const name in labels) {
    // Collectors build their labels in one order; only an out-of-order set needs the sorted, allocating path.
    if (key !== "" && name < previous) {
      names = Object.keys(labels).sort();
      break;
    }
    key += `${name}\0${labels[name]}\0`;
    previous = name;
  }
  if (!names) return key;
  key = "";
  for (const name of names) key += `${name}\0${labels[name]}\0`;
  return key;
}

/**
 * A window's samples split by source: the host first, then VMs (by UUID, since a domain can be renamed) in order
 * of appearance, each in collection order.
 */
export function samplesBySource(samples: readonly Sample[]): Sample[][] {
  const vms = new Map<string, Sample[]>();
  let host: Sample[] | undefined;
  // An index loop: this runs once per window, rarely optimised, where for…of makes an object per element.
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    let own = s.source.kind === "host" ? host : vms.get(s.source.uuid);
    if (!own) {
      own = [];
      if (s.source.kind === "host") host = own;
      else vms.set(s.source.uuid, own);
    }
    own.push(s);
  }
  return host ? [host, ...vms.values()] : [...vms.values()];
}

/**
 * Groups the samples of one source (as `samplesBySource` splits them) by series. A value that is not a number is
 * never summarised; when its sample is marked suspect (a degenerate input), every series of the source is suspect.
 * One source at a time, not the whole window: a caller that turns each source's series into its event at once
 * lets them die young, where a whole window's series outlived the scavenges of building every event and were
 * promoted, the agent's largest share of old-space garbage (bench/memory.md).
 */
export function groupSource(
  samples: readonly Sample[],
  weightOf: (s: Sample) => number | undefined = () => undefined,
): SourceWindow {
  const byMetric = new Map<string, Map<string, Series>>();
  const list: Series[] = [];
  let degenerate = false;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    if (!Number.isFinite(s.value)) {
      degenerate ||= s.suspect === true;
      continue;
    }
    let byLabels = byMetric.get(s.metric);
    if (!byLabels) {
      byLabels = new Map();
      byMetric.set(s.metric, byLabels);
    }
    const id = labelKey(s.labels);
    let series = byLabels.get(id);
    if (!series) {
      series = {
        metric: s.metric,
        unit: s.unit,
        labels: s.labels ?? {},
        kind: seriesKind(s.metric, s.unit),
        values: [],
        weights: [],
        suspect: false,
      };
      byLabels.set(id, series);
      list.push(series);
    }
    series.values.push(s.value);
    const weight = weightOf(s);
    if (weight === undefined || !(weight > 0)) delete series.weights;
    else series.weights?.push(weight);
    series.suspect ||= s.suspect === true;
  }
  if (degenerate) for (const x of list) x.suspect = true;
  // The source as its most recent sample gave it (a VM may have been renamed).
  return { source: samples[samples.length - 1]!.source, series: list };
}

/** Every source's series in a window: `groupSource` over `samplesBySource`. */
export function groupWindow(
  samples: readonly Sample[],
  weightOf: (s: Sample) => number | undefined = () => undefined,
): SourceWindow[] {
  return samplesBySource(samples).map((own) => groupSource(own, weightOf));
}

/**
 * Average of a series' values, weighted by the time each read covers when all have one: reads of a loaded machine
 * come late and early, and a rate over 1.3 s counts for more than one over 0.7 s.
 */
export function average(s: Series): number {
  const w = s.weights;
  if (w && w.length === s.values.length) {
    let sum = 0;
    let total = 0;
    for (let i = 0; i < w.length; i++) {
      sum += s.values[i]! * w[i]!;
      total += w[i]!;
    }
    return sum / total;
  }
  return s.values.reduce((a, b) => a + b, 0) / s.values.length;
}

/** Last value of a series. */
export function last(s: Series): number {
  return s.values[s.values.length - 1]!;
}

/** Smallest value of a series. */
export function minimum(s: Series): number {
  return Math.min(...s.values);
}

/** Largest value of a series. */
export function maximum(s: Series): number {
  return Math.max(...s.values);
}

/** The value that stands for the series in the window: average of a rate, last of a gauge or counter. */
export function summary(s: Series): number {
  return s.kind === "rate" ? average(s) : last(s);
}

/**
 * The increase of an accumulated counter within the window: last - first while it only grows. A fall (the source
 * restarted its counter) counts the new value as counted from zero, and the caller should treat the result as
 * suspect, as `counterIncrease` says.
 */
export function counterIncrease(s: Series): { delta: number; wentBack: boolean } {
  let delta = 0;
  let wentBack = false;
  for (let i = 1; i < s.values.length; i++) {
    const prev = s.values[i - 1]!;
    const cur = s.values[i]!;
    if (cur >= prev) delta += cur - prev;
    else {
      delta += cur;
      wentBack = true;
    }
  }
  return { delta, wentBack };
}

/**
 * Hands out a window's series to the VES fields that use them, and remembers which were used, so that everything
 * left can go to additionalMeasurements.
 */
export class SeriesPicker {
  readonly window: SourceWindow;
  readonly #taken = new Set<Series>();
  /** The window's series by metric, in order of appearance: each VES field looks up a few of many. */
  readonly #byMetric = new Map<string, Series[]>();

  constructor(window: SourceWindow) {
    this.window = window;
    for (const s of window.series) {
      const list = this.#byMetric.get(s.metric);
      if (list) list.push(s);
      else this.#byMetric.set(s.metric, [s]);
    }
  }

  /** The series of `metric` whose labels include all of `labels`, without marking it used. */
  peek(metric: string, labels?: Readonly<Record<string, string>>): Series | undefined {
    const list = this.#byMetric.get(metric);
    if (!list) return undefined;
    for (const s of list) if (!labels || hasLabels(s, labels)) return s;
    return undefined;
  }

  /** As `peek`, and marks the series used. */
  take(metric: string, labels?: Readonly<Record<string, string>>): Series | undefined {
    const s = this.peek(metric, labels);
    if (s) this.#taken.add(s);
    return s;
  }

  /** The values of label `label` among the series of the given metrics, in order of appearance. */
  instances(metrics: readonly string[], label: string): string[] {
    const out = new Set<string>();
    for (const s of this.window.series) {
      const v = s.labels[label];
      if (v !== undefined && metrics.includes(s.metric)) out.add(v);
    }
    return [...out];
  }

  /** The series no field used. */
  rest(): Series[] {
    return this.window.series.filter((s) => !this.#taken.has(s));
  }
}

function hasLabels(s: Series, labels: Readonly<Record<string, string>>): boolean {
  for (const name in labels) if (s.labels[name] !== labels[name]) return false;
  return true;
}
