import { describe, expect, it } from "vitest";
import { testEnv } from "../../test/helpers/collector-env.ts";
import { loadCollector, parseLoadavg } from "./load.ts";

describe("parseLoadavg", () => {
  it("reads the three averages and the task counts", () => {
    expect(parseLoadavg("0.79 0.65 0.27 1/105 10287\n")).toEqual({
      shortterm: 0.79,
      midterm: 0.65,
      longterm: 0.27,
      running: 1,
      total: 105,
    });
  });

  it.each(["", "0.79 0.65\n", "a b c 1/2 3"])("refuses %j", (text) => {
    expect(() => parseLoadavg(text)).toThrow(/unexpected \/proc\/loadavg/);
  });
});

describe("load collector", () => {
  it("reads the fixture host root", async () => {
    const collector = await loadCollector.create({ name: "load", interval: "10s" }, testEnv());
    const result = await collector.collect();
    expect(result.errors).toEqual([]);
    expect(result.samples.map((s) => s.metric)).toEqual([
      "host.load.shortterm",
      "host.load.midterm",
      "host.load.longterm",
      "host.load.running",
      "host.load.threads",
    ]);
    expect(result.samples.every((s) => s.value >= 0 && s.source.kind === "host")).toBe(true);
  });

  it("names the missing file when the source is absent", async () => {
    const collector = await loadCollector.create(
      { name: "load", interval: "10s" },
      testEnv({ root: "/nonexistent" }),
    );
    await expect(collector.collect()).rejects.toThrow("/nonexistent/proc/loadavg: ENOENT");
  });
});
