import { describe, expect, it } from "vitest";
import { VM1 } from "../../test/helpers/ves-samples.ts";
import { HOST, type Sample } from "../collectors/sample.ts";
import { additionalMeasurements, formatValue } from "./additional.ts";
import { counterIncrease, groupWindow, type Series, seriesKind, summary } from "./aggregate.ts";

function series(kind: Series["kind"], values: number[]): Series {
  return { metric: "m", unit: "count", labels: {}, kind, values, suspect: false };
}

describe("window aggregation", () => {
  it("classifies rates, gauges and accumulated counters", () => {
    expect(seriesKind("vm.cpu.percent", "percent")).toBe("rate");
    expect(seriesKind("vm.disk.read.busy", "ms")).toBe("rate");
    expect(seriesKind("host.load.shortterm", "load")).toBe("gauge");
    expect(seriesKind("host.memory.total", "bytes")).toBe("gauge");
    expect(seriesKind("host.memory.swap.total", "bytes")).toBe("gauge");
    expect(seriesKind("vm.interface.rx.bytes.total", "bytes")).toBe("counter");
  });

  it("weights a rate's reads by the time each covers, when all have one", () => {
    const a: Sample = { metric: "vm.cpu.percent", value: 90, unit: "percent", source: VM1 };
    const b: Sample = { ...a, value: 10 };
    const spans = new Map([
      [a, 1500],
      [b, 500],
    ]);
    const [weighted] = groupWindow([a, b], (s) => spans.get(s));
    expect(summary(weighted!.series[0]!)).toBe(70);
    const [partial] = groupWindow([a, b], (s) => (s === a ? 1500 : undefined));
    expect(summary(partial!.series[0]!)).toBe(50);
  });

  it("summarises a rate by its average and a gauge or counter by its last value", () => {
    expect(summary(series("rate", [1, 2, 6]))).toBe(3);
    expect(summary(series("gauge", [1, 2, 6]))).toBe(6);
    expect(counterIncrease(series("counter", [10, 15, 30]))).toEqual({ delta: 20, wentBack: false });
    expect(counterIncrease(series("counter", [10, 15, 4, 6]))).toEqual({ delta: 5 + 4 + 2, wentBack: true });
    expect(counterIncrease(series("counter", [10]))).toEqual({ delta: 0, wentBack: false });
  });

  it("groups by source, host first, and by metric and labels; skips non-finite values; ORs suspect", () => {
    const samples: Sample[] = [
      { metric: "vm.cpu.percent", value: 1, unit: "percent", source: VM1 },
      { metric: "host.load.shortterm", value: 1, unit: "load", source: HOST },
      { metric: "vm.cpu.percent", value: 3, unit: "percent", source: VM1, suspect: true },
      { metric: "vm.cpu.percent", value: Number.NaN, unit: "percent", source: VM1 },
      { metric: "vm.vcpu.percent", value: 5, unit: "percent", source: VM1, labels: { vcpu: "0" } },
      { metric: "vm.vcpu.percent", value: 7, unit: "percent", source: VM1, labels: { vcpu: "1" } },
    ];
    const [host, vm] = groupWindow(samples);
    expect(host?.source).toEqual(HOST);
    expect(vm?.series.map((s) => [s.metric, s.labels, s.values, s.suspect])).toEqual([
      ["vm.cpu.percent", {}, [1, 3], true],
      ["vm.vcpu.percent", { vcpu: "0" }, [5], false],
      ["vm.vcpu.percent", { vcpu: "1" }, [7], false],
    ]);
  });

  it("formats hashMap values as strings and groups leftovers by family and labels", () => {
    expect(formatValue(3)).toBe("3");
    expect(formatValue(1 / 3)).toBe("0.333333");
    const rest: Series[] = [
      {
        metric: "cgroup.cpu.percent",
        unit: "percent",
        labels: { path: "/a" },
        kind: "rate",
        values: [1, 2],
        suspect: true,
      },
      {
        metric: "cgroup.pids.current",
        unit: "count",
        labels: { path: "/a" },
        kind: "gauge",
        values: [4, 5],
        suspect: false,
      },
      {
        metric: "vm.state",
        unit: "state",
        labels: { state: "paused" },
        kind: "gauge",
        values: [3],
        suspect: false,
      },
    ];
    expect(additionalMeasurements(rest, [{ name: "extra", key: "k", value: "v" }])).toEqual([
      {
        name: "cgroup",
        hashMap: { path: "/a", cpuPercent: "1.5", pidsCurrent: "5", valuesAreSuspect: "true" },
      },
      { name: "state", hashMap: { state: "paused", value: "3" } },
      { name: "extra", hashMap: { k: "v" } },
    ]);
  });
});
