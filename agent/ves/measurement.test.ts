import { describe, expect, it } from "vitest";
import {
  GIB,
  hostCollection,
  MIB,
  NODE,
  settings,
  VM1,
  VM2,
  vmCollection,
  WINDOW_BOUNDARY_US,
  WINDOW_END,
  WINDOW_START,
  windowSamples,
} from "../../test/helpers/ves-samples.ts";
import type { Sample } from "../collectors/sample.ts";
import { EventIdSequence } from "./ids.ts";
import { buildMeasurementEvents, type MeasurementInput } from "./measurement.ts";
import type { Event5, Event7, NamedHashMap } from "./types.ts";

function build(over: Partial<MeasurementInput> = {}, ids = new EventIdSequence("measurement")) {
  return buildMeasurementEvents({
    samples: windowSamples(),
    windowStart: WINDOW_START,
    windowEnd: WINDOW_END,
    intervalSeconds: 60,
    settings: settings(),
    node: NODE,
    version: "7.2.1",
    nextId: () => ids.next(),
    ...over,
  });
}

function build7(over: Partial<MeasurementInput> = {}): Event7[] {
  return build(over) as Event7[];
}

function fields(events: Event7[], sourceName: string) {
  const e = events.find((x) => x.commonEventHeader.sourceName === sourceName);
  if (!e?.measurementFields) throw new Error(`no event for ${sourceName}`);
  return e.measurementFields;
}

function additional(list: NamedHashMap[] | undefined, name: string, match: Record<string, string> = {}) {
  return list?.find((m) => m.name === name && Object.entries(match).every(([k, v]) => m.hashMap[k] === v))
    ?.hashMap;
}

describe("buildMeasurementEvents (7.2.1)", () => {
  it("builds exactly one event per source: the host first, then each VM by name and UUID", () => {
    const events = build7();
    expect(events.map((e) => e.commonEventHeader.sourceName)).toEqual([NODE, "vm-alpha", "vm-beta"]);
    const [host, vm1, vm2] = events.map((e) => e.commonEventHeader);
    expect(host).not.toHaveProperty("sourceId");
    expect(vm1?.sourceId).toBe(VM1.kind === "vm" ? VM1.uuid : "");
    expect(vm2?.sourceId).toBe(VM2.kind === "vm" ? VM2.uuid : "");
    for (const h of [host, vm1, vm2]) {
      expect(h).toMatchObject({
        domain: "measurement",
        priority: "Normal",
        reportingEntityName: NODE,
        sequence: 0,
        version: "4.1",
        vesEventListenerVersion: "7.2.1",
        eventType: "hostOS",
        timeZoneOffset: "UTC+00:00",
        nfNamingCode: "VSMN",
        nfcNamingCode: "AGT",
        nfVendorName: "Vesmon",
      });
    }
    expect(host?.eventName).toBe("Measurement_Vesmon_HostStats");
    expect(vm1?.eventName).toBe("Measurement_Vesmon_VmStats");
  });

  it("rounds startEpochMicrosec down to the interval boundary, as an integer, and ends at the window end", () => {
    for (const e of build7()) {
      expect(e.commonEventHeader.startEpochMicrosec).toBe(WINDOW_BOUNDARY_US);
      expect(Number.isInteger(e.commonEventHeader.startEpochMicrosec)).toBe(true);
      expect(e.commonEventHeader.lastEpochMicrosec).toBe(WINDOW_END * 1000);
    }
    const fiveMin = build7({ intervalSeconds: 300 })[0]!.commonEventHeader;
    expect(fiveMin.startEpochMicrosec).toBe(Date.UTC(2026, 0, 15, 12, 0, 0) * 1000);
    expect(build7({ intervalSeconds: 300 })[0]!.measurementFields?.measurementInterval).toBe(300);
  });

  it("gives strictly increasing eventIds, also across windows", () => {
    const ids = new EventIdSequence("measurement");
    const first = build({}, ids) as Event7[];
    const second = build({ windowStart: WINDOW_END, windowEnd: WINDOW_END + 60_000 }, ids) as Event7[];
    const all = [...first, ...second].map((e) => e.commonEventHeader.eventId);
    expect(all[0]).toBe("measurement0000000001");
    for (let i = 1; i < all.length; i++) expect(all[i]! > all[i - 1]!).toBe(true);
    expect(new Set(all).size).toBe(all.length);
    expect(all.every((id) => !/\s/.test(id))).toBe(true);
  });

  it("averages host CPU shares over the window, per CPU and in total", () => {
    const cpu = fields(build7(), NODE).cpuUsageArray!;
    expect(cpu.map((c) => c.cpuIdentifier)).toEqual(["total", "cpu0", "cpu1"]);
    // usage 17..22 → 19.5; user 10..15 → 12.5; idle 80..75 → 77.5
    expect(cpu[0]).toEqual({
      cpuIdentifier: "total",
      percentUsage: 19.5,
      cpuUsageUser: 12.5,
      cpuUsageNice: 0,
      cpuUsageSystem: 5,
      cpuIdle: 77.5,
      cpuWait: 3,
      cpuUsageInterrupt: 0,
      cpuUsageSoftIrq: 2,
      cpuUsageSteal: 0,
    });
    expect(cpu[2]).toMatchObject({ percentUsage: 21.5, cpuUsageUser: 14.5, cpuIdle: 75.5 });
  });

  it("reports host memory in KiB from the last collection, used as VES defines it", () => {
    const [mem] = fields(build7(), NODE).memoryUsageArray!;
    const free = 2 * GIB - 5 * MIB;
    const used = 8 * GIB - free - 256 * MIB - GIB - 128 * MIB;
    expect(mem).toEqual({
      vmIdentifier: NODE,
      memoryFree: free / 1024,
      memoryUsed: used / 1024,
      memoryBuffered: 256 * 1024,
      memoryCached: 1024 * 1024,
      memoryConfigured: 8 * 1024 * 1024,
      percentMemoryUsage: (used / (used + free)) * 100,
    });
  });

  it("carries one used-memory figure: memoryUsed, never a different `used` in additionalMeasurements", () => {
    const f = fields(build7(), NODE);
    expect(f.memoryUsageArray?.[0]?.memoryUsed).toBe(
      (8 * GIB - (2 * GIB - 5 * MIB) - 256 * MIB - GIB - 128 * MIB) / 1024,
    );
    expect(additional(f.additionalMeasurements, "memory")).not.toHaveProperty("used");
  });

  it("takes the last load averages and keeps the rest of /proc/loadavg and /proc/meminfo as strings", () => {
    const f = fields(build7(), NODE);
    expect(f.loadArray).toEqual([{ shortTerm: 1, midTerm: 0.4, longTerm: 0.3 }]);
    expect(additional(f.additionalMeasurements, "load")).toEqual({ running: "2", threads: "305" });
    expect(additional(f.additionalMeasurements, "memory")).toMatchObject({
      slab: String(128 * MIB),
      swapTotal: String(GIB),
      available: String(3 * GIB),
    });
    expect(additional(f.additionalMeasurements, "cpu", { cpu: "1" })).toEqual({
      cpu: "1",
      guestPercent: "0",
      guestNicePercent: "0",
    });
  });

  it("reports accumulated NIC counters at their last value with the increase within the window", () => {
    const [eth0] = fields(build7(), NODE).nicPerformanceArray!;
    expect(eth0).toMatchObject({
      nicIdentifier: "eth0",
      valuesAreSuspect: "false",
      receivedOctetsAccumulated: 1_005_000,
      receivedOctetsDelta: 5000,
      receivedTotalPacketsAccumulated: 10_050,
      receivedTotalPacketsDelta: 50,
      receivedErrorPacketsAccumulated: 7,
      receivedErrorPacketsDelta: 0,
      transmittedDiscardedPacketsAccumulated: 3,
      transmittedOctetsDelta: 5000,
    });
  });

  it("marks a NIC suspect when any of its samples was, and only that NIC", () => {
    const events = build7();
    expect(fields(events, "vm-alpha").nicPerformanceArray![0]!.valuesAreSuspect).toBe("false");
    expect(fields(events, "vm-beta").nicPerformanceArray![0]!.valuesAreSuspect).toBe("true");
  });

  it("marks a NIC suspect and counts from zero when a total goes back within the window", () => {
    const samples = [0, 1, 2].flatMap((i) => vmCollection(VM1, i));
    const reset = samples.find(
      (s) => s.metric === "vm.interface.tx.bytes.total" && s.value === 50_000 + 2000 * 2,
    ) as Sample;
    reset.value = 100; // the counter restarted between the second and third collection
    const nic = fields(build7({ samples }), "vm-alpha").nicPerformanceArray![0]!;
    expect(nic.valuesAreSuspect).toBe("true");
    expect(nic.transmittedOctetsDelta).toBe(2000 + 100);
    expect(nic.transmittedOctetsAccumulated).toBe(100);
  });

  it("derives a VM NIC's error delta from its rate when libvirt gives no total", () => {
    const nic = fields(build7(), "vm-alpha").nicPerformanceArray![0]!;
    expect(nic.receivedErrorPacketsDelta).toBe(6); // 0.1/s over 60 s
    expect(nic).not.toHaveProperty("receivedErrorPacketsAccumulated");
  });

  it("reports disks as ops/s, octets/s and ms/op with Min, Max, Avg and Last", () => {
    const [sda] = fields(build7(), NODE).diskUsageArray!;
    expect(sda).toMatchObject({
      diskIdentifier: "sda",
      diskOpsReadMin: 10,
      diskOpsReadMax: 60,
      diskOpsReadAvg: 35,
      diskOpsReadLast: 60,
      diskOctetsReadAvg: 35 * 4096,
      diskTimeReadAvg: 0.5,
      diskTimeWriteAvg: 3.5,
      diskTimeWriteLast: 6,
      diskIoTimeAvg: 40, // 4 % busy = 40 ms per s
    });
    const [vda] = fields(build7(), "vm-alpha").diskUsageArray!;
    expect(vda).toMatchObject({
      diskIdentifier: "vda",
      diskOpsReadAvg: 5,
      diskTimeWriteLast: 2,
      diskFlushRequests: 30,
    });
  });

  it("reports a VM's CPU in total and per vCPU, with steal from vCPU delay", () => {
    const cpu = fields(build7(), "vm-alpha").cpuUsageArray!;
    expect(cpu).toEqual([
      {
        cpuIdentifier: "total",
        percentUsage: 32.5,
        cpuUsageUser: 20,
        cpuUsageSystem: 12.5,
        cpuUsageSteal: 2,
      },
      { cpuIdentifier: "vcpu0", percentUsage: 42.5, cpuUsageSteal: 1 },
      { cpuIdentifier: "vcpu1", percentUsage: 22.5, cpuUsageSteal: 3 },
    ]);
  });

  it("reports VM memory in KiB: configured, used and free, named by the VM", () => {
    const [mem] = fields(build7(), "vm-alpha").memoryUsageArray!;
    expect(mem).toEqual({
      vmIdentifier: "vm-alpha",
      memoryConfigured: 2 * 1024 * 1024,
      memoryUsed: (512 + 5) * 1024,
      memoryFree: (1536 - 5) * 1024,
      percentMemoryUsage: ((512 + 5) / 2048) * 100,
    });
  });

  it("puts everything without a VES field into additionalMeasurements with string values", () => {
    const events = build7();
    const vm = fields(events, "vm-alpha").additionalMeasurements;
    expect(additional(vm, "info")).toEqual({ flavor: "m1.small", project: "demo" });
    expect(additional(vm, "state")).toEqual({ state: "running", value: "1" });
    expect(additional(vm, "memory")).toEqual({
      current: String(2 * GIB),
      rss: String(705 * MIB),
      usedBasis: "guest",
    });
    expect(additional(vm, "disk", { disk: "vda" })).toMatchObject({
      capacity: String(10 * GIB),
      readBusy: "2.5",
    });
    expect(additional(fields(events, "vm-beta").additionalMeasurements, "info")).toBeUndefined();
    const host = fields(events, NODE).additionalMeasurements;
    expect(additional(host, "cgroup", { vmId: "1" })).toEqual({
      path: "/machine.slice/machine-qemu\\x2d1\\x2dvm\\x2dalpha.scope",
      domain: "vm-alpha",
      vmId: "1",
      cpuPercent: "22.5",
      memoryUsage: String(512 * MIB),
      pidsCurrent: "40",
    });
    for (const e of events)
      for (const m of e.measurementFields?.additionalMeasurements ?? [])
        for (const v of Object.values(m.hashMap)) expect(typeof v).toBe("string");
  });

  it("omits empty arrays", () => {
    const cpuOnly = vmCollection(VM1, 0).filter((s) => s.metric.startsWith("vm.cpu."));
    const [e] = build7({ samples: cpuOnly });
    expect(Object.keys(e!.measurementFields!).sort()).toEqual([
      "cpuUsageArray",
      "measurementFieldsVersion",
      "measurementInterval",
    ]);
  });

  it("reports the guest itself in guest mode: eventType guestOS, its own reporting name", () => {
    const guest = settings({
      mode: "guest",
      naming: { eventNamePublisher: "Vesmon-Acme", reportingEntityName: "guest-agent" },
    });
    const [e] = build7({ samples: hostCollection(0), settings: guest });
    expect(e!.commonEventHeader).toMatchObject({
      eventType: "guestOS",
      eventName: "Measurement_Vesmon-Acme_GuestStats",
      sourceName: NODE,
      reportingEntityName: "guest-agent",
    });
    expect(e!.commonEventHeader).not.toHaveProperty("nfNamingCode");
    expect(e!.commonEventHeader).not.toHaveProperty("nfVendorName");
  });

  it("writes every *Version as a string", () => {
    for (const e of build7()) {
      expect(e.commonEventHeader.version).toBe("4.1");
      expect(e.commonEventHeader.vesEventListenerVersion).toBe("7.2.1");
      expect(e.measurementFields?.measurementFieldsVersion).toBe("4.0");
    }
  });
});

describe("buildMeasurementEvents (5.4.1)", () => {
  const events = build({ version: "5.4.1" }) as Event5[];

  it("uses the VES 5 domain, block, names and numeric versions", () => {
    expect(events).toHaveLength(3);
    for (const e of events) {
      expect(e.commonEventHeader.domain).toBe("measurementsForVfScaling");
      expect(e.commonEventHeader.version).toBe(3);
      expect(e.commonEventHeader).not.toHaveProperty("vesEventListenerVersion");
      expect(e.commonEventHeader).not.toHaveProperty("timeZoneOffset");
      expect(e.commonEventHeader).not.toHaveProperty("nfVendorName");
      expect(e.measurementsForVfScalingFields?.measurementsForVfScalingVersion).toBe(2.1);
      expect(e).not.toHaveProperty("measurementFields");
    }
  });

  it("renames the NIC array and identifier, and turns hashMaps into arrays of fields", () => {
    const host = events[0]!.measurementsForVfScalingFields!;
    expect(host.vNicPerformanceArray![0]).toMatchObject({
      vNicIdentifier: "eth0",
      valuesAreSuspect: "false",
    });
    expect(host.vNicPerformanceArray![0]).not.toHaveProperty("nicIdentifier");
    const load = host.additionalMeasurements!.find((m) => m.name === "load" && m.arrayOfFields.length === 3);
    expect(load?.arrayOfFields).toEqual([
      { name: "shortTerm", value: "1" },
      { name: "midTerm", value: "0.4" },
      { name: "longTerm", value: "0.3" },
    ]);
    expect(host.memoryUsageArray![0]).not.toHaveProperty("percentMemoryUsage");
    const vm = events[1]!.measurementsForVfScalingFields!;
    expect(vm.diskUsageArray![0]).not.toHaveProperty("diskFlushRequests");
    expect(vm.additionalMeasurements).toContainEqual({
      name: "disk",
      arrayOfFields: [
        { name: "disk", value: "vda" },
        { name: "flushRequests", value: "30" },
      ],
    });
  });
});
