import { describe, expect, it } from "vitest";
import { HOST, type Sample } from "../collectors/sample.ts";
import { MeasurementWindows } from "./windows.ts";

const M = 2000;
const C = 500;
const T0 = 1_800_000_000_000;

const read = (value = 1, metric = "host.cpu.usage.percent"): Sample[] => [
  { metric, value, unit: metric.endsWith(".total") ? "bytes" : "percent", source: HOST },
];

/** Reads of one job every C from T0 - C (its first) up to `until`, except the ticks in `skip`. */
function feed(w: MeasurementWindows, until: number, skip: ReadonlySet<number> = new Set()) {
  for (let t = T0 - C; t <= until; t += C) {
    if (skip.has(t)) w.failed("cpu", C, t);
    else w.add("cpu", C, { time: t + 3, samples: read(t), errors: [] });
  }
}

describe("MeasurementWindows", () => {
  it("gives a window the reads whose spans fall inside it, and covers it from read to read", () => {
    const w = new MeasurementWindows(M, T0 - 1);
    feed(w, T0 + 2 * M);
    const first = w.close();
    expect([first.start, first.end]).toEqual([T0 - M, T0]);
    expect(first.coverage.get("host")).toMatchObject({ suspect: true });
    const second = w.close();
    expect(second.samples.map((s) => s.value)).toEqual([T0 + 500, T0 + 1000, T0 + 1500, T0 + 2000]);
    expect(second.coverage.get("host")).toEqual({ start: T0 + 3, end: T0 + M + 3, suspect: false });
    expect(w.close().coverage.get("host")).toEqual({
      start: T0 + M + 3,
      end: T0 + 2 * M + 3,
      suspect: false,
    });
  });

  it("is complete only once the read at its end is in", () => {
    const w = new MeasurementWindows(M, T0 - 1);
    feed(w, T0 + M - C);
    w.close();
    expect(w.complete(T0 + M)).toBe(false);
    w.add("cpu", C, { time: T0 + M + 3, samples: read(T0 + M + 3), errors: [] });
    expect(w.complete(T0 + M)).toBe(true);
  });

  it("marks a window with a missing read suspect", () => {
    const w = new MeasurementWindows(M, T0 - 1);
    feed(w, T0 + 2 * M, new Set([T0 + 1000]));
    w.close();
    expect(w.close().coverage.get("host")?.suspect).toBe(true);
    expect(w.close().coverage.get("host")?.suspect).toBe(false);
  });

  it("marks a window whose closing read came too late suspect, and counts the late read's totals in the next", () => {
    const w = new MeasurementWindows(M, T0 - 1);
    for (let t = T0 - C; t < T0 + M; t += C)
      w.add("cpu", C, { time: t, samples: read(t, "host.interface.rx.bytes.total"), errors: [] });
    w.close();
    const cut = w.close();
    expect(cut.coverage.get("host")).toMatchObject({ end: T0 + M - C, suspect: true });
    expect(
      w.add("cpu", C, {
        time: T0 + M,
        samples: read(7, "host.interface.rx.bytes.total"),
        errors: [],
      }),
    ).toBe(false);
    w.add("cpu", C, {
      time: T0 + M + C,
      samples: read(9, "host.interface.rx.bytes.total"),
      errors: [],
    });
    const next = w.close();
    expect(next.samples.map((s) => s.value)).toEqual([7, 9]);
    expect(next.coverage.get("host")).toMatchObject({ start: T0 + M, suspect: true });
  });

  it("does not wait for a job that never read (its collector cannot start)", () => {
    const w = new MeasurementWindows(M, T0 - 1);
    w.add("cpu", C, { time: T0, samples: read(T0), errors: [] });
    w.failed("virt", C, T0 - 5000);
    expect(w.complete(T0)).toBe(true);
  });

  it("does not wait for jobs removed from the profile", () => {
    const w = new MeasurementWindows(M, T0 - 1);
    w.add("cpu", C, { time: T0, samples: read(T0), errors: [] });
    w.add("load", C, { time: T0 - C, samples: read(T0 - C), errors: [] });
    expect(w.complete(T0)).toBe(false);
    w.keepJobs(new Set(["cpu"]));
    expect(w.complete(T0)).toBe(true);
  });
});

describe("MeasurementWindows.close().incomplete", () => {
  it("names the job of a first read, of a read missing inside or at the edge, and of a window with none", () => {
    const w = new MeasurementWindows(M, T0 - 1);
    feed(w, T0 + 2 * M, new Set([T0 + 1000]));
    expect(w.close().incomplete).toEqual(new Map([["cpu", "first"]]));
    expect(w.close().incomplete).toEqual(new Map([["cpu", "missing"]]));
    expect(w.close().incomplete).toEqual(new Map());
    // Every read of the next window fails: the job has none in it.
    for (let t = T0 + 2 * M + C; t <= T0 + 3 * M; t += C) w.failed("cpu", C, t);
    const empty = w.close();
    expect([empty.samples, empty.incomplete]).toEqual([[], new Map([["cpu", "missing"]])]);
  });

  it("calls a window closed before the read at its end late, and one whose read there failed missing", () => {
    const late = new MeasurementWindows(M, T0 - 1);
    feed(late, T0 + M - C);
    late.close();
    // The grace ran out before the read at T0 + M came.
    expect(late.close().incomplete).toEqual(new Map([["cpu", "late"]]));
    const failed = new MeasurementWindows(M, T0 - 1);
    feed(failed, T0 + M - C);
    failed.failed("cpu", C, T0 + M + 3);
    failed.close();
    expect(failed.close().incomplete).toEqual(new Map([["cpu", "missing"]]));
  });

  it("does not hold a job absent before its first read, or gone from the profile, against a window", () => {
    const w = new MeasurementWindows(M, T0 - 1);
    feed(w, T0 + M);
    w.close();
    w.add("mem", C, { time: T0 + M + 3, samples: read(1, "host.memory.used"), errors: [] });
    expect(w.close().incomplete).toEqual(new Map([["mem", "first"]]));
    w.keepJobs(new Set(["mem"]));
    w.add("mem", C, { time: T0 + 2 * M + 3, samples: read(1, "host.memory.used"), errors: [] });
    expect(w.close().incomplete).toEqual(new Map([["mem", "missing"]]));
  });
});
