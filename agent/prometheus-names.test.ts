import { describe, expect, it } from "vitest";
import { prometheusLabels, prometheusName } from "./prometheus-names.ts";

describe("prometheusName", () => {
  it.each([
    [{ metric: "vm.interface.rx.bytes.total", unit: "bytes" }, "vesmon_vmi_network_receive_bytes_total"],
    [{ metric: "vm.interface.tx.bytes", unit: "bytes/s" }, "vesmon_vmi_network_transmit_bytes_per_second"],
    [{ metric: "vm.memory.used", unit: "bytes" }, "vesmon_vmi_memory_used_bytes"],
    [{ metric: "vm.cpu.percent", unit: "percent" }, "vesmon_vmi_cpu_percent"],
    [
      { metric: "vm.disk.read.latency", unit: "ms/op" },
      "vesmon_vmi_storage_read_latency_milliseconds_per_op",
    ],
    [{ metric: "host.cpu.usage.percent", unit: "percent" }, "vesmon_host_cpu_usage_percent"],
    [{ metric: "cgroup.pids.current", unit: "count" }, "vesmon_cgroup_pids_current"],
  ] as const)("%j → %s", (sample, name) => {
    expect(prometheusName(sample)).toBe(name);
  });

  it("labels VM series with name and uuid, and sanitises label keys", () => {
    expect(
      prometheusLabels({
        metric: "vm.info",
        value: 1,
        unit: "state",
        source: { kind: "vm", name: "a", uuid: "u" },
        labels: { "vnf.id": "7" },
      }),
    ).toEqual({ name: "a", uuid: "u", vnf_id: "7" });
  });
});
