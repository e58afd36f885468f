import { describe, expect, it } from "vitest";
import { METRICS } from "../api/v1alpha1/metrics.ts";
import { labelName, prometheusCatalogue, prometheusLabels, prometheusSeries } from "./prometheus-names.ts";

describe("prometheusSeries", () => {
  it.each([
    ["vm.interface.rx.bytes.total", "bytes", "vesmon_vmi_network_receive_bytes_total", "counter", 1],
    ["host.interface.tx.dropped.total", "count", "vesmon_host_network_transmit_drop_total", "counter", 1],
    ["host.cpu.seconds.total", "seconds", "vesmon_host_cpu_seconds_total", "counter", 1],
    ["host.memory.total", "bytes", "vesmon_host_memory_total_bytes", "gauge", 1],
    ["host.memory.swap.total", "bytes", "vesmon_host_memory_swap_total_bytes", "gauge", 1],
    ["host.load.shortterm", "load", "vesmon_host_load1", "gauge", 1],
    ["vm.memory.configured", "bytes", "vesmon_vmi_memory_domain_bytes", "gauge", 1],
    ["vm.memory.used", "bytes", "vesmon_vmi_memory_used_bytes", "gauge", 1],
    ["vm.cpu.percent", "percent", "vesmon_vmi_cpu_usage_ratio", "gauge", 0.01],
    ["vm.vcpu.count", "count", "vesmon_vmi_vcpus", "gauge", 1],
    ["vm.disk.read.latency", "ms/op", "vesmon_vmi_storage_read_latency_seconds", "gauge", 0.001],
    ["vm.disk.read.busy", "ms", "vesmon_vmi_storage_read_busy_ratio", "gauge", 0.001],
    ["vm.disk.read.ops", "ops/s", "vesmon_vmi_storage_read_ops_per_second", "gauge", 1],
    ["host.disk.read.time", "ms/op", "vesmon_host_disk_read_time_seconds", "gauge", 0.001],
    ["host.disk.utilization.percent", "percent", "vesmon_host_disk_utilization_ratio", "gauge", 0.01],
    ["cgroup.pids.current", "count", "vesmon_cgroup_pids_current", "gauge", 1],
  ] as const)("%s (%s) → %s %s ×%d", (metric, unit, name, type, scale) => {
    expect(prometheusSeries(metric, unit)).toMatchObject({ name, type, scale });
  });

  it("leaves out rates that a counter of the same thing gives through rate()", () => {
    expect(prometheusSeries("host.interface.rx.bytes", "bytes/s")).toBeUndefined();
    expect(prometheusSeries("vm.interface.tx.packets", "packets/s")).toBeUndefined();
    expect(prometheusSeries("host.cpu.percent", "percent")).toBeUndefined();
    // libvirt gives no error counter for a VM's NIC, so its rate stays.
    expect(prometheusSeries("vm.interface.rx.errors", "count/s")?.name).toBe(
      "vesmon_vmi_network_receive_errors_per_second",
    );
  });

  it("gives every catalogue metric a distinct, conventional name in base units", () => {
    const names = prometheusCatalogue().flatMap((c) => (c.series ? [c.series] : []));
    expect(new Set(names.map((n) => n.name)).size).toBe(names.length);
    for (const s of names) {
      expect(s.name).toMatch(/^vesmon_(host|vmi|cgroup)_[a-z0-9_]+$/);
      expect(s.name.endsWith("_total"), s.name).toBe(s.type === "counter");
      expect(s.name, "base units only").not.toMatch(/percent|milli|_ms_|_count$|kib/);
    }
    expect(names.length).toBeGreaterThan(METRICS.length / 2);
  });
});

describe("prometheus labels", () => {
  it("labels VM series with name and uuid, and makes label names snake_case", () => {
    expect(
      prometheusLabels({
        metric: "vm.info",
        value: 1,
        unit: "state",
        source: { kind: "vm", name: "a", uuid: "u" },
        labels: { "vnf.id": "7", vmId: "x" },
      }),
    ).toEqual({ name: "a", uuid: "u", vnf_id: "7", vm_id: "x" });
  });

  it("keeps labels Prometheus or the agent set out of the sample's own", () => {
    expect(["job", "instance", "profile", "__x", "0day"].map(labelName)).toEqual([
      "exported_job",
      "exported_instance",
      "exported_profile",
      "exported_x",
      "_0day",
    ]);
  });
});
