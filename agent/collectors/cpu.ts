import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import type { Collector, CollectorEnv, CollectorFactory } from "./collector.ts";
import { CounterSet } from "./counter.ts";
import { readSource } from "./read.ts";
import { HOST, type Sample } from "./sample.ts";

/** The time states of a /proc/stat cpu line, in the kernel's column order. */
export const CPU_STATES = [
  "user",
  "nice",
  "system",
  "idle",
  "iowait",
  "irq",
  "softirq",
  "steal",
  "guest",
  "guest_nice",
] as const;

/** One of the CPU time states. */
export type CpuState = (typeof CPU_STATES)[number];

/** Cumulative time per state, in USER_HZ ticks (jiffies). */
export type CpuTimes = Record<CpuState, bigint>;

// guest and guest_nice are already counted in user and nice: adding them would count that time twice.
const TOTAL_STATES = CPU_STATES.slice(0, 8);

/** The cpu lines of /proc/stat. */
export interface ProcStat {
  /** Times by CPU label: `total` for the aggregate `cpu` line, `0`, `1`, … for `cpu0`, `cpu1`, …. */
  cpus: Map<string, CpuTimes>;
  /** cpu lines that could not be read, as found. */
  skipped: string[];
}

/**
 * Parses the cpu lines of /proc/stat; other lines (intr, ctxt, …) are ignored. Columns an older kernel
 * does not print (everything after idle) read as 0. A malformed cpu line is skipped and returned in
 * `skipped`; throws when no cpu line can be read.
 */
export function parseProcStat(text: string): ProcStat {
  const cpus = new Map<string, CpuTimes>();
  const skipped: string[] = [];
  for (const line of text.split("\n")) {
    // Only cpu lines are split into fields: the intr line alone holds a number per interrupt source.
    if (!line.trimStart().startsWith("cpu")) continue;
    const fields = line.trim().split(/\s+/);
    const head = fields[0] ?? "";
    if (!head.startsWith("cpu")) continue;
    const id = head === "cpu" ? "total" : head.slice(3);
    const numbers = fields.slice(1, 1 + CPU_STATES.length);
    if (!/^(total|\d+)$/.test(id) || numbers.length < 4 || !numbers.every((n) => /^\d+$/.test(n))) {
      skipped.push(line);
      continue;
    }
    const times = {} as CpuTimes;
    CPU_STATES.forEach((state, i) => {
      times[state] = BigInt(numbers[i] ?? 0);
    });
    cpus.set(id, times);
  }
  if (cpus.size === 0) throw new Error(`unexpected /proc/stat content: ${JSON.stringify(text.slice(0, 80))}`);
  return { cpus, skipped };
}

/** The kernel's USER_HZ: /proc/stat counts in 1/100 s on every architecture Linux exports it for. */
const USER_HZ = 100;

/** The accumulated time per state as a counter in seconds, for Prometheus's `rate()`. */
function seconds(cpu: string, times: CpuTimes): Sample[] {
  return CPU_STATES.map((state) => ({
    metric: "host.cpu.seconds.total",
    value: Number(times[state]) / USER_HZ,
    unit: "seconds",
    source: HOST,
    labels: { cpu, state },
  }));
}

class CpuCollector implements Collector {
  readonly name = "cpu" as const;
  readonly #env: CollectorEnv;
  readonly #perCpu: boolean;
  readonly #counters = new CounterSet();

  constructor(spec: CollectorSpec, env: CollectorEnv) {
    this.#env = env;
    this.#perCpu = spec.perCpu !== false;
  }

  async collect() {
    const time = this.#env.now();
    const path = this.#env.paths.proc("stat");
    const stat = parseProcStat(await readSource(path));
    const samples: Sample[] = [];
    for (const [cpu, times] of stat.cpus) {
      if (cpu === "total" || this.#perCpu)
        samples.push(...this.#percentages(cpu, times, time), ...seconds(cpu, times));
    }
    this.#counters.sweep();
    const errors = stat.skipped.map(
      (l) => `${path}: skipped malformed line ${JSON.stringify(l.slice(0, 80))}`,
    );
    return { time, samples, errors };
  }

  /** Share of each state in the time that passed since the previous read; nothing on a first read or a reset. */
  #percentages(cpu: string, times: CpuTimes, time: number): Sample[] {
    const deltas = new Map<CpuState, number>();
    let complete = true;
    let suspect = false;
    for (const state of CPU_STATES) {
      const rate = this.#counters.rate(`${cpu} ${state}`, times[state], time);
      if (rate.delta === undefined) complete = false;
      else deltas.set(state, rate.delta);
      suspect ||= rate.suspect;
    }
    if (!complete) return [];
    const total = TOTAL_STATES.reduce((sum, state) => sum + (deltas.get(state) ?? 0), 0);
    // An offline CPU or a read within the same tick: no time passed, so there is no share to report.
    if (total <= 0) return [];
    const samples: Sample[] = CPU_STATES.map((state) => ({
      metric: "host.cpu.percent",
      value: ((deltas.get(state) ?? 0) * 100) / total,
      unit: "percent",
      source: HOST,
      labels: { cpu, state },
    }));
    const waiting = (deltas.get("idle") ?? 0) + (deltas.get("iowait") ?? 0);
    samples.push({
      metric: "host.cpu.usage.percent",
      value: ((total - waiting) * 100) / total,
      unit: "percent",
      source: HOST,
      labels: { cpu },
    });
    if (suspect) for (const s of samples) s.suspect = true;
    return samples;
  }

  async close() {}
}

/** `cpu`: /proc/stat time shares per state, total and per CPU (VES cpuUsageArray). */
export const cpuCollector: CollectorFactory = {
  name: "cpu",
  async create(spec: CollectorSpec, env: CollectorEnv) {
    return new CpuCollector(spec, env);
  },
};
