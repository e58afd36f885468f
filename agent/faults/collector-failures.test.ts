import { describe, expect, it } from "vitest";
import { AlarmTable, type AlarmUpdate } from "./alarm.ts";
import { CollectorFaults, MAX_PROBLEM_LENGTH } from "./collector-failures.ts";

const brief = (us: AlarmUpdate[]) => us.map((u) => `${u.type}:${u.alarm.severity}:${u.alarm.sequence}`);

describe("CollectorFaults", () => {
  it("raises MAJOR CollectorFailed on the third failure in a row by default and clears after two successes", () => {
    const f = new CollectorFaults(new AlarmTable());
    expect(f.observeCollector("node", "cpu", false, "cannot read /proc/stat", 800)).toEqual([]);
    expect(f.observeCollector("node", "cpu", false, "cannot read /proc/stat", 900)).toEqual([]);
    const [raise] = f.observeCollector("node", "cpu", false, "cannot read /proc/stat", 1000);
    expect(raise).toMatchObject({
      type: "raise",
      alarm: {
        severity: "MAJOR",
        condition: "CollectorFailed",
        specificProblem: "cannot read /proc/stat",
        source: { kind: "host" },
        labels: { job: "node", collector: "cpu" },
        sequence: 1,
      },
    });
    expect(f.observeCollector("node", "cpu", false, "another error", 2000)).toEqual([]);
    expect(f.observeCollector("node", "cpu", true, undefined, 2500)).toEqual([]);
    const [clear] = f.observeCollector("node", "cpu", true, undefined, 3000);
    expect(clear).toMatchObject({
      type: "clear",
      alarm: { severity: "NORMAL", sequence: 2, eventId: raise?.alarm.eventId },
    });
    expect(f.observeCollector("node", "cpu", true, undefined, 4000)).toEqual([]);
  });

  it.each([
    {
      after: 3,
      outcomes: [false, false, true, false, false, false, true],
      want: [[], [], [], [], [], ["raise:MAJOR:1"], ["clear:NORMAL:2"]],
    },
    { after: 2, outcomes: [false, false, false], want: [[], ["raise:MAJOR:1"], []] },
  ])("after $after consecutive failures", ({ after, outcomes, want }) => {
    const f = new CollectorFaults(new AlarmTable(), { after, clearAfter: 1 });
    expect(outcomes.map((ok, i) => brief(f.observeCollector("j", "virt", ok, "boom", i * 1000)))).toEqual(
      want,
    );
  });

  it("damps a collector failing every other collection to one raise, and one clear once it is steady", () => {
    const f = new CollectorFaults(new AlarmTable());
    const outcomes = [false, false, false, true, false, true, false, true, false, true, true, false, true];
    expect(outcomes.map((ok, i) => brief(f.observeCollector("j", "virt", ok, "boom", i * 1000)))).toEqual([
      [],
      [],
      ["raise:MAJOR:1"],
      ...Array.from({ length: 7 }, () => []),
      ["clear:NORMAL:2"],
      [],
      [],
    ]);
  });

  it("clears after `clearAfter` successes", () => {
    const f = new CollectorFaults(new AlarmTable(), { after: 1, clearAfter: 3 });
    expect(
      [false, true, true, true].map((ok, i) => brief(f.observeCollector("j", "cpu", ok, "x", i))),
    ).toEqual([["raise:MAJOR:1"], [], [], ["clear:NORMAL:2"]]);
    expect(() => new CollectorFaults(new AlarmTable(), { clearAfter: 0 })).toThrow(RangeError);
  });

  it("keeps jobs and collectors apart, and forgetJob clears one job", () => {
    const table = new AlarmTable();
    const f = new CollectorFaults(table, { after: 1 });
    f.observeCollector("a", "cpu", false, "x", 1);
    f.observeCollector("a", "disk", false, "x", 1);
    f.observeCollector("b", "cpu", false, "x", 1);
    expect(table.size).toBe(3);
    expect(f.forgetJob("a", 2, "disk").map((u) => u.alarm.labels)).toEqual([{ job: "a", collector: "disk" }]);
    expect(f.forgetJob("a", 2).map((u) => u.alarm.labels)).toEqual([{ job: "a", collector: "cpu" }]);
    expect(table.list().map((a) => a.labels.job)).toEqual(["b"]);
  });

  it("uses a default text for an empty error and shortens long ones", () => {
    const f = new CollectorFaults(new AlarmTable(), { after: 1 });
    expect(f.observeCollector("j", "cpu", false, " ", 1)[0]?.alarm.specificProblem).toBe(
      "collector cpu failed",
    );
    const long = f.observeCollector("j", "disk", false, "e".repeat(5000), 1)[0]?.alarm.specificProblem ?? "";
    expect(long.length).toBe(MAX_PROBLEM_LENGTH);
  });

  it("does not raise while disabled, and disabling clears", () => {
    const f = new CollectorFaults(new AlarmTable(), { enabled: false, after: 2, clearAfter: 1 });
    expect(f.observeCollector("j", "cpu", false, "x", 1)).toEqual([]);
    expect(f.configure({ enabled: true }, 2)).toEqual([]);
    // The failure seen while disabled still counts: this is the second in a row.
    expect(brief(f.observeCollector("j", "cpu", false, "x", 3))).toEqual(["raise:MAJOR:1"]);
    expect(brief(f.configure({ enabled: false }, 4))).toEqual(["clear:NORMAL:2"]);
  });

  it("refuses a non-positive `after`", () => {
    expect(() => new CollectorFaults(new AlarmTable(), { after: 0 })).toThrow(RangeError);
  });
});
