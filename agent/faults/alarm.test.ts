import { describe, expect, it } from "vitest";
import { HOST, type Source } from "../collectors/sample.ts";
import { type AlarmInput, AlarmTable, alarmKey, FaultIdSequence, toMicros } from "./alarm.ts";

const VM: Source = { kind: "vm", name: "vm1", uuid: "11111111-2222-3333-4444-555555555555" };

function input(over: Partial<AlarmInput> = {}): AlarmInput {
  return {
    kind: "threshold",
    source: VM,
    metric: "vm.cpu.percent",
    severity: "WARNING",
    condition: "VmCpuPercentHigh",
    specificProblem: "vm.cpu.percent is 85",
    ...over,
  };
}

describe("FaultIdSequence", () => {
  it("formats a zero-padded counter without whitespace and continues after `last`", () => {
    const ids = new FaultIdSequence("fault", 41);
    expect(ids.next()).toBe("fault0000000042");
    expect(ids.last).toBe(42);
  });

  it.each([
    ["bad prefix", 0],
    ["fault", -1],
    ["fault", 1.5],
  ] as const)("refuses (%j, %j)", (p, n) => {
    expect(() => new FaultIdSequence(p, n)).toThrow(RangeError);
  });
});

describe("alarmKey", () => {
  it("does not depend on label order, and tells VMs apart by UUID", () => {
    expect(alarmKey("threshold", VM, "m", { a: "1", b: "2" })).toBe(
      alarmKey("threshold", VM, "m", { b: "2", a: "1" }),
    );
    expect(alarmKey("threshold", { ...VM, name: "renamed" }, "m")).toBe(alarmKey("threshold", VM, "m"));
    expect(alarmKey("threshold", HOST, "m")).not.toBe(alarmKey("threshold", VM, "m"));
    expect(alarmKey("lifecycle", VM, "m")).not.toBe(alarmKey("threshold", VM, "m"));
  });
});

describe("AlarmTable", () => {
  it("raises with sequence 1, escalates in place, clears with NORMAL and the next sequence", () => {
    const table = new AlarmTable();
    const raise = table.set(input(), 1000.0004);
    expect(raise?.type).toBe("raise");
    expect(raise?.alarm).toMatchObject({
      eventId: "fault0000000001",
      sequence: 1,
      startEpochMicrosec: 1_000_000,
    });
    expect(Number.isInteger(raise?.alarm.startEpochMicrosec)).toBe(true);

    expect(table.set(input({ specificProblem: "other value" }), 2000)).toBeUndefined();

    const up = table.set(input({ severity: "CRITICAL" }), 3000);
    expect(up?.type).toBe("update");
    expect(up?.alarm).toMatchObject({
      eventId: "fault0000000001",
      startEpochMicrosec: 1_000_000,
      lastEpochMicrosec: 3_000_000,
      sequence: 2,
      severity: "CRITICAL",
    });

    const key = up?.alarm.key ?? "";
    const re = table.resend(key, 4000);
    expect(re?.alarm).toMatchObject({ sequence: 3, severity: "CRITICAL", lastEpochMicrosec: 4_000_000 });

    const clear = table.clear(key, { specificProblem: "back" }, 5000);
    expect(clear?.type).toBe("clear");
    expect(clear?.alarm).toMatchObject({
      eventId: "fault0000000001",
      startEpochMicrosec: 1_000_000,
      sequence: 4,
      severity: "NORMAL",
      specificProblem: "back",
    });
    expect(clear?.alarm.state).toBeUndefined();
    expect(table.size).toBe(0);
    expect(table.clear(key, {}, 6000)).toBeUndefined();

    const again = table.set(input(), 7000);
    expect(again?.alarm).toMatchObject({
      eventId: "fault0000000002",
      sequence: 1,
      startEpochMicrosec: 7_000_000,
    });
  });

  it("uses the injected clock and id generator, and restores the counter from state", () => {
    const made: number[] = [];
    const table = new AlarmTable({
      now: () => 42,
      ids: (last) => {
        made.push(last);
        return new FaultIdSequence("x", last);
      },
      state: { version: 1, lastId: 7, alarms: [] },
    });
    expect(made).toEqual([7]);
    expect(table.set(input())?.alarm).toMatchObject({
      eventId: "x0000000008",
      startEpochMicrosec: toMicros(42),
    });
    expect(table.snapshot().lastId).toBe(8);
  });

  it("never reuses the id of a restored open alarm even when the saved counter lags", () => {
    const first = new AlarmTable();
    first.set(input(), 1);
    first.set(input({ source: HOST }), 1);
    const state = first.snapshot();
    const second = new AlarmTable({ state: { ...state, lastId: 0 } });
    expect(second.set(input({ metric: "other" }), 2)?.alarm.eventId).toBe("fault0000000003");
  });

  it("clearWhere clears matching alarms only", () => {
    const table = new AlarmTable();
    table.set(input(), 1);
    table.set(input({ kind: "lifecycle" }), 1);
    const out = table.clearWhere((a) => a.kind === "lifecycle", {}, 2);
    expect(out.map((u) => [u.type, u.alarm.kind])).toEqual([["clear", "lifecycle"]]);
    expect(table.list().map((a) => a.kind)).toEqual(["threshold"]);
  });
});
