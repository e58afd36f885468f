import { usedMemory } from "../collectors/memory.ts";
import { average, type SeriesPicker, summary } from "./aggregate.ts";
import type { CpuUsage, Load, MemoryUsage } from "./types.ts";

/** /proc/stat states and the cpuUsage field each becomes; guest time is already inside user and nice. */
const HOST_CPU_STATES: readonly (readonly [state: string, field: keyof CpuUsage])[] = [
  ["user", "cpuUsageUser"],
  ["nice", "cpuUsageNice"],
  ["system", "cpuUsageSystem"],
  ["idle", "cpuIdle"],
  ["iowait", "cpuWait"],
  ["irq", "cpuUsageInterrupt"],
  ["softirq", "cpuUsageSoftIrq"],
  ["steal", "cpuUsageSteal"],
];

function byCpuOrder(a: string, b: string): number {
  if (a === "total" || b === "total") return a === "total" ? (b === "total" ? 0 : -1) : 1;
  return Number(a) - Number(b);
}

/** Host cpuUsageArray: `total` and `cpu0`, `cpu1`, … with the share of each /proc/stat state, averaged over the window. */
export function hostCpuUsage(p: SeriesPicker): CpuUsage[] {
  const out: CpuUsage[] = [];
  // The accumulated seconds are for Prometheus; VES reports the shares below, so they stay out of the event.
  for (const cpu of p.instances(["host.cpu.seconds.total"], "cpu"))
    for (const state of p.instances(["host.cpu.seconds.total"], "state"))
      p.take("host.cpu.seconds.total", { cpu, state });
  for (const cpu of p.instances(["host.cpu.percent", "host.cpu.usage.percent"], "cpu").sort(byCpuOrder)) {
    const usage = p.take("host.cpu.usage.percent", { cpu });
    const idle = p.peek("host.cpu.percent", { cpu, state: "idle" });
    const wait = p.peek("host.cpu.percent", { cpu, state: "iowait" });
    const percentUsage = usage
      ? average(usage)
      : idle && wait
        ? 100 - average(idle) - average(wait)
        : undefined;
    if (percentUsage === undefined) continue;
    const entry: CpuUsage = { cpuIdentifier: cpu === "total" ? "total" : `cpu${cpu}`, percentUsage };
    for (const [state, field] of HOST_CPU_STATES) {
      const s = p.take("host.cpu.percent", { cpu, state });
      if (s) Object.assign(entry, { [field]: average(s) });
    }
    out.push(entry);
  }
  return out;
}

/**
 * VM cpuUsageArray: `total` (share of the VM's vCPU capacity, with user and system) and `vcpu0`, `vcpu1`, … Steal is
 * the vCPU's delay (runnable, waiting for a host CPU), which is what the guest sees as steal; the total's steal is the
 * mean over the vCPUs.
 */
export function vmCpuUsage(p: SeriesPicker): CpuUsage[] {
  const out: CpuUsage[] = [];
  const vcpus = p
    .instances(["vm.vcpu.percent"], "vcpu")
    .sort((a, b) => Number(a) - Number(b))
    .map((vcpu) => ({
      vcpu,
      usage: p.take("vm.vcpu.percent", { vcpu })!,
      steal: p.peek("vm.vcpu.steal.percent", { vcpu }),
    }));
  const total = p.take("vm.cpu.percent");
  if (total) {
    const entry: CpuUsage = { cpuIdentifier: "total", percentUsage: average(total) };
    const user = p.take("vm.cpu.user.percent");
    const system = p.take("vm.cpu.system.percent");
    if (user) entry.cpuUsageUser = average(user);
    if (system) entry.cpuUsageSystem = average(system);
    const steals = vcpus.map((v) => v.steal).filter((s) => s !== undefined);
    if (steals.length && steals.length === vcpus.length)
      entry.cpuUsageSteal = steals.reduce((sum, s) => sum + average(s), 0) / steals.length;
    out.push(entry);
  }
  for (const { vcpu, usage } of vcpus) {
    const entry: CpuUsage = { cpuIdentifier: `vcpu${vcpu}`, percentUsage: average(usage) };
    const steal = p.take("vm.vcpu.steal.percent", { vcpu });
    if (steal) entry.cpuUsageSteal = average(steal);
    out.push(entry);
  }
  return out;
}

const KIB = 1024;

/**
 * Host memoryUsageArray entry (KiB), named by `vmIdentifier`. memoryUsed is `host.memory.used`, the one definition of
 * used memory (`usedMemory`: total minus free, buffered, cached and slab, as VES defines it), which therefore does not
 * appear again in additionalMeasurements; Slab itself has no field (VES splits it into reclaimable and not,
 * /proc/meminfo's Slab is the sum), so it stays in additionalMeasurements.
 */
export function hostMemoryUsage(p: SeriesPicker, vmIdentifier: string): MemoryUsage[] {
  const free = p.take("host.memory.free");
  if (!free) return [];
  const total = p.take("host.memory.total");
  const buffers = p.take("host.memory.buffers");
  const cached = p.take("host.memory.cached");
  const slab = p.peek("host.memory.slab");
  const reported = p.take("host.memory.used");
  const used = reported
    ? summary(reported)
    : total && buffers && cached && slab
      ? usedMemory({
          total: summary(total),
          free: summary(free),
          buffers: summary(buffers),
          cached: summary(cached),
          slab: summary(slab),
        })
      : undefined;
  if (used === undefined) return [];
  const entry: MemoryUsage = { vmIdentifier, memoryFree: summary(free) / KIB, memoryUsed: used / KIB };
  if (buffers) entry.memoryBuffered = summary(buffers) / KIB;
  if (cached) entry.memoryCached = summary(cached) / KIB;
  if (total) entry.memoryConfigured = summary(total) / KIB;
  entry.percentMemoryUsage = percentOf(entry.memoryUsed, entry.memoryFree);
  return [entry];
}

/** VM memoryUsageArray entry (KiB): configured (balloon maximum), used (available - usable, or RSS) and free. */
export function vmMemoryUsage(p: SeriesPicker, vmIdentifier: string): MemoryUsage[] {
  const usedSeries = p.peek("vm.memory.used");
  const free = p.peek("vm.memory.free");
  if (!usedSeries || !free) return [];
  p.take("vm.memory.used");
  p.take("vm.memory.free");
  const entry: MemoryUsage = {
    vmIdentifier,
    memoryFree: summary(free) / KIB,
    memoryUsed: summary(usedSeries) / KIB,
  };
  const configured = p.take("vm.memory.configured");
  if (configured) entry.memoryConfigured = summary(configured) / KIB;
  p.take("vm.memory.used.percent");
  entry.percentMemoryUsage = percentOf(entry.memoryUsed, entry.memoryFree);
  return [entry];
}

/** VES percentMemoryUsage: used / (used + free) × 100, or 0 when both are 0. */
function percentOf(used: number, free: number): number {
  return used + free > 0 ? (used / (used + free)) * 100 : 0;
}

/** Host loadArray: the last 1, 5 and 15 minute load averages of the window. */
export function hostLoad(p: SeriesPicker): Load[] {
  const entry: Load = {};
  const short = p.take("host.load.shortterm");
  const mid = p.take("host.load.midterm");
  const long = p.take("host.load.longterm");
  if (short) entry.shortTerm = summary(short);
  if (mid) entry.midTerm = summary(mid);
  if (long) entry.longTerm = summary(long);
  return Object.keys(entry).length ? [entry] : [];
}
