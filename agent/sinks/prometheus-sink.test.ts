import { describe, expect, it } from "vitest";
import { HOST } from "../collectors/sample.ts";
import { PrometheusSink } from "./prometheus-sink.ts";

describe("PrometheusSink", () => {
  it("keeps the latest value of each series and drops series that stop being refreshed", () => {
    const clock = { now: 0 };
    const sink = new PrometheusSink("scrape", "p", { staleMs: 30_000, now: () => clock.now });
    const vm = { kind: "vm" as const, name: "a", uuid: "u" };
    sink.observe(
      [
        { metric: "host.load.midterm", value: 1, unit: "load", source: HOST },
        { metric: "vm.cpu.percent", value: 5, unit: "percent", source: vm },
      ],
      0,
    );
    clock.now = 20_000;
    sink.observe([{ metric: "host.load.midterm", value: 2, unit: "load", source: HOST }], 20_000);
    expect(sink.samples().map((s) => [s.metric, s.value])).toEqual([
      ["host.load.midterm", 2],
      ["vm.cpu.percent", 5],
    ]);
    clock.now = 40_000;
    expect(sink.samples().map((s) => s.metric)).toEqual(["host.load.midterm"]);
  });
});
