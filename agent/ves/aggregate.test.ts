import { describe, expect, it } from "vitest";
import { VM1, VM2 } from "../../test/helpers/ves-samples.ts";
import { HOST, type Sample, type Source } from "../collectors/sample.ts";
import { additionalMeasurements, formatValue } from "./additional.ts";
import {
  counterIncrease,
  groupWindow,
  labelKey,
  type Series,
  SeriesPicker,
  seriesKind,
  summary,
} from "./aggregate.ts";

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

  it("keys a label set by its names and values whatever order they were written in", () => {
    expect(labelKey(undefined)).toBe("");
    expect(labelKey({})).toBe("");
    expect(labelKey({ cpu: "0", state: "idle" })).toBe(labelKey({ state: "idle", cpu: "0" }));
    expect(labelKey({ cpu: "0", state: "idle" })).not.toBe(labelKey({ cpu: "0", state: "user" }));
    // A name and a value must not run together: {a: "bc"} and {ab: "c"} are different sets.
    expect(labelKey({ a: "bc" })).not.toBe(labelKey({ ab: "c" }));
    expect(labelKey({ a: "b", c: "d" })).not.toBe(labelKey({ a: "b\u0001c", d: "" }));
  });

  it("puts samples of one label set written in different orders, and of a VM seen under new source objects, in one series", () => {
    const renamed: Source = { kind: "vm", name: "renamed", uuid: "6f1c2d3e-0000-4000-8000-000000000002" };
    const samples: Sample[] = [
      { metric: "vm.cpu.percent", value: 1, unit: "percent", source: { ...VM2 } },
      { metric: "m", value: 1, unit: "count", source: VM1, labels: { b: "2", a: "1" } },
      { metric: "host.load.shortterm", value: 1, unit: "load", source: HOST },
      { metric: "m", value: 2, unit: "count", source: { ...VM1 }, labels: { a: "1", b: "2" } },
      { metric: "vm.cpu.percent", value: 3, unit: "percent", source: renamed },
    ];
    const windows = groupWindow(samples);
    expect(windows.map((w) => w.source)).toEqual([HOST, renamed, VM1]);
    expect(windows[2]?.series.map((s) => [s.metric, s.values])).toEqual([["m", [1, 2]]]);
    expect(windows[1]?.series.map((s) => [s.metric, s.values])).toEqual([["vm.cpu.percent", [1, 3]]]);
  });

  it("picks the first series of a metric whose labels include the asked ones, and leaves the rest", () => {
    const samples: Sample[] = [
      {
        metric: "host.cpu.percent",
        value: 1,
        unit: "percent",
        source: HOST,
        labels: { cpu: "0", state: "user" },
      },
      {
        metric: "host.cpu.percent",
        value: 2,
        unit: "percent",
        source: HOST,
        labels: { cpu: "0", state: "idle" },
      },
      {
        metric: "host.cpu.percent",
        value: 3,
        unit: "percent",
        source: HOST,
        labels: { cpu: "1", state: "idle" },
      },
      { metric: "host.load.shortterm", value: 4, unit: "load", source: HOST },
    ];
    const [host] = groupWindow(samples);
    const p = new SeriesPicker(host!);
    expect(p.peek("host.cpu.percent")?.values).toEqual([1]);
    expect(p.peek("host.cpu.percent", { state: "idle" })?.values).toEqual([2]);
    expect(p.take("host.cpu.percent", { cpu: "1", state: "idle" })?.values).toEqual([3]);
    expect(p.peek("host.cpu.percent", { cpu: "2" })).toBeUndefined();
    expect(p.peek("host.memory.used")).toBeUndefined();
    expect(p.take("host.load.shortterm")?.values).toEqual([4]);
    expect(p.rest().map((s) => s.values)).toEqual([[1], [2]]);
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
