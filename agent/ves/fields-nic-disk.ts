import { average, counterIncrease, last, maximum, minimum, type SeriesPicker } from "./aggregate.ts";
import type { DiskFigure, DiskUsage, NicCounterField, NicPerformance } from "./types.ts";

/** Where a source's per-device metrics live: `host.interface` by `device`, `vm.interface` by `interface`, and so on. */
export interface DeviceMetrics {
  prefix: string;
  label: string;
}

const DIRECTIONS = [
  ["rx", "received"],
  ["tx", "transmitted"],
] as const;

const NIC_FIGURES = [
  ["bytes", "Octets"],
  ["packets", "TotalPackets"],
  ["errors", "ErrorPackets"],
  ["dropped", "DiscardedPackets"],
] as const;

/**
 * nicPerformanceArray: per interface, each counter's accumulated value at the end of the window and its increase
 * within it. Without a total (libvirt gives none for errors and drops) the increase is the average rate over the
 * interval. `valuesAreSuspect` is "true" when any sample of the interface was (first read, reset, wrap).
 */
export function nicPerformance(
  p: SeriesPicker,
  at: DeviceMetrics,
  intervalSeconds: number,
): NicPerformance[] {
  const { metrics, counters: names } = nicMetrics(at.prefix);
  return p.instances(metrics, at.label).map((id) => {
    const labels = { [at.label]: id };
    const counters: Partial<Record<NicCounterField, number>> = {};
    let suspect = false;
    for (const { totalMetric, rateMetric, accumulated, delta: deltaField } of names) {
      const total = p.take(totalMetric, labels);
      const rate = p.take(rateMetric, labels);
      if (total) {
        const { delta, wentBack } = counterIncrease(total);
        counters[accumulated] = last(total);
        counters[deltaField] = delta;
        suspect ||= total.suspect || wentBack;
      } else if (rate) counters[deltaField] = Math.round(average(rate) * intervalSeconds);
      suspect ||= rate?.suspect === true;
    }
    return { nicIdentifier: id, valuesAreSuspect: suspect ? "true" : "false", ...counters };
  });
}

/** A source's vNIC metric names: made once per prefix, not once per interface per window. */
interface NicMetricNames {
  metrics: string[];
  counters: {
    totalMetric: string;
    rateMetric: string;
    accumulated: NicCounterField;
    delta: NicCounterField;
  }[];
}

const nicNames = new Map<string, NicMetricNames>();

function nicMetrics(prefix: string): NicMetricNames {
  let names = nicNames.get(prefix);
  if (names) return names;
  names = { metrics: [], counters: [] };
  for (const [dir, dirName] of DIRECTIONS)
    for (const [fig, figName] of NIC_FIGURES) {
      const rateMetric = `${prefix}.${dir}.${fig}`;
      const totalMetric = `${rateMetric}.total`;
      names.metrics.push(rateMetric, totalMetric);
      names.counters.push({
        totalMetric,
        rateMetric,
        accumulated: `${dirName}${figName}Accumulated`,
        delta: `${dirName}${figName}Delta`,
      });
    }
  nicNames.set(prefix, names);
  return names;
}

/** The per-device disk metrics of a source and the diskUsage figure each feeds. */
export interface DiskMetrics extends DeviceMetrics {
  /** Metric suffix → figure, e.g. `read.ops` → diskOpsRead. */
  figures: readonly (readonly [suffix: string, figure: DiskFigure, scale: number])[];
  /** Suffix of the flush rate (ops/s), which becomes diskFlushRequests over the interval. */
  flush?: string;
}

/** The host's /proc/diskstats metrics; utilization percent × 10 is diskIoTime, ms busy per second. */
export const HOST_DISKS: DiskMetrics = {
  prefix: "host.disk",
  label: "device",
  figures: [
    ["read.ops", "diskOpsRead", 1],
    ["write.ops", "diskOpsWrite", 1],
    ["read.bytes", "diskOctetsRead", 1],
    ["write.bytes", "diskOctetsWrite", 1],
    ["read.time", "diskTimeRead", 1],
    ["write.time", "diskTimeWrite", 1],
    ["utilization.percent", "diskIoTime", 10],
  ],
};

/** A VM's libvirt block metrics. */
export const VM_DISKS: DiskMetrics = {
  prefix: "vm.disk",
  label: "disk",
  figures: [
    ["read.ops", "diskOpsRead", 1],
    ["write.ops", "diskOpsWrite", 1],
    ["read.bytes", "diskOctetsRead", 1],
    ["write.bytes", "diskOctetsWrite", 1],
    ["read.latency", "diskTimeRead", 1],
    ["write.latency", "diskTimeWrite", 1],
  ],
  flush: "flush.ops",
};

/** diskUsageArray: per disk, the Min, Max, Avg and Last of each figure over the window's collections. */
export function diskUsage(p: SeriesPicker, at: DiskMetrics, intervalSeconds: number): DiskUsage[] {
  const suffixes = [...at.figures.map(([suffix]) => suffix), ...(at.flush ? [at.flush] : [])];
  const ids = p.instances(
    suffixes.map((s) => `${at.prefix}.${s}`),
    at.label,
  );
  return ids.map((id) => {
    const labels = { [at.label]: id };
    const entry: DiskUsage = { diskIdentifier: id };
    for (const [suffix, figure, scale] of at.figures) {
      const s = p.take(`${at.prefix}.${suffix}`, labels);
      if (!s) continue;
      entry[`${figure}Min`] = minimum(s) * scale;
      entry[`${figure}Max`] = maximum(s) * scale;
      entry[`${figure}Avg`] = average(s) * scale;
      entry[`${figure}Last`] = last(s) * scale;
    }
    const flush = at.flush ? p.take(`${at.prefix}.${at.flush}`, labels) : undefined;
    if (flush) entry.diskFlushRequests = Math.round(average(flush) * intervalSeconds);
    return entry;
  });
}
