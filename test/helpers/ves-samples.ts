// Test data for the VES builder tests: a host with 2 CPUs, memory, load, disk sda and NIC eth0, two VMs with 2 vCPUs,
// memory, a NIC and a disk each, and cgroup figures, over a window of six collections whose values change linearly
// with the collection index `i`, so averages, last values and deltas are easy to state.

import { HOST, type Sample, type Source, type Unit } from "../../agent/collectors/sample.ts";
import type { EventSettings } from "../../api/v1alpha1/types.ts";

/** 2026-01-15 12:00:07.500 UTC: a window start 7.5 s past the minute. */
export const WINDOW_START = Date.UTC(2026, 0, 15, 12, 0, 7, 500);
/** The minute boundary before WINDOW_START, in µs. */
export const WINDOW_BOUNDARY_US = Date.UTC(2026, 0, 15, 12, 0, 0, 0) * 1000;
/** Six collections 10 s apart. */
export const COLLECTIONS = 6;
export const WINDOW_END = WINDOW_START + 60_000;
export const NODE = "node-a";
export const GIB = 1024 ** 3;
export const MIB = 1024 ** 2;

export const VM1: Source = { kind: "vm", name: "vm-alpha", uuid: "6f1c2d3e-0000-4000-8000-000000000001" };
export const VM2: Source = { kind: "vm", name: "vm-beta", uuid: "6f1c2d3e-0000-4000-8000-000000000002" };

/** Host-mode settings; override per test. */
export function settings(over: Partial<EventSettings> = {}): EventSettings {
  return {
    measurementInterval: "60s",
    heartbeatInterval: "30s",
    vesVersion: "7.2.1",
    mode: "host",
    naming: {
      eventNamePublisher: "Vesmon",
      nfNamingCode: "VSMN",
      nfcNamingCode: "AGT",
      nfVendorName: "Vesmon",
    },
    ...over,
  };
}

function make(source: Source) {
  return (
    metric: string,
    value: number,
    unit: Unit,
    labels?: Record<string, string>,
    suspect?: boolean,
  ): Sample => ({
    metric,
    value,
    unit,
    source,
    ...(labels ? { labels } : {}),
    ...(suspect ? { suspect } : {}),
  });
}

/** The host's samples of collection `i`. */
export function hostCollection(i: number): Sample[] {
  const s = make(HOST);
  const out: Sample[] = [];
  for (const cpu of ["total", "0", "1"]) {
    const off = cpu === "1" ? 2 : 0;
    const states: Record<string, number> = {
      user: 10 + i + off,
      nice: 0,
      system: 5,
      idle: 80 - i - off,
      iowait: 3,
      irq: 0,
      softirq: 2,
      steal: 0,
      guest: 0,
      guest_nice: 0,
    };
    for (const [state, v] of Object.entries(states))
      out.push(s("host.cpu.percent", v, "percent", { cpu, state }));
    out.push(s("host.cpu.usage.percent", 17 + i + off, "percent", { cpu }));
  }
  out.push(
    s("host.memory.total", 8 * GIB, "bytes"),
    s("host.memory.free", 2 * GIB - i * MIB, "bytes"),
    s("host.memory.available", 3 * GIB, "bytes"),
    s("host.memory.buffers", 256 * MIB, "bytes"),
    s("host.memory.cached", GIB, "bytes"),
    s("host.memory.slab", 128 * MIB, "bytes"),
    s("host.memory.swap.total", GIB, "bytes"),
    s("host.memory.swap.free", GIB, "bytes"),
    // Used as the memory collector defines it: total - free - buffers - cached - slab.
    s("host.memory.used", 8 * GIB - (2 * GIB - i * MIB) - 256 * MIB - GIB - 128 * MIB, "bytes"),
    s(
      "host.memory.used.percent",
      ((8 * GIB - (2 * GIB - i * MIB) - 256 * MIB - GIB - 128 * MIB) * 100) / (8 * GIB),
      "percent",
    ),
    s("host.memory.free.percent", 37.5, "percent"),
    s("host.load.shortterm", 0.5 + i / 10, "load"),
    s("host.load.midterm", 0.4, "load"),
    s("host.load.longterm", 0.3, "load"),
    s("host.load.running", 2, "count"),
    s("host.load.threads", 300 + i, "count"),
  );
  const sda = { device: "sda" };
  out.push(
    s("host.disk.read.ops", 10 * (i + 1), "ops/s", sda),
    s("host.disk.write.ops", 5, "ops/s", sda),
    s("host.disk.read.bytes", 4096 * 10 * (i + 1), "bytes/s", sda),
    s("host.disk.write.bytes", 4096 * 5, "bytes/s", sda),
    s("host.disk.read.time", 0.5, "ms/op", sda),
    s("host.disk.write.time", 1 + i, "ms/op", sda),
    s("host.disk.utilization.percent", 4, "percent", sda),
  );
  const eth0 = { device: "eth0" };
  for (const [dir, base] of [
    ["rx", 1_000_000],
    ["tx", 500_000],
  ] as const) {
    out.push(
      s(`host.interface.${dir}.bytes`, 100, "bytes/s", eth0),
      s(`host.interface.${dir}.bytes.total`, base + 1000 * i, "bytes", eth0),
      s(`host.interface.${dir}.packets`, 1, "packets/s", eth0),
      s(`host.interface.${dir}.packets.total`, base / 100 + 10 * i, "packets", eth0),
      s(`host.interface.${dir}.errors`, 0, "count/s", eth0),
      s(`host.interface.${dir}.errors.total`, 7, "count", eth0),
      s(`host.interface.${dir}.dropped`, 0, "count/s", eth0),
      s(`host.interface.${dir}.dropped.total`, 3, "count", eth0),
    );
  }
  const scope = {
    path: "/machine.slice/machine-qemu\\x2d1\\x2dvm\\x2dalpha.scope",
    domain: "vm-alpha",
    vmId: "1",
  };
  const system = { path: "/system.slice" };
  out.push(
    s("cgroup.cpu.percent", 20 + i, "percent", scope),
    s("cgroup.memory.usage", 512 * MIB, "bytes", scope),
    s("cgroup.pids.current", 40, "count", scope),
    s("cgroup.cpu.percent", 1, "percent", system),
    s("cgroup.memory.usage", 100 * MIB, "bytes", system),
  );
  return out;
}

/** A VM's samples of collection `i`; `suspectAt` marks vnet0's rx byte total suspect at that collection (a reset). */
export function vmCollection(vm: Source, i: number, suspectAt?: number): Sample[] {
  const s = make(vm);
  const out: Sample[] = [
    s("vm.state", 1, "state", { state: "running" }),
    s("vm.vcpu.count", 2, "count"),
    s("vm.cpu.percent", 30 + i, "percent"),
    s("vm.cpu.user.percent", 20, "percent"),
    s("vm.cpu.system.percent", 10 + i, "percent"),
  ];
  for (const vcpu of ["0", "1"]) {
    out.push(s("vm.vcpu.percent", vcpu === "0" ? 40 + i : 20 + i, "percent", { vcpu }));
    out.push(s("vm.vcpu.steal.percent", vcpu === "0" ? 1 : 3, "percent", { vcpu }));
  }
  out.push(
    s("vm.memory.configured", 2 * GIB, "bytes"),
    s("vm.memory.current", 2 * GIB, "bytes"),
    s("vm.memory.rss", 700 * MIB + i * MIB, "bytes"),
    s("vm.memory.used", 512 * MIB + i * MIB, "bytes", { basis: "guest" }),
    s("vm.memory.free", 1536 * MIB - i * MIB, "bytes"),
    s("vm.memory.used.percent", ((512 + i) / 2048) * 100, "percent"),
  );
  const vnet = { interface: "vnet0" };
  for (const dir of ["rx", "tx"] as const) {
    const suspect = dir === "rx" && i === suspectAt;
    out.push(
      s(`vm.interface.${dir}.bytes`, 200, "bytes/s", vnet),
      s(`vm.interface.${dir}.bytes.total`, 50_000 + 2000 * i, "bytes", vnet, suspect),
      s(`vm.interface.${dir}.packets`, 2, "packets/s", vnet),
      s(`vm.interface.${dir}.packets.total`, 500 + 20 * i, "packets", vnet),
      s(`vm.interface.${dir}.errors`, 0.1, "count/s", vnet),
      s(`vm.interface.${dir}.dropped`, 0, "count/s", vnet),
    );
  }
  const vda = { disk: "vda" };
  out.push(
    s("vm.disk.read.ops", 2 * i, "ops/s", vda),
    s("vm.disk.write.ops", 4, "ops/s", vda),
    s("vm.disk.read.bytes", 8192 * i, "bytes/s", vda),
    s("vm.disk.write.bytes", 16384, "bytes/s", vda),
    s("vm.disk.read.busy", i, "ms", vda),
    s("vm.disk.write.busy", 8, "ms", vda),
    s("vm.disk.read.latency", 0.5, "ms/op", vda),
    s("vm.disk.write.latency", 2, "ms/op", vda),
    s("vm.disk.flush.ops", 0.5, "ops/s", vda),
    s("vm.disk.capacity", 10 * GIB, "bytes", vda),
    s("vm.disk.allocation", 3 * GIB, "bytes", vda),
    s("vm.disk.physical", 3 * GIB, "bytes", vda),
  );
  if (vm === VM1) out.push(s("vm.info", 1, "state", { flavor: "m1.small", project: "demo" }));
  return out;
}

/** The whole window: COLLECTIONS collections of the host and both VMs; VM2's vnet0 rx total is suspect at i = 3. */
export function windowSamples(collections = COLLECTIONS): Sample[] {
  const out: Sample[] = [];
  for (let i = 0; i < collections; i++)
    out.push(...hostCollection(i), ...vmCollection(VM1, i), ...vmCollection(VM2, i, 3));
  return out;
}
