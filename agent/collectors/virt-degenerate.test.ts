import { describe, expect, it } from "vitest";
import { NODE, settings } from "../../test/helpers/ves-samples.ts";
import { buildMeasurementEvents } from "../ves/measurement.ts";
import type { Event7 } from "../ves/types.ts";
import { CounterSet } from "./counter.ts";
import type { Sample } from "./sample.ts";
import { sampleDomain } from "./virt.ts";
import type { DomainStats } from "./virt-stats.ts";

const base = (over: Partial<DomainStats>): DomainStats => ({
  name: "vm1",
  uuid: "00000000-0000-0000-0000-000000000009",
  id: 1,
  state: "running",
  vcpuCurrent: 2,
  vcpus: [],
  nics: [{ index: 0, name: "vnet0", rx: { bytes: 1000n }, tx: { bytes: 1000n } }],
  disks: [],
  ...over,
});

/** Two reads 1 s apart (the first with `first`, the second with `second`), as the VM's VES event of that second. */
function event(first: Partial<DomainStats>, second: Partial<DomainStats>) {
  const counters = new CounterSet();
  sampleDomain(base(first), counters, 0);
  const samples: Sample[] = sampleDomain(base(second), counters, 1000);
  const [e] = buildMeasurementEvents({
    samples,
    windowStart: 0,
    windowEnd: 1000,
    intervalSeconds: 1,
    settings: settings(),
    node: NODE,
    version: "7.2.1",
    nextId: () => "m1",
  }) as Event7[];
  const fields = e?.measurementFields;
  if (!fields) throw new Error("no measurement event");
  const suspect = fields.nicPerformanceArray?.[0]?.valuesAreSuspect;
  return { samples, fields, suspect };
}

const published = (samples: Sample[], metric: string) =>
  samples.filter((s) => s.metric === metric && Number.isFinite(s.value));

describe("degenerate libvirt figures", () => {
  it("publish a sane read, not suspect (the control)", () => {
    const { fields, suspect } = event({ cpu: { time: 0n } }, { cpu: { time: 500_000_000n } });
    expect(fields.cpuUsageArray?.[0]?.percentUsage).toBeCloseTo(25);
    expect(suspect).toBe("false");
  });

  it("a vCPU count of 0 while CPU time grows: no count, no CPU figure, suspect", () => {
    const { samples, fields, suspect } = event(
      { vcpuCurrent: 0, cpu: { time: 0n } },
      { vcpuCurrent: 0, cpu: { time: 500_000_000n } },
    );
    expect(published(samples, "vm.vcpu.count")).toEqual([]);
    expect(fields.cpuUsageArray).toBeUndefined();
    expect(suspect).toBe("true");
  });

  it("a vCPU count that is not a number: no count, no CPU figure, suspect", () => {
    const { samples, fields, suspect } = event(
      { vcpuCurrent: Number.NaN, cpu: { time: 0n } },
      { vcpuCurrent: Number.NaN, cpu: { time: 500_000_000n } },
    );
    expect(published(samples, "vm.vcpu.count")).toEqual([]);
    expect(fields.cpuUsageArray).toBeUndefined();
    expect(suspect).toBe("true");
  });

  it("a negative counter: no rate from it, suspect, and the next good read starts afresh", () => {
    const { samples, fields, suspect } = event({ cpu: { time: 0n } }, { cpu: { time: -5n } });
    expect(published(samples, "vm.cpu.percent")).toEqual([]);
    expect(fields.cpuUsageArray).toBeUndefined();
    expect(suspect).toBe("true");
    const counters = new CounterSet();
    expect(counters.rate("k", -1n, 0)).toEqual({ suspect: true, reason: "invalid" });
    expect(counters.rate("k", 10n, 1000)).toMatchObject({ reason: "first" });
  });

  it("a balloon figure below 0: no memory figure from it, suspect", () => {
    const { samples, fields, suspect } = event(
      { balloon: { maximum: 4096n, rss: -1n } },
      { balloon: { maximum: 4096n, rss: -1n } },
    );
    expect(published(samples, "vm.memory.rss")).toEqual([]);
    expect(published(samples, "vm.memory.used")).toEqual([]);
    expect(fields.memoryUsageArray).toBeUndefined();
    expect(suspect).toBe("true");
  });

  it("used memory below 0 (usable above available): no memory figure, suspect", () => {
    const { fields, suspect } = event(
      { balloon: { maximum: 4096n, available: 1000n, usable: 2000n } },
      { balloon: { maximum: 4096n, available: 1000n, usable: 2000n } },
    );
    expect(fields.memoryUsageArray).toBeUndefined();
    expect(suspect).toBe("true");
  });
});
