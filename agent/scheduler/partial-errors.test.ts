import { describe, expect, it } from "vitest";
import { OVERFLOW_KEY, PartialErrors, partialErrorKey } from "./partial-errors.ts";

describe("partialErrorKey", () => {
  it("keeps the first line with its numbers and ids, trimmed and clipped", () => {
    expect(partialErrorKey("  sdb: gone from /proc/diskstats \n  at line 12")).toBe(
      "sdb: gone from /proc/diskstats",
    );
    expect(partialErrorKey("")).toBe("unnamed partial error");
    expect(partialErrorKey("x".repeat(1000))).toHaveLength(256);
  });
});

describe("PartialErrors", () => {
  it("opens a key once, keeps it open through one collection without it, clears it after two", () => {
    const p = new PartialErrors();
    expect(p.observe(["a", "a", "b"])).toEqual({ appeared: ["a", "b"], cleared: [] });
    expect([p.current, p.total]).toEqual([2, 3]);
    expect(p.observe(["b"])).toEqual({ appeared: [], cleared: [] });
    // Alternating errors stay open: no line per collection.
    expect(p.observe(["a", "b"])).toEqual({ appeared: [], cleared: [] });
    expect(p.observe([])).toEqual({ appeared: [], cleared: [] });
    expect(p.observe([])).toEqual({ appeared: [], cleared: ["a", "b"] });
    expect([p.current, p.total]).toEqual([0, 6]);
  });

  it("tracks at most maxKeys keys: the rest share the overflow key", () => {
    const p = new PartialErrors({ maxKeys: 3, clearAfter: 1 });
    const errors = ["d1", "d2", "d3", "d4", "d5"];
    expect(p.observe(errors).appeared).toEqual(["d1", "d2", OVERFLOW_KEY]);
    expect(p.open()).toHaveLength(3);
    expect(p.current).toBe(5);
    expect(p.observe(errors)).toEqual({ appeared: [], cleared: [] });
    expect(p.observe(["d4"])).toEqual({ appeared: ["d4"], cleared: ["d1", "d2", OVERFLOW_KEY] });
  });

  it("refuses settings that would never clear or track nothing", () => {
    expect(() => new PartialErrors({ clearAfter: 0 })).toThrow(RangeError);
    expect(() => new PartialErrors({ maxKeys: 0.5 })).toThrow(RangeError);
  });
});
