import { METRICS, METRICS_BY_NAME } from "../api/v1alpha1/metrics.ts";
import type { Sample, Unit } from "./collectors/sample.ts";

/** How one catalogue metric appears on /metrics. */
export interface PrometheusSeries {
  name: string;
  type: "counter" | "gauge";
  /** Multiplies the sample's value into the base unit (percent → ratio: 0.01; milliseconds → seconds: 0.001). */
  scale: number;
  help: string;
}

/** A unit's base-unit suffix and the factor into it. */
const UNITS: Partial<Record<Unit, { suffix: string; scale: number }>> = {
  percent: { suffix: "ratio", scale: 0.01 },
  bytes: { suffix: "bytes", scale: 1 },
  "bytes/s": { suffix: "bytes_per_second", scale: 1 },
  packets: { suffix: "packets", scale: 1 },
  "packets/s": { suffix: "packets_per_second", scale: 1 },
  "ops/s": { suffix: "ops_per_second", scale: 1 },
  "count/s": { suffix: "per_second", scale: 1 },
  ms: { suffix: "seconds", scale: 0.001 },
  "ms/op": { suffix: "seconds", scale: 0.001 },
  seconds: { suffix: "seconds", scale: 1 },
};

/**
 * Names that node_exporter (host) or KubeVirt (kubevirt_vmi_*) give the same figure, with our prefix; also the
 * gauges whose catalogue name ends in `total` without being a counter, and figures whose unit needs a reading
 * the generic rule cannot give (milliseconds busy per second is a ratio).
 */
const OVERRIDES: Readonly<Record<string, { name: string; scale?: number; type?: "counter" | "gauge" }>> = {
  "host.memory.total": { name: "vesmon_host_memory_total_bytes", type: "gauge" },
  "host.memory.swap.total": { name: "vesmon_host_memory_swap_total_bytes", type: "gauge" },
  "host.load.shortterm": { name: "vesmon_host_load1" },
  "host.load.midterm": { name: "vesmon_host_load5" },
  "host.load.longterm": { name: "vesmon_host_load15" },
  "host.interface.rx.errors.total": { name: "vesmon_host_network_receive_errs_total" },
  "host.interface.tx.errors.total": { name: "vesmon_host_network_transmit_errs_total" },
  "host.interface.rx.dropped.total": { name: "vesmon_host_network_receive_drop_total" },
  "host.interface.tx.dropped.total": { name: "vesmon_host_network_transmit_drop_total" },
  "vm.vcpu.count": { name: "vesmon_vmi_vcpus" },
  "vm.cpu.percent": { name: "vesmon_vmi_cpu_usage_ratio" },
  "vm.vcpu.percent": { name: "vesmon_vmi_vcpu_usage_ratio" },
  "vm.memory.configured": { name: "vesmon_vmi_memory_domain_bytes" },
  "vm.memory.current": { name: "vesmon_vmi_memory_actual_balloon_bytes" },
  "vm.memory.rss": { name: "vesmon_vmi_memory_resident_bytes" },
  "vm.interface.rx.dropped": { name: "vesmon_vmi_network_receive_packets_dropped_per_second" },
  "vm.interface.tx.dropped": { name: "vesmon_vmi_network_transmit_packets_dropped_per_second" },
  "vm.disk.read.bytes": { name: "vesmon_vmi_storage_read_traffic_bytes_per_second" },
  "vm.disk.write.bytes": { name: "vesmon_vmi_storage_write_traffic_bytes_per_second" },
  "vm.disk.read.busy": { name: "vesmon_vmi_storage_read_busy_ratio", scale: 0.001 },
  "vm.disk.write.busy": { name: "vesmon_vmi_storage_write_busy_ratio", scale: 0.001 },
  "cgroup.cpu.percent": { name: "vesmon_cgroup_cpu_usage_ratio" },
};

/**
 * Figures left out of /metrics because a counter of the same thing is there and PromQL's `rate()` derives
 * them: per-second network figures beside `…_total`, and the CPU shares beside `vesmon_host_cpu_seconds_total`.
 */
export function derivedFromCounter(metric: string): boolean {
  if (metric === "host.cpu.percent" || metric === "host.cpu.usage.percent") return true;
  const info = METRICS_BY_NAME.get(metric);
  return !!info && info.unit.endsWith("/s") && METRICS_BY_NAME.has(`${metric}.total`);
}

const WORDS: Record<string, string> = { rx: "receive", tx: "transmit", interface: "network" };

/**
 * How a catalogue metric is exposed, or undefined when it is not (a rate a counter gives). Names are
 * `vesmon_<scope>_<words>_<base unit>`: scope `host`, `vmi` (as KubeVirt) or `cgroup`; `rx`/`tx` read
 * `receive`/`transmit`, a VM's `disk` reads `storage` (KubeVirt) and a host's stays `disk` (node_exporter);
 * accumulated counters (`….total`) are counters ending in `_total`.
 */
export function prometheusSeries(metric: string, unit: string): PrometheusSeries | undefined {
  if (derivedFromCounter(metric)) return undefined;
  const info = METRICS_BY_NAME.get(metric);
  const override = OVERRIDES[metric];
  const parts = metric.split(".");
  const scope = parts.shift() === "vm" ? "vmi" : metric.split(".")[0]!;
  const counter = override?.type ? override.type === "counter" : parts.at(-1) === "total";
  if (parts.at(-1) === "total") parts.pop();
  const base = UNITS[unit as Unit];
  const words = parts.map((p) => (scope === "vmi" && p === "disk" ? "storage" : (WORDS[p] ?? p)));
  // The unit's own word says it once: `…bytes` in bytes/s, `…percent` as a ratio, `…ops` in ops/s.
  const last = words.at(-1);
  if (base && (last === "percent" || base.suffix.startsWith(`${last}`))) words.pop();
  const name =
    override?.name ??
    ["vesmon", scope, ...words, ...(base ? [base.suffix] : []), ...(counter ? ["total"] : [])].join("_");
  const scale = override?.scale ?? base?.scale ?? 1;
  const described = info?.description ?? metric;
  return {
    name: name.replace(/[^a-zA-Z0-9_]/g, "_"),
    type: counter ? "counter" : "gauge",
    scale,
    help: `${described} (${metric}${scale === 1 ? "" : `, in ${base?.suffix ?? "ratio"}`}).`,
  };
}

/** The exposition of every catalogue metric, in catalogue order, with the metric it comes from. */
export function prometheusCatalogue(): { metric: string; unit: string; series?: PrometheusSeries }[] {
  return METRICS.map((m) => {
    const series = prometheusSeries(m.name, m.unit);
    return { metric: m.name, unit: m.unit, ...(series ? { series } : {}) };
  });
}

/** Labels Prometheus sets or reads itself; a sample label with one of these names is prefixed `exported_`. */
const RESERVED = new Set(["job", "instance", "le", "quantile", "profile", "name", "uuid"]);

/** `vmId` → `vm_id`, `vnf.id` → `vnf_id`: Prometheus label names are snake_case. */
export function labelName(key: string): string {
  const snake = key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_");
  const safe = /^[0-9]/.test(snake) ? `_${snake}` : snake;
  return RESERVED.has(safe) || safe.startsWith("__") ? `exported_${safe.replace(/^_+/, "")}` : safe;
}

/** Prometheus labels for a sample: the VM's name and UUID, then the sample's own labels (snake_case keys). */
export function prometheusLabels(s: Sample): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.labels ?? {})) out[labelName(k)] = v;
  if (s.source.kind === "vm") Object.assign(out, { name: s.source.name, uuid: s.source.uuid });
  return out;
}
