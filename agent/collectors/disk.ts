import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import type { Collector, CollectorEnv, CollectorFactory } from "./collector.ts";
import { CounterSet, type Rate } from "./counter.ts";
import { nameFilter } from "./filter.ts";
import { readSource } from "./read.ts";
import { HOST, type Sample } from "./sample.ts";

/** Devices the disk collector leaves out unless `devices` says otherwise: pseudo and removable devices. */
export const DISK_DEFAULT_EXCLUDE = ["loop*", "ram*", "zram*", "fd*", "sr*"] as const;

/** The counters of one /proc/diskstats line (Documentation/admin-guide/iostats.rst). */
export interface DiskStats {
  readsCompleted: bigint;
  readsMerged: bigint;
  sectorsRead: bigint;
  readMs: bigint;
  writesCompleted: bigint;
  writesMerged: bigint;
  sectorsWritten: bigint;
  writeMs: bigint;
  /** I/Os currently in progress (a gauge, not a counter). */
  inFlight: bigint;
  ioMs: bigint;
  weightedMs: bigint;
  /** Linux 4.18 and later. */
  discardsCompleted?: bigint;
  discardsMerged?: bigint;
  sectorsDiscarded?: bigint;
  discardMs?: bigint;
  /** Linux 5.5 and later. */
  flushesCompleted?: bigint;
  flushMs?: bigint;
}

const BASE = [
  "readsCompleted",
  "readsMerged",
  "sectorsRead",
  "readMs",
  "writesCompleted",
  "writesMerged",
  "sectorsWritten",
  "writeMs",
  "inFlight",
  "ioMs",
  "weightedMs",
] as const;
const DISCARD = ["discardsCompleted", "discardsMerged", "sectorsDiscarded", "discardMs"] as const;
const FLUSH = ["flushesCompleted", "flushMs"] as const;

/** The lines of /proc/diskstats. */
export interface Diskstats {
  devices: Map<string, DiskStats>;
  /** Lines that could not be read, as found. */
  skipped: string[];
}

/**
 * Parses /proc/diskstats: major, minor, name and 11 counters (14 fields), 15 (18 fields, Linux 4.18) or
 * 17 (20 fields, Linux 5.5). A malformed or short line is skipped and returned in `skipped`; throws when
 * there are lines but none can be read. An empty file (no block devices) is not an error.
 */
export function parseDiskstats(text: string): Diskstats {
  const devices = new Map<string, DiskStats>();
  const skipped: string[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === "") continue;
    const [major, minor, name] = fields;
    const numbers = fields.slice(3);
    if (
      !/^\d+$/.test(major ?? "") ||
      !/^\d+$/.test(minor ?? "") ||
      !name ||
      numbers.length < BASE.length ||
      !numbers.every((n) => /^\d+$/.test(n))
    ) {
      skipped.push(line);
      continue;
    }
    const stats = {} as DiskStats;
    const take = (names: readonly (keyof DiskStats)[], offset: number) =>
      names.forEach((key, i) => {
        stats[key] = BigInt(numbers[offset + i]!);
      });
    take(BASE, 0);
    if (numbers.length >= BASE.length + DISCARD.length) take(DISCARD, BASE.length);
    if (numbers.length >= BASE.length + DISCARD.length + FLUSH.length)
      take(FLUSH, BASE.length + DISCARD.length);
    devices.set(name, stats);
  }
  if (devices.size === 0 && skipped.length > 0)
    throw new Error(`unexpected /proc/diskstats content: ${JSON.stringify(text.slice(0, 80))}`);
  return { devices, skipped };
}

const SECTOR_BYTES = 512;

// The kernel prints the time fields as 32-bit unsigned ints (%u) and the others as unsigned longs, so busy
// disks wrap their millisecond counters after about 49 days.
const WIDTH: Partial<Record<keyof DiskStats, 32>> = { readMs: 32, writeMs: 32, ioMs: 32 };

class DiskCollector implements Collector {
  readonly name = "disk" as const;
  readonly #env: CollectorEnv;
  readonly #include: (device: string) => boolean;
  readonly #counters = new CounterSet();

  constructor(spec: CollectorSpec, env: CollectorEnv) {
    this.#env = env;
    this.#include = nameFilter(spec.devices, DISK_DEFAULT_EXCLUDE);
  }

  async collect() {
    const time = this.#env.now();
    const path = this.#env.paths.proc("diskstats");
    const { devices, skipped } = parseDiskstats(await readSource(path));
    const samples: Sample[] = [];
    for (const [device, stats] of devices) {
      if (!this.#include(device)) continue;
      const rate = (field: keyof DiskStats) =>
        this.#counters.rate(`${device} ${field}`, stats[field] ?? 0n, time, WIDTH[field] ?? 64);
      const reads = rate("readsCompleted");
      const writes = rate("writesCompleted");
      const sectorsRead = rate("sectorsRead");
      const sectorsWritten = rate("sectorsWritten");
      const readMs = rate("readMs");
      const writeMs = rate("writeMs");
      const ioMs = rate("ioMs");
      const labels = { device };
      const push = (metric: string, unit: Sample["unit"], value: number | undefined, ...from: Rate[]) => {
        if (value !== undefined)
          samples.push({ metric, value, unit, source: HOST, labels, ...suspect(from) });
      };
      push("host.disk.read.ops", "ops/s", reads.perSecond, reads);
      push("host.disk.write.ops", "ops/s", writes.perSecond, writes);
      push("host.disk.read.bytes", "bytes/s", scale(sectorsRead.perSecond, SECTOR_BYTES), sectorsRead);
      push("host.disk.write.bytes", "bytes/s", scale(sectorsWritten.perSecond, SECTOR_BYTES), sectorsWritten);
      push("host.disk.read.time", "ms/op", perOp(readMs, reads), readMs, reads);
      push("host.disk.write.time", "ms/op", perOp(writeMs, writes), writeMs, writes);
      // Busy ms per elapsed ms. io_ms is kernel time and the interval is our clock's: their small disagreement
      // must not read as more than 100% busy.
      const busy = scale(ioMs.perSecond, 100 / 1000);
      push(
        "host.disk.utilization.percent",
        "percent",
        busy === undefined ? undefined : Math.min(100, busy),
        ioMs,
      );
    }
    this.#counters.sweep();
    const errors = skipped.map((l) => `${path}: skipped malformed line ${JSON.stringify(l.slice(0, 80))}`);
    return { time, samples, errors };
  }

  async close() {}
}

function scale(value: number | undefined, factor: number): number | undefined {
  return value === undefined ? undefined : value * factor;
}

/** Average ms per completed operation over the interval; 0 when nothing completed. */
function perOp(ms: Rate, ops: Rate): number | undefined {
  if (ms.delta === undefined || ops.delta === undefined) return undefined;
  return ops.delta === 0 ? 0 : ms.delta / ops.delta;
}

function suspect(rates: Rate[]): { suspect?: true } {
  return rates.some((r) => r.suspect) ? { suspect: true } : {};
}

/** `disk`: /proc/diskstats rates per block device (VES diskUsageArray). */
export const diskCollector: CollectorFactory = {
  name: "disk",
  async create(spec: CollectorSpec, env: CollectorEnv) {
    return new DiskCollector(spec, env);
  },
};
