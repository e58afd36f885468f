import { describe, expect, it } from "vitest";
import type { Sample, Source, SourceEvent } from "../collectors/sample.ts";
import { AlarmTable, type AlarmUpdate } from "./alarm.ts";
import { domainStateVerdict, LifecycleFaults, lifecycleEventVerdict } from "./lifecycle.ts";

const VM: Source = { kind: "vm", name: "vm1", uuid: "00000000-0000-0000-0000-000000000001" };
const VM2: Source = { kind: "vm", name: "vm2", uuid: "00000000-0000-0000-0000-000000000002" };

function ev(event: string, time: number, detail = 0, source = VM): SourceEvent {
  return { kind: "lifecycle", time, source, event, detail };
}

function state(name: string, source = VM): Sample {
  return { metric: "vm.state", value: 0, unit: "state", source, labels: { state: name } };
}

const brief = (us: AlarmUpdate[]) =>
  us.map((u) => `${u.type}:${u.alarm.severity}:${u.alarm.condition}:${u.alarm.sequence}`);

describe("lifecycleEventVerdict", () => {
  it.each([
    ["crashed", 0, "CRITICAL VmCrashed"],
    ["suspended", 0, "WARNING VmPaused"],
    ["suspended", 2, "MAJOR VmPaused"],
    ["suspended", 1, "clear"],
    ["pmsuspended", 0, "WARNING VmPaused"],
    ["stopped", 0, "MAJOR VmStopped"],
    ["stopped", 1, "MAJOR VmStopped"],
    ["stopped", 2, "CRITICAL VmCrashed"],
    ["stopped", 3, "clear"],
    ["stopped", 5, "CRITICAL VmCrashed"],
    ["shutdown", 0, "MAJOR VmStopped"],
    ["started", 0, "clear"],
    ["resumed", 0, "clear"],
    ["undefined", 0, "clear"],
    ["defined", 0, undefined],
    ["unknown", 0, undefined],
  ] as const)("%s/%d → %s", (event, detail, want) => {
    const v = lifecycleEventVerdict(event, detail);
    expect(v && (v.kind === "clear" ? "clear" : `${v.severity} ${v.condition}`)).toBe(want);
  });
});

describe("domainStateVerdict", () => {
  it.each([
    ["paused", "WARNING VmPaused"],
    ["pmsuspended", "WARNING VmPaused"],
    ["shutoff", "MAJOR VmStopped"],
    ["shutdown", "MAJOR VmStopped"],
    ["crashed", "CRITICAL VmCrashed"],
    ["running", "clear"],
    ["blocked", "clear"],
    ["nostate", undefined],
  ] as const)("%s → %s", (name, want) => {
    const v = domainStateVerdict(name);
    expect(v && (v.kind === "clear" ? "clear" : `${v.severity} ${v.condition}`)).toBe(want);
  });
});

describe("LifecycleFaults", () => {
  it("running → paused → running raises and clears one alarm, with a new eventId next time", () => {
    const f = new LifecycleFaults(new AlarmTable());
    const raise = f.onEvents([ev("suspended", 1000)]);
    const clear = f.onEvents([ev("resumed", 2000)]);
    expect(brief([...raise, ...clear])).toEqual(["raise:WARNING:VmPaused:1", "clear:NORMAL:VmPaused:2"]);
    expect(clear[0]?.alarm).toMatchObject({
      eventId: raise[0]?.alarm.eventId,
      startEpochMicrosec: 1_000_000,
    });
    expect(clear[0]?.alarm.specificProblem).toBe("VM resumed");
    expect(f.onEvents([ev("suspended", 3000)])[0]?.alarm.eventId).not.toBe(raise[0]?.alarm.eventId);
  });

  it("a crash escalates a pause in place, and the shut-off state that follows keeps the crash", () => {
    const f = new LifecycleFaults(new AlarmTable());
    const out = [
      ...f.onEvents([ev("suspended", 1000), ev("crashed", 2000)]),
      ...f.observe([state("shutoff")], 3000),
      ...f.onEvents([ev("stopped", 4000, 2)]),
      ...f.onEvents([ev("started", 5000)]),
    ];
    expect(brief(out)).toEqual([
      "raise:WARNING:VmPaused:1",
      "update:CRITICAL:VmCrashed:2",
      "clear:NORMAL:VmCrashed:3",
    ]);
    expect(new Set(out.map((u) => u.alarm.eventId)).size).toBe(1);
  });

  it("a VM already paused at start raises from its vm.state sample, once", () => {
    const f = new LifecycleFaults(new AlarmTable());
    expect(brief(f.observe([state("paused"), state("running", VM2)], 1000))).toEqual([
      "raise:WARNING:VmPaused:1",
    ]);
    expect(f.observe([state("paused")], 2000)).toEqual([]);
    expect(brief(f.observe([state("shutoff")], 3000))).toEqual(["update:MAJOR:VmStopped:2"]);
    expect(brief(f.observe([state("running")], 4000))).toEqual(["clear:NORMAL:VmStopped:3"]);
  });

  it("reads the state code when a sample has no state label, and skips other metrics and the host", () => {
    const f = new LifecycleFaults(new AlarmTable());
    const crashed: Sample = { metric: "vm.state", value: 6, unit: "state", source: VM };
    const other: Sample = { metric: "vm.cpu.percent", value: 6, unit: "percent", source: VM };
    expect(brief(f.observe([crashed, other], 1000))).toEqual(["raise:CRITICAL:VmCrashed:1"]);
  });

  it("a state sample does not undo what an event said about the same cause", () => {
    const f = new LifecycleFaults(new AlarmTable());
    expect(brief(f.onEvents([ev("suspended", 1000, 2)]))).toEqual(["raise:MAJOR:VmPaused:1"]);
    expect(f.observe([state("paused")], 2000)).toEqual([]);
  });

  it("a state read before an event of the same collection does not undo the event", () => {
    const f = new LifecycleFaults(new AlarmTable());
    // Paused at 1500 while the stats (read at 1400, still running) were on their way.
    expect(brief(f.onEvents([ev("suspended", 1500)]))).toEqual(["raise:WARNING:VmPaused:1"]);
    expect(f.observe([state("running")], 1400)).toEqual([]);
    // A later read says what is true now.
    expect(f.observe([state("paused")], 2400)).toEqual([]);
    expect(brief(f.observe([state("running")], 3400))).toEqual(["clear:NORMAL:VmPaused:2"]);
  });

  it("does nothing while disabled, and disabling clears the open alarms", () => {
    const table = new AlarmTable();
    const f = new LifecycleFaults(table, { enabled: false });
    expect(f.onEvents([ev("crashed", 1000)])).toEqual([]);
    expect(f.observe([state("paused")], 1000)).toEqual([]);
    expect(f.setEnabled(true, 2000)).toEqual([]);
    f.onEvents([ev("crashed", 3000)]);
    expect(brief(f.setEnabled(false, 4000))).toEqual(["clear:NORMAL:VmCrashed:2"]);
    expect(table.size).toBe(0);
  });

  it("forgetSource clears that VM's alarm only", () => {
    const f = new LifecycleFaults(new AlarmTable());
    f.onEvents([ev("crashed", 1000), ev("crashed", 1000, 0, VM2)]);
    expect(f.forgetSource(VM2, 2000).map((u) => u.alarm.source)).toEqual([VM2]);
  });
});
