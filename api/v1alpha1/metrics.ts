import type { CollectorName } from "./collectors.ts";

/** One metric the agent emits: which collector makes it, its unit, the labels that tell instances apart. */
export interface MetricInfo {
  name: string;
  collector: CollectorName;
  unit: string;
  labels: readonly string[];
  description: string;
}

type Row = [name: string, unit: string, labels: string, description: string];

function group(collector: CollectorName, rows: Row[]): MetricInfo[] {
  return rows.map(([name, unit, labels, description]) => ({
    name,
    collector,
    unit,
    labels: labels ? labels.split(",") : [],
    description,
  }));
}

const dirs = (prefix: string, unit: string, labels: string, what: string, directions = ["rx", "tx"]): Row[] =>
  directions.map((d) => [
    `${prefix}.${d}.${what}`,
    unit,
    labels,
    `${d === "rx" ? "Received" : "Transmitted"} ${what}`,
  ]);

/**
 * Every metric name the collectors emit. Thresholds name these; the operator checks profiles against this
 * list, and a test checks the collectors against it (names, units, collectors).
 */
export const METRICS: readonly MetricInfo[] = [
  ...group("cpu", [
    [
      "host.cpu.percent",
      "percent",
      "cpu,state",
      "Share of CPU time per state (user … guest_nice) over the interval; cpu is total or the CPU number",
    ],
    ["host.cpu.usage.percent", "percent", "cpu", "CPU busy: 100 minus idle and iowait"],
    [
      "host.cpu.seconds.total",
      "seconds",
      "cpu,state",
      "CPU time per state since boot (/proc/stat at USER_HZ 100), as node_cpu_seconds_total; not in VES events",
    ],
  ]),
  ...group("memory", [
    ["host.memory.total", "bytes", "", "MemTotal"],
    ["host.memory.free", "bytes", "", "MemFree"],
    ["host.memory.available", "bytes", "", "MemAvailable"],
    ["host.memory.buffers", "bytes", "", "Buffers"],
    ["host.memory.cached", "bytes", "", "Cached"],
    ["host.memory.slab", "bytes", "", "Slab"],
    ["host.memory.swap.total", "bytes", "", "SwapTotal"],
    ["host.memory.swap.free", "bytes", "", "SwapFree"],
    [
      "host.memory.used",
      "bytes",
      "",
      "MemTotal − MemFree − Buffers − Cached − Slab: the one definition of used memory (VES memoryUsed)",
    ],
    ["host.memory.used.percent", "percent", "", "host.memory.used as a share of MemTotal"],
    ["host.memory.free.percent", "percent", "", "Available share of MemTotal"],
  ]),
  ...group("load", [
    ["host.load.shortterm", "load", "", "1-minute load average"],
    ["host.load.midterm", "load", "", "5-minute load average"],
    ["host.load.longterm", "load", "", "15-minute load average"],
    ["host.load.running", "count", "", "Runnable tasks"],
    ["host.load.threads", "count", "", "Tasks in total"],
  ]),
  ...group("disk", [
    ["host.disk.read.ops", "ops/s", "device", "Reads completed per second"],
    ["host.disk.write.ops", "ops/s", "device", "Writes completed per second"],
    ["host.disk.read.bytes", "bytes/s", "device", "Bytes read per second"],
    ["host.disk.write.bytes", "bytes/s", "device", "Bytes written per second"],
    ["host.disk.read.time", "ms/op", "device", "Average time per read"],
    ["host.disk.write.time", "ms/op", "device", "Average time per write"],
    ["host.disk.utilization.percent", "percent", "device", "Share of time the device was busy"],
  ]),
  ...group("interface", [
    ...dirs("host.interface", "bytes/s", "device", "bytes"),
    ...dirs("host.interface", "packets/s", "device", "packets"),
    ...dirs("host.interface", "count/s", "device", "errors"),
    ...dirs("host.interface", "count/s", "device", "dropped"),
    ...dirs("host.interface", "bytes", "device", "bytes.total"),
    ...dirs("host.interface", "packets", "device", "packets.total"),
    ...dirs("host.interface", "count", "device", "errors.total"),
    ...dirs("host.interface", "count", "device", "dropped.total"),
  ]),
  ...group("cgroups", [
    [
      "cgroup.cpu.percent",
      "percent",
      "path,domain,vmId",
      "CPU used by the cgroup, percent of one CPU (can exceed 100)",
    ],
    ["cgroup.cpu.user.percent", "percent", "path,domain,vmId", "User-mode share, percent of one CPU"],
    ["cgroup.cpu.system.percent", "percent", "path,domain,vmId", "Kernel-mode share, percent of one CPU"],
    [
      "cgroup.cpu.throttled.percent",
      "percent",
      "path,domain,vmId",
      "Time throttled by the CPU quota, percent of wall time",
    ],
    ["cgroup.memory.usage", "bytes", "path,domain,vmId", "Memory charged to the cgroup"],
    ["cgroup.memory.limit", "bytes", "path,domain,vmId", "Memory limit, when there is one"],
    ["cgroup.memory.usage.percent", "percent", "path,domain,vmId", "Usage share of the limit"],
    ["cgroup.memory.rss", "bytes", "path,domain,vmId", "Anonymous memory"],
    ["cgroup.memory.cache", "bytes", "path,domain,vmId", "Page cache"],
    ["cgroup.io.read.bytes", "bytes/s", "path,domain,vmId", "Bytes read per second, all devices"],
    ["cgroup.io.write.bytes", "bytes/s", "path,domain,vmId", "Bytes written per second, all devices"],
    ["cgroup.io.read.ops", "ops/s", "path,domain,vmId", "Reads per second, all devices"],
    ["cgroup.io.write.ops", "ops/s", "path,domain,vmId", "Writes per second, all devices"],
    ["cgroup.pids.current", "count", "path,domain,vmId", "Tasks in the cgroup"],
    ["cgroup.pids.limit", "count", "path,domain,vmId", "Task limit, when there is one"],
  ]),
  ...group("virt", [
    ["vm.info", "state", "*", "Always 1; labels carry the domain's <metadata> flattened (vnf.id, …)"],
    [
      "vm.state",
      "state",
      "state",
      "Domain state code (1 running, 3 paused, 5 shutoff, 6 crashed…), name in the label",
    ],
    ["vm.vcpu.count", "count", "", "vCPUs the domain has"],
    ["vm.cpu.percent", "percent", "", "CPU used by the VM, percent of its vCPUs' capacity"],
    ["vm.cpu.user.percent", "percent", "", "User-mode part of vm.cpu.percent"],
    ["vm.cpu.system.percent", "percent", "", "Kernel-mode part of vm.cpu.percent"],
    ["vm.vcpu.percent", "percent", "vcpu", "Busy share of one vCPU"],
    ["vm.vcpu.steal.percent", "percent", "vcpu", "Time the vCPU waited for a host CPU"],
    ["vm.memory.configured", "bytes", "", "Maximum memory (balloon.maximum)"],
    ["vm.memory.current", "bytes", "", "Current balloon size"],
    ["vm.memory.available", "bytes", "", "Memory the guest sees (needs the guest balloon driver)"],
    ["vm.memory.usable", "bytes", "", "Memory the guest could use without swapping (guest driver)"],
    ["vm.memory.unused", "bytes", "", "Memory the guest leaves unused (guest driver)"],
    ["vm.memory.rss", "bytes", "", "Resident memory of the QEMU process"],
    ["vm.memory.used", "bytes", "basis", "available − usable from the guest, else RSS (basis says which)"],
    ["vm.memory.free", "bytes", "", "configured − used"],
    ["vm.memory.used.percent", "percent", "", "used share of configured"],
    ...dirs("vm.interface", "bytes/s", "interface", "bytes"),
    ...dirs("vm.interface", "packets/s", "interface", "packets"),
    ...dirs("vm.interface", "count/s", "interface", "errors"),
    ...dirs("vm.interface", "count/s", "interface", "dropped"),
    ...dirs("vm.interface", "bytes", "interface", "bytes.total"),
    ...dirs("vm.interface", "packets", "interface", "packets.total"),
    ["vm.disk.read.ops", "ops/s", "disk", "Reads per second"],
    ["vm.disk.write.ops", "ops/s", "disk", "Writes per second"],
    ["vm.disk.read.bytes", "bytes/s", "disk", "Bytes read per second"],
    ["vm.disk.write.bytes", "bytes/s", "disk", "Bytes written per second"],
    ["vm.disk.read.busy", "ms", "disk", "Milliseconds spent reading per second"],
    ["vm.disk.write.busy", "ms", "disk", "Milliseconds spent writing per second"],
    ["vm.disk.read.latency", "ms/op", "disk", "Average time per read"],
    ["vm.disk.write.latency", "ms/op", "disk", "Average time per write"],
    ["vm.disk.flush.ops", "ops/s", "disk", "Flushes per second"],
    ["vm.disk.capacity", "bytes", "disk", "Virtual size"],
    ["vm.disk.allocation", "bytes", "disk", "Highest allocated extent"],
    ["vm.disk.physical", "bytes", "disk", "Size on the host"],
  ]),
];

/** Metric info by name. */
export const METRICS_BY_NAME: ReadonlyMap<string, MetricInfo> = new Map(METRICS.map((m) => [m.name, m]));
