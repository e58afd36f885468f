import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import type { Collector, CollectorEnv, CollectorFactory } from "./collector.ts";
import { readSource } from "./read.ts";
import { HOST, type Sample } from "./sample.ts";

/** The fields of /proc/meminfo. */
export interface Meminfo {
  /** Value by field name: bytes for the fields the kernel gives in kB, a plain count for the others (`HugePages_Total`). */
  fields: Map<string, number>;
  /** Lines that could not be read, as found. */
  skipped: string[];
}

/**
 * Parses /proc/meminfo (`MemTotal:       24683656 kB`). The kernel's kB are KiB, so values become bytes.
 * A malformed line is skipped and returned in `skipped`; throws when no line can be read.
 */
export function parseMeminfo(text: string): Meminfo {
  const fields = new Map<string, number>();
  const skipped: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const m = /^([^:\s]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (!m) {
      skipped.push(line);
      continue;
    }
    const value = Number(m[2]);
    fields.set(m[1]!, m[3] ? value * 1024 : value);
  }
  if (fields.size === 0)
    throw new Error(`unexpected /proc/meminfo content: ${JSON.stringify(text.slice(0, 80))}`);
  return { fields, skipped };
}

/** Metrics taken from one meminfo field each, all in bytes. */
const FIGURES: readonly (readonly [metric: string, field: string])[] = [
  ["host.memory.total", "MemTotal"],
  ["host.memory.free", "MemFree"],
  ["host.memory.available", "MemAvailable"],
  ["host.memory.buffers", "Buffers"],
  ["host.memory.cached", "Cached"],
  ["host.memory.slab", "Slab"],
  ["host.memory.swap.total", "SwapTotal"],
  ["host.memory.swap.free", "SwapFree"],
];

/**
 * Memory the kernel could hand out without swapping. MemAvailable exists since Linux 3.14; before it,
 * free + buffers + page cache is the usual estimate.
 */
function available(fields: Map<string, number>): number | undefined {
  const reported = fields.get("MemAvailable");
  if (reported !== undefined) return reported;
  const free = fields.get("MemFree");
  const buffers = fields.get("Buffers");
  const cached = fields.get("Cached");
  if (free === undefined || buffers === undefined || cached === undefined) return undefined;
  return free + buffers + cached;
}

/** The /proc/meminfo figures used memory is made of, in bytes. */
export interface MemoryParts {
  total: number;
  free: number;
  buffers: number;
  cached: number;
  slab: number;
}

/**
 * Used memory as the agent defines it everywhere (VES memoryUsed, `host.memory.used`): MemTotal minus MemFree,
 * Buffers, Cached and Slab, the VES 7.2 definition. Never below 0 (an emulated meminfo may not add up).
 */
export function usedMemory(p: MemoryParts): number {
  return Math.max(0, p.total - p.free - p.buffers - p.cached - p.slab);
}

class MemoryCollector implements Collector {
  readonly name = "memory" as const;
  readonly #env: CollectorEnv;

  constructor(env: CollectorEnv) {
    this.#env = env;
  }

  async collect() {
    const time = this.#env.now();
    const path = this.#env.paths.proc("meminfo");
    const { fields, skipped } = parseMeminfo(await readSource(path));
    const errors = skipped.map((l) => `${path}: skipped malformed line ${JSON.stringify(l.slice(0, 80))}`);
    const samples: Sample[] = [];
    const bytes = (metric: string, value: number) =>
      samples.push({ metric, value, unit: "bytes", source: HOST });
    const percent = (metric: string, value: number) =>
      samples.push({ metric, value, unit: "percent", source: HOST });

    const total = fields.get("MemTotal");
    const avail = available(fields);
    for (const [metric, field] of FIGURES) {
      const value = field === "MemAvailable" ? avail : fields.get(field);
      if (value === undefined) errors.push(`${path}: no ${field}`);
      else bytes(metric, value);
    }
    const [free, buffers, cached, slab] = ["MemFree", "Buffers", "Cached", "Slab"].map((f) => fields.get(f));
    if (
      total !== undefined &&
      free !== undefined &&
      buffers !== undefined &&
      cached !== undefined &&
      slab !== undefined
    ) {
      const used = usedMemory({ total, free, buffers, cached, slab });
      bytes("host.memory.used", used);
      if (total > 0) percent("host.memory.used.percent", (used * 100) / total);
    }
    if (total !== undefined && avail !== undefined && total > 0)
      percent("host.memory.free.percent", (Math.min(avail, total) * 100) / total);
    return { time, samples, errors };
  }

  async close() {}
}

/** `memory`: /proc/meminfo (VES memoryUsageArray). */
export const memoryCollector: CollectorFactory = {
  name: "memory",
  async create(_spec: CollectorSpec, env: CollectorEnv) {
    return new MemoryCollector(env);
  },
};
