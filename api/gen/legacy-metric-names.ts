import type { Unit } from "../../agent/collectors/sample.ts";

const UNIT_SUFFIX: Partial<Record<Unit, string>> = {
  percent: "percent",
  bytes: "bytes",
  "bytes/s": "bytes_per_second",
  "packets/s": "packets_per_second",
  "ops/s": "ops_per_second",
  "count/s": "per_second",
  ms: "milliseconds",
  "ms/op": "milliseconds_per_op",
  seconds: "seconds",
};

const WORDS: Record<string, string> = {
  rx: "receive",
  tx: "transmit",
  interface: "network",
  disk: "storage",
};

/**
 * The name vesmon 0.1 gave a sample on /metrics, kept only to generate the migration table in docs/metrics.md
 * (agent/prometheus-names.ts names them now). Shaped like KubeVirt's: `vm.interface.rx.bytes.total` →
 * `vesmon_vmi_network_receive_bytes_total`, `vm.memory.used` (bytes) → `vesmon_vmi_memory_used_bytes`,
 * `host.cpu.usage.percent` → `vesmon_host_cpu_usage_percent`.
 */
export function legacyPrometheusName(s: { metric: string; unit: string }): string {
  const parts = s.metric.split(".");
  const scope = parts.shift() === "vm" ? "vmi" : s.metric.split(".")[0]!;
  const total = parts.at(-1) === "total";
  if (total) parts.pop();
  const words = parts.map((p) => WORDS[p] ?? p);
  const suffix = total ? undefined : UNIT_SUFFIX[s.unit as Unit];
  // `…bytes` in bytes/s reads `…bytes_per_second`, not `…bytes_bytes_per_second`; `…percent` stays once.
  if (suffix && (words.at(-1) === suffix.split("_")[0] || words.join("_").endsWith(suffix))) words.pop();
  return ["vesmon", scope, ...words, ...(suffix ? [suffix] : []), ...(total ? ["total"] : [])]
    .join("_")
    .replace(/[^a-zA-Z0-9_]/g, "_");
}
