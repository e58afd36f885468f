import { describe, expect, it } from "vitest";
import { CounterSet } from "./counter.ts";

describe("CounterSet", () => {
  it("gives rates across first reads, increases, a reset, a wrap and a zero elapsed time, key by key", () => {
    const c = new CounterSet();
    expect(c.rate("a", 100n, 0)).toEqual({ suspect: true, reason: "first" });
    expect(c.rate("b", 2n ** 32n - 10n, 0, 32)).toEqual({ suspect: true, reason: "first" });
    expect(c.rate("a", 300n, 2000)).toEqual({ delta: 200, perSecond: 100, suspect: false });
    expect(c.rate("a", 300n, 2000)).toEqual({ suspect: true });
    expect(c.rate("b", 10n, 1000, 32)).toEqual({ delta: 20, perSecond: 20, suspect: true, reason: "wrap" });
    expect(c.rate("a", 50n, 3000)).toEqual({ suspect: true, reason: "reset" });
    // After a reset the new value is the base: the next read is a plain increase from it.
    expect(c.rate("a", 150n, 4000)).toEqual({ delta: 100, perSecond: 100, suspect: false });
    expect(c.rate("a", -1n, 5000)).toEqual({ suspect: true, reason: "invalid" });
    expect(c.rate("a", 10n, 6000)).toEqual({ suspect: true, reason: "first" });
  });

  it("forgets the keys not recorded since the previous sweep", () => {
    const c = new CounterSet();
    c.rate("kept", 1n, 0);
    c.rate("gone", 1n, 0);
    c.sweep();
    c.rate("kept", 2n, 1000);
    c.sweep();
    expect(c.size).toBe(1);
    expect(c.rate("kept", 3n, 2000)).toEqual({ delta: 1, perSecond: 1, suspect: false });
    expect(c.rate("gone", 3n, 2000)).toEqual({ suspect: true, reason: "first" });
  });
});
