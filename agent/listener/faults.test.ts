import { describe, expect, it } from "vitest";
import { checkFaults, DEFAULT_FAULTS, Faults } from "./faults.ts";

/** A random source that plays back the given draws and fails the test if more are taken. */
function draws(...values: number[]): () => number {
  return () => {
    const v = values.shift();
    if (v === undefined) throw new Error("unexpected random draw");
    return v;
  };
}

describe("Faults", () => {
  it("passes everything by default and never draws", () => {
    const f = new Faults({}, draws());
    expect(f.settings).toEqual(DEFAULT_FAULTS);
    for (let i = 0; i < 5; i++) expect(f.next()).toEqual({ kind: "pass" });
  });

  it("counts failNext down exactly", () => {
    const f = new Faults({ failNext: 3, errorStatus: 500 });
    expect([1, 2, 3, 4].map(() => f.next())).toEqual([
      { kind: "error", status: 500 },
      { kind: "error", status: 500 },
      { kind: "error", status: 500 },
      { kind: "pass" },
    ]);
    expect(f.settings.failNext).toBe(0);
  });

  it("applies drop, then throttle, then error counters", () => {
    const f = new Faults({ dropConnectionNext: 1, throttleNext: 1, failNext: 1, retryAfter: 7 });
    expect([1, 2, 3, 4].map(() => f.next().kind)).toEqual(["drop", "throttle", "error", "pass"]);
  });

  it("draws once per rate that is set, below the rate meaning a hit", () => {
    const f = new Faults({ errorRate: 0.5, throttleRate: 0.1 }, draws(0.2, 0.49, 0.3, 0.5, 0.05));
    expect(f.next()).toEqual({ kind: "error", status: 503 }); // throttle 0.2 ≥ 0.1, error 0.49 < 0.5
    expect(f.next()).toEqual({ kind: "pass" }); // throttle 0.3, error 0.5
    expect(f.next()).toEqual({ kind: "throttle", retryAfter: 1 }); // throttle 0.05
  });

  it("drops at dropRate before any other rate is drawn", () => {
    const f = new Faults({ dropRate: 0.5, errorRate: 1 }, draws(0.1, 0.9, 0.2));
    expect([f.next().kind, f.next().kind]).toEqual(["drop", "error"]);
  });

  it("merges updates and resets to the defaults", () => {
    const f = new Faults({ latencyMs: 10 });
    f.update({ failNext: 2 });
    expect(f.settings).toMatchObject({ latencyMs: 10, failNext: 2 });
    f.reset();
    expect(f.settings).toEqual(DEFAULT_FAULTS);
  });

  it("refuses invalid settings at construction, naming the knob", () => {
    expect(() => new Faults({ errorRate: 2 })).toThrow(/errorRate: must be within \[0, 1\]/);
  });
});

describe("checkFaults", () => {
  it("names each invalid knob", () => {
    expect(
      checkFaults({ failNext: -1, dropRate: "x", errorStatus: 200, latencyMs: 1.5, bogus: 1, downFor: 3 }, [
        "downFor",
      ]),
    ).toEqual([
      "failNext: must be an integer ≥ 0",
      "dropRate: must be a number",
      "errorStatus: must be an HTTP status within [400, 599]",
      "latencyMs: must be an integer ≥ 0",
      "bogus: unknown fault knob",
    ]);
    expect(checkFaults([])).toEqual(["(root): must be an object"]);
    expect(checkFaults({ throttleRate: 1, retryAfter: 0 })).toEqual([]);
  });
});
