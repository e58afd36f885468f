import { readFileSync } from "node:fs";

/** What the sampler reads at one instant, straight from /proc, /sys and the cgroup files. */
export interface Reading {
  /** Wall clock, ms. */
  t: number;
  /** /proc/stat aggregate line: busy (all but idle and iowait) and total jiffies over user … steal. */
  hostBusy: number;
  hostTotal: number;
  /** Used memory as the agent defines it (total − free − buffers − cached − slab), KiB. */
  hostUsedKiB: number;
  /** Per QEMU pid: utime + stime (jiffies) of the whole process, and RSS in KiB. */
  qemu: Map<number, { ticks: number; rssKiB: number }>;
  /** Per cgroup cpu.stat path: usage_usec. */
  cgroups: Map<string, number>;
  /** Per tap: the host side's counters. */
  taps: Map<string, { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }>;
  /** Per block device: its /proc/diskstats counters (sectors of 512 bytes, whatever the device's block size). */
  disks: Map<string, DiskCount>;
}

/** The /proc/diskstats counters the disk collector turns into rates (Documentation/admin-guide/iostats.rst). */
export interface DiskCount {
  reads: number;
  writes: number;
  sectorsRead: number;
  sectorsWritten: number;
}

/** The named devices' lines of /proc/diskstats: fields 4, 6 and 8, 10 after major, minor and name. */
function diskstats(devices: readonly string[]): Map<string, DiskCount> {
  const out = new Map<string, DiskCount>();
  if (devices.length === 0) return out;
  for (const line of readFileSync("/proc/diskstats", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (!devices.includes(f[2] ?? "")) continue;
    const n = f.slice(3).map(Number);
    out.set(f[2]!, { reads: n[0]!, sectorsRead: n[2]!, writes: n[4]!, sectorsWritten: n[6]! });
  }
  return out;
}

const num = (path: string) => Number(readFileSync(path, "utf8").trim());

function hostCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

function meminfoUsedKiB(): number {
  const m = new Map<string, number>();
  for (const l of readFileSync("/proc/meminfo", "utf8").split("\n")) {
    const x = /^(\w+):\s+(\d+)/.exec(l);
    if (x) m.set(x[1]!, Number(x[2]));
  }
  const g = (k: string) => m.get(k) ?? 0;
  return Math.max(0, g("MemTotal") - g("MemFree") - g("Buffers") - g("Cached") - g("Slab"));
}

function qemuProc(pid: number): { ticks: number; rssKiB: number } {
  // Fields after the command (which may hold spaces) start at field 3: utime and stime are fields 14 and 15.
  const after = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const rssPages = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
  return { ticks: Number(after[11]) + Number(after[12]), rssKiB: rssPages * 4 };
}

/** Reads everything once. */
export function read(
  pids: readonly number[],
  taps: readonly string[],
  cgroups: readonly string[] = [],
  disks: readonly string[] = [],
): Reading {
  const t = Date.now();
  const cpu = hostCpu();
  const r: Reading = {
    t,
    hostBusy: cpu.busy,
    hostTotal: cpu.total,
    hostUsedKiB: meminfoUsedKiB(),
    qemu: new Map(),
    taps: new Map(),
    cgroups: new Map(),
    disks: diskstats(disks),
  };
  for (const path of cgroups) {
    const m = /usage_usec (\d+)/.exec(readFileSync(path, "utf8").toString());
    if (m) r.cgroups.set(path, Number(m[1]));
  }
  for (const pid of pids) {
    try {
      r.qemu.set(pid, qemuProc(pid));
    } catch {
      // the guest was destroyed
    }
  }
  for (const tap of taps) {
    const s = (n: string) => num(`/sys/class/net/${tap}/statistics/${n}`);
    try {
      r.taps.set(tap, {
        rxBytes: s("rx_bytes"),
        txBytes: s("tx_bytes"),
        rxPackets: s("rx_packets"),
        txPackets: s("tx_packets"),
      });
    } catch {
      // the tap went with its guest
    }
  }
  return r;
}

/** Reads every `everyMs` until stopped, keeping every reading. */
export class Sampler {
  readonly readings: Reading[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(
    pids: readonly number[],
    taps: readonly string[],
    cgroups: readonly string[] = [],
    disks: readonly string[] = [],
    everyMs = 50,
  ) {
    const once = () => {
      try {
        this.readings.push(read(pids, taps, cgroups, disks));
      } catch {
        // a guest's files went away with it
      }
    };
    once();
    this.#timer = setInterval(once, everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** A figure at `t`, interpolated linearly between the readings either side. */
  at(t: number, pick: (r: Reading) => number | undefined): number | undefined {
    const rs = this.readings;
    const i = rs.findIndex((r) => r.t >= t);
    if (i <= 0) return undefined;
    const a = rs[i - 1]!;
    const b = rs[i]!;
    const va = pick(a);
    const vb = pick(b);
    if (va === undefined || vb === undefined) return undefined;
    if (b.t === a.t) return vb;
    return va + ((vb - va) * (t - a.t)) / (b.t - a.t);
  }

  /** The readings within `ms` of `t`. */
  near(t: number, ms: number): Reading[] {
    return this.readings.filter((r) => Math.abs(r.t - t) <= ms);
  }
}
