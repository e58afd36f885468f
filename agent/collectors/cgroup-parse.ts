/**
 * Pure parsers for cgroup v1 and v2 interface files. Every counter stays a bigint: cgroup counters are
 * 64-bit and only become numbers once they are deltas or gauges.
 */

/**
 * Limits at or above this are "no limit". v1 writes unlimited as the largest page multiple below 2^63
 * (9223372036854771712 with 4 KiB pages, lower with larger pages), so a threshold catches every page size.
 */
export const UNLIMITED_FROM = 1n << 62n;

const UINT = /^\d+$/;

/** Parses a file holding one unsigned integer (`cpuacct.usage`, `memory.current`, `pids.current`). Throws when it holds anything else. */
export function parseCount(text: string): bigint {
  const token = text.trim();
  if (!UINT.test(token))
    throw new Error(`expected an unsigned integer, got ${JSON.stringify(text.slice(0, 40))}`);
  return BigInt(token);
}

/**
 * Parses a limit file (`memory.max`, `pids.max`, `memory.limit_in_bytes`): `max` and the huge v1 values
 * mean unlimited and give undefined. Throws on anything else that is not an unsigned integer.
 */
export function parseLimit(text: string): bigint | undefined {
  if (text.trim() === "max") return undefined;
  const value = parseCount(text);
  return value >= UNLIMITED_FROM ? undefined : value;
}

/**
 * Parses a flat keyed file (`key value` lines: `cpu.stat`, `cpuacct.stat`, `memory.stat`). Lines whose value
 * is not an unsigned integer are skipped, so fields added by newer kernels in other formats do no harm.
 */
export function parseKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const [key, value, extra] = line.trim().split(/\s+/);
    if (key && value && extra === undefined && UINT.test(value)) out.set(key, BigInt(value));
  }
  return out;
}

function required(map: Map<string, bigint>, key: string, file: string): bigint {
  const value = map.get(key);
  if (value === undefined) throw new Error(`${file} has no ${key}`);
  return value;
}

/** v2 `cpu.stat`, in microseconds. The throttling fields exist only where the cpu controller is enabled. */
export interface CpuStatV2 {
  usageUsec: bigint;
  userUsec: bigint;
  systemUsec: bigint;
  nrThrottled?: bigint;
  throttledUsec?: bigint;
}

/** Parses v2 `cpu.stat`. Throws when usage_usec, user_usec or system_usec is missing. */
export function parseCpuStatV2(text: string): CpuStatV2 {
  const map = parseKeyed(text);
  const stat: CpuStatV2 = {
    usageUsec: required(map, "usage_usec", "cpu.stat"),
    userUsec: required(map, "user_usec", "cpu.stat"),
    systemUsec: required(map, "system_usec", "cpu.stat"),
  };
  const nrThrottled = map.get("nr_throttled");
  const throttledUsec = map.get("throttled_usec");
  if (nrThrottled !== undefined) stat.nrThrottled = nrThrottled;
  if (throttledUsec !== undefined) stat.throttledUsec = throttledUsec;
  return stat;
}

/** v1 `cpuacct.stat`, in USER_HZ ticks. */
export interface CpuacctStat {
  userTicks: bigint;
  systemTicks: bigint;
}

/** Parses v1 `cpuacct.stat` (`user 10957` / `system 4379`). Throws when either line is missing. */
export function parseCpuacctStat(text: string): CpuacctStat {
  const map = parseKeyed(text);
  return {
    userTicks: required(map, "user", "cpuacct.stat"),
    systemTicks: required(map, "system", "cpuacct.stat"),
  };
}

/** Anonymous and page-cache memory of a cgroup, in bytes; a field is absent when the file lacks it. */
export interface MemoryStat {
  rss?: bigint;
  cache?: bigint;
}

/**
 * Parses `memory.stat`. v2 reports `anon` and `file`, already hierarchical. v1 reports the cgroup's own
 * `rss`/`cache` and the hierarchical `total_rss`/`total_cache`; the totals win because a VM scope's pages
 * are charged to its emulator and vcpu children.
 */
export function parseMemoryStat(text: string, version: 1 | 2): MemoryStat {
  const map = parseKeyed(text);
  const rss = version === 2 ? map.get("anon") : (map.get("total_rss") ?? map.get("rss"));
  const cache = version === 2 ? map.get("file") : (map.get("total_cache") ?? map.get("cache"));
  const stat: MemoryStat = {};
  if (rss !== undefined) stat.rss = rss;
  if (cache !== undefined) stat.cache = cache;
  return stat;
}

/** One device line of v2 `io.stat`: its `MAJ:MIN` and whichever `key=value` counters it carries. */
export interface IoStatDevice {
  device: string;
  counters: Record<string, bigint>;
}

/**
 * Parses v2 `io.stat` (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`). A device may carry only some
 * keys; non-integer values (iocost's `cost.vrate=100.00`) are skipped. An empty file gives no devices.
 */
export function parseIoStat(text: string): IoStatDevice[] {
  const devices: IoStatDevice[] = [];
  for (const line of text.split("\n")) {
    const [device, ...fields] = line.trim().split(/\s+/);
    if (!device || !/^\d+:\d+$/.test(device)) continue;
    const counters: Record<string, bigint> = {};
    for (const field of fields) {
      const eq = field.indexOf("=");
      const value = field.slice(eq + 1);
      if (eq > 0 && UINT.test(value)) counters[field.slice(0, eq)] = BigInt(value);
    }
    devices.push({ device, counters });
  }
  return devices;
}

/** I/O of a cgroup summed over its devices: bytes and operations since the cgroup was created. */
export interface IoTotals {
  readBytes: bigint;
  writeBytes: bigint;
  readOps: bigint;
  writeOps: bigint;
}

/** Sums v2 `io.stat` devices; a key a device lacks counts as zero. */
export function sumIoStat(devices: readonly IoStatDevice[]): IoTotals {
  const totals: IoTotals = { readBytes: 0n, writeBytes: 0n, readOps: 0n, writeOps: 0n };
  for (const { counters } of devices) {
    totals.readBytes += counters.rbytes ?? 0n;
    totals.writeBytes += counters.wbytes ?? 0n;
    totals.readOps += counters.rios ?? 0n;
    totals.writeOps += counters.wios ?? 0n;
  }
  return totals;
}

/** One line of a v1 `blkio.throttle.*` file; the bare summary line (`Total 0`) has no device. */
export interface BlkioEntry {
  device?: string;
  op: string;
  value: bigint;
}

/** Parses a v1 blkio file (`254:0 Read 4096`, …, `254:0 Total 8192`, and a bare `Total 8192` at the end). */
export function parseBlkio(text: string): BlkioEntry[] {
  const entries: BlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const parts = line.trim().split(/\s+/);
    if (parts.length === 3 && /^\d+:\d+$/.test(parts[0] ?? "") && UINT.test(parts[2] ?? ""))
      entries.push({ device: parts[0], op: parts[1] ?? "", value: BigInt(parts[2] ?? "0") });
    else if (parts.length === 2 && UINT.test(parts[1] ?? ""))
      entries.push({ op: parts[0] ?? "", value: BigInt(parts[1] ?? "0") });
  }
  return entries;
}

function sumOp(entries: readonly BlkioEntry[], op: string): bigint {
  let sum = 0n;
  for (const e of entries) if (e.device !== undefined && e.op === op) sum += e.value;
  return sum;
}

/** Sums the per-device Read and Write lines of v1 `io_service_bytes` and `io_serviced`. */
export function sumBlkio(serviceBytes: readonly BlkioEntry[], serviced: readonly BlkioEntry[]): IoTotals {
  return {
    readBytes: sumOp(serviceBytes, "Read"),
    writeBytes: sumOp(serviceBytes, "Write"),
    readOps: sumOp(serviced, "Read"),
    writeOps: sumOp(serviced, "Write"),
  };
}
