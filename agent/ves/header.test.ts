import { describe, expect, it } from "vitest";
import { camelSubfield, eventName, intervalStartMicros, toEpochMicros } from "./header.ts";

describe("header helpers", () => {
  it("rounds down to the interval boundary in integer microseconds", () => {
    const t = Date.UTC(2026, 0, 15, 12, 0, 7, 500);
    expect(intervalStartMicros(t, 60)).toBe(Date.UTC(2026, 0, 15, 12, 0, 0) * 1000);
    expect(intervalStartMicros(t, 10)).toBe(Date.UTC(2026, 0, 15, 12, 0, 0) * 1000);
    expect(intervalStartMicros(t, 5)).toBe(Date.UTC(2026, 0, 15, 12, 0, 5) * 1000);
    expect(intervalStartMicros(Date.UTC(2026, 0, 15, 12, 7, 0), 300)).toBe(
      Date.UTC(2026, 0, 15, 12, 5, 0) * 1000,
    );
    // A boundary is its own start.
    expect(intervalStartMicros(Date.UTC(2026, 0, 15, 12, 1, 0), 60)).toBe(
      Date.UTC(2026, 0, 15, 12, 1, 0) * 1000,
    );
    expect(Number.isInteger(intervalStartMicros(t + 0.25, 60))).toBe(true);
    expect(() => intervalStartMicros(t, 0)).toThrow(RangeError);
  });

  it("converts ms to integer µs", () => {
    expect(toEpochMicros(1.0005)).toBe(1001);
    expect(toEpochMicros(Date.UTC(2026, 0, 1))).toBe(Date.UTC(2026, 0, 1) * 1000);
  });

  it("builds CamelCase eventNames without spaces or underscores in the description", () => {
    expect(eventName("Measurement", "Vesmon", "VmStats")).toBe("Measurement_Vesmon_VmStats");
    expect(eventName("Fault", "Vesmon-Acme", "vm_crashed now")).toBe("Fault_Vesmon-Acme_VmCrashedNow");
    expect(camelSubfield("cpuUsageHigh")).toBe("CpuUsageHigh");
    expect(camelSubfield("--")).toBe("Event");
  });
});
