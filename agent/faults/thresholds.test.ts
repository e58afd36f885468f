import { describe, expect, it } from "vitest";
import type { ThresholdSpec } from "../../api/v1alpha1/types.ts";
import { HOST, type Sample, type Source } from "../collectors/sample.ts";
import { AlarmTable, type AlarmUpdate } from "./alarm.ts";
import { levelOf, sideLevel, ThresholdEngine, thresholdCondition } from "./thresholds.ts";

const VM1: Source = { kind: "vm", name: "vm1", uuid: "00000000-0000-0000-0000-000000000001" };
const VM2: Source = { kind: "vm", name: "vm2", uuid: "00000000-0000-0000-0000-000000000002" };

const CPU: ThresholdSpec = {
  metric: "vm.cpu.percent",
  warningMax: 80,
  failureMax: 90,
  hysteresis: 0,
  persist: 1,
};
const FREE: ThresholdSpec = {
  metric: "host.memory.free",
  warningMin: 1000,
  failureMin: 500,
  hysteresis: 0,
  persist: 1,
};

function cpu(value: number, over: Partial<Sample> = {}): Sample {
  return { metric: "vm.cpu.percent", value, unit: "percent", source: VM1, ...over };
}

function engine(specs: ThresholdSpec[], table = new AlarmTable()) {
  const e = new ThresholdEngine(table);
  e.configure(specs, 0);
  return { e, table };
}

/** Feeds one value per collection (1 s apart) and returns, per step, the updates as `type:severity:sequence`. */
function run(e: ThresholdEngine, values: (number | Sample)[], start = 1000): string[][] {
  return values.map((v, i) =>
    e
      .observe([typeof v === "number" ? cpu(v) : v], start + i * 1000)
      .map((u) => `${u.type}:${u.alarm.severity}:${u.alarm.sequence}`),
  );
}

describe("levelOf and sideLevel", () => {
  it.each([
    [80, 0],
    [80.01, 1],
    [90, 1],
    [90.5, 2],
  ] as const)("max side: %d is level %d (a value on the bound is inside)", (value, level) => {
    expect(levelOf(CPU, value).level).toBe(level);
  });

  it.each([
    [1000, 0],
    [999, 1],
    [499, 2],
  ] as const)("min side: %d is level %d", (value, level) => {
    expect(levelOf(FREE, value)).toMatchObject({ level, side: level ? "min" : "max" });
  });

  it.each([
    [75.01, 1],
    [75, 0],
    [74, 0],
  ] as const)(
    "hysteresis 5 below warningMax 80: %d holds level %d (the clear is inclusive)",
    (value, level) => {
      expect(sideLevel({ ...CPU, failureMax: undefined }, "max", value, 5).level).toBe(level);
    },
  );
});

describe("thresholdCondition", () => {
  it.each([
    ["vm.cpu.percent", "max", "VmCpuPercentHigh"],
    ["host.memory.free", "min", "HostMemoryFreeLow"],
    ["cgroup.memory.usage_bytes", "max", "CgroupMemoryUsageBytesHigh"],
  ] as const)("%s %s → %s", (metric, side, condition) => {
    expect(thresholdCondition(metric, side)).toBe(condition);
  });
});

describe("ThresholdEngine", () => {
  it.each([
    {
      name: "raises on the first sample with persist 1",
      persist: 1,
      values: [85],
      want: [["raise:WARNING:1"]],
    },
    {
      name: "raises on the Nth consecutive sample",
      persist: 3,
      values: [85, 85, 85],
      want: [[], [], ["raise:WARNING:1"]],
    },
    {
      name: "does not raise on N-1 then a good sample (the run resets)",
      persist: 3,
      values: [85, 85, 50, 85, 85],
      want: [[], [], [], [], []],
    },
    {
      name: "raises at the level of the latest sample of the run",
      persist: 3,
      values: [95, 95, 85],
      want: [[], [], ["raise:WARNING:1"]],
    },
    {
      name: "escalates after persist samples beyond the failure bound",
      persist: 2,
      values: [85, 85, 95, 85, 95, 95],
      want: [[], ["raise:WARNING:1"], [], [], [], ["update:CRITICAL:2"]],
    },
    {
      name: "de-escalates and clears at once, persist notwithstanding",
      persist: 3,
      values: [95, 95, 95, 85, 50],
      want: [[], [], ["raise:CRITICAL:1"], ["update:WARNING:2"], ["clear:NORMAL:3"]],
    },
    {
      name: "a failure straight to inside clears in one record",
      persist: 1,
      values: [95, 10],
      want: [["raise:CRITICAL:1"], ["clear:NORMAL:2"]],
    },
  ])("$name", ({ persist, values, want }) => {
    const { e } = engine([{ ...CPU, persist }]);
    expect(run(e, values)).toEqual(want);
  });

  it("keeps eventId and start through escalation and de-escalation, then a new eventId after the clear", () => {
    const { e } = engine([CPU]);
    const [raise] = e.observe([cpu(85)], 1000);
    const [up] = e.observe([cpu(95)], 2000);
    const [down] = e.observe([cpu(85)], 3000);
    const [clear] = e.observe([cpu(10)], 4000);
    const [again] = e.observe([cpu(85)], 5000);
    for (const u of [up, down, clear]) {
      expect(u?.alarm.eventId).toBe(raise?.alarm.eventId);
      expect(u?.alarm.startEpochMicrosec).toBe(1_000_000);
    }
    expect([raise, up, down, clear].map((u) => u?.alarm.sequence)).toEqual([1, 2, 3, 4]);
    expect(up?.alarm).toMatchObject({
      severity: "CRITICAL",
      bound: 90,
      value: 95,
      condition: "VmCpuPercentHigh",
    });
    expect(up?.alarm.specificProblem).toBe("vm.cpu.percent is 95, above the failure maximum 90");
    expect(down?.alarm).toMatchObject({ severity: "WARNING", bound: 80 });
    expect(clear?.alarm).toMatchObject({ severity: "NORMAL", value: 10 });
    expect(again?.type).toBe("raise");
    expect(again?.alarm.eventId).not.toBe(raise?.alarm.eventId);
    expect(again?.alarm.sequence).toBe(1);
  });

  it("hysteresis: raised above 80, held down to 75 exclusive, cleared at 75", () => {
    const { e } = engine([{ ...CPU, hysteresis: 5 }]);
    expect(run(e, [81, 79, 75.5, 75, 78])).toEqual([["raise:WARNING:1"], [], [], ["clear:NORMAL:2"], []]);
  });

  it("hysteresis also delays de-escalation from failure to warning", () => {
    const { e } = engine([{ ...CPU, hysteresis: 5 }]);
    expect(run(e, [91, 86, 85, 74])).toEqual([
      ["raise:CRITICAL:1"],
      [],
      ["update:WARNING:2"],
      ["clear:NORMAL:3"],
    ]);
  });

  it("min-side thresholds raise Low conditions and clear above the bound plus hysteresis", () => {
    const { e } = engine([{ ...FREE, hysteresis: 100 }]);
    const free = (value: number): Sample => ({
      metric: "host.memory.free",
      value,
      unit: "bytes",
      source: HOST,
    });
    const steps = [900, 400, 550, 650, 1050, 1100].map((v, i) => e.observe([free(v)], i * 1000));
    expect(steps.map((s) => s.map((u) => `${u.type}:${u.alarm.severity}`))).toEqual([
      ["raise:WARNING"],
      ["update:CRITICAL"],
      [],
      ["update:WARNING"],
      [],
      ["clear:NORMAL"],
    ]);
    expect(steps[0]?.[0]?.alarm).toMatchObject({ condition: "HostMemoryFreeLow", bound: 1000 });
    expect(steps[0]?.[0]?.alarm.specificProblem).toBe(
      "host.memory.free is 900, below the warning minimum 1000",
    );
  });

  it("a swing to the other side clears and raises a new alarm", () => {
    const { e } = engine([
      { metric: "vm.cpu.percent", warningMin: 10, warningMax: 80, hysteresis: 0, persist: 1 },
    ]);
    const [raise] = e.observe([cpu(85)], 1000);
    const out = e.observe([cpu(5)], 2000);
    expect(out.map((u) => `${u.type}:${u.alarm.condition}`)).toEqual([
      "clear:VmCpuPercentHigh",
      "raise:VmCpuPercentLow",
    ]);
    expect(out[1]?.alarm.eventId).not.toBe(raise?.alarm.eventId);
  });

  it("ignores suspect and non-finite samples: no raise, no clear, no break in a run", () => {
    const { e } = engine([{ ...CPU, persist: 2 }]);
    expect(run(e, [85, cpu(10, { suspect: true }), 85])).toEqual([[], [], ["raise:WARNING:1"]]);
    expect(run(e, [cpu(10, { suspect: true }), cpu(Number.NaN), cpu(Number.POSITIVE_INFINITY)])).toEqual([
      [],
      [],
      [],
    ]);
    expect(e.observe([cpu(10)], 99_000).map((u) => u.type)).toEqual(["clear"]);
  });

  it("ignores metrics without a threshold", () => {
    const { e } = engine([CPU]);
    expect(e.observe([{ metric: "vm.memory.used", value: 1e12, unit: "bytes", source: VM1 }], 1)).toEqual([]);
  });

  it("keeps instances apart: per VM and per label", () => {
    const { e, table } = engine([{ ...CPU, metric: "vm.vcpu.percent", persist: 2 }]);
    const vcpu = (source: Source, n: string, value: number): Sample => ({
      metric: "vm.vcpu.percent",
      value,
      unit: "percent",
      source,
      labels: { vcpu: n },
    });
    expect(e.observe([vcpu(VM1, "0", 85), vcpu(VM1, "1", 85), vcpu(VM2, "0", 50)], 1000)).toEqual([]);
    const second = e.observe([vcpu(VM1, "0", 85), vcpu(VM1, "1", 50), vcpu(VM2, "0", 85)], 2000);
    expect(second.map((u) => [u.alarm.source, u.alarm.labels])).toEqual([[VM1, { vcpu: "0" }]]);
    expect(second[0]?.alarm.specificProblem).toBe(
      "vm.vcpu.percent{vcpu=0} is 85, above the warning maximum 80",
    );
    const third = e.observe([vcpu(VM2, "0", 85)], 3000);
    expect(third.map((u) => [u.type, u.alarm.source])).toEqual([["raise", VM2]]);
    expect(new Set(table.list().map((a) => a.eventId)).size).toBe(2);
  });

  it("forgetSource clears the alarms of that source only and drops its runs", () => {
    const { e, table } = engine([{ ...CPU, persist: 1 }]);
    e.observe([cpu(85), cpu(85, { source: VM2 })], 1000);
    const out = e.forgetSource({ ...VM1, name: "renamed" }, 2000);
    expect(out.map((u) => [u.type, u.alarm.source])).toEqual([["clear", VM1]]);
    expect(table.list().map((a) => a.source)).toEqual([VM2]);

    const slow = engine([{ ...CPU, persist: 3 }]).e;
    slow.observe([cpu(85)], 1000);
    expect(slow.pendingRuns).toBe(1);
    expect(slow.forgetSource(VM1, 2000)).toEqual([]);
    expect(slow.pendingRuns).toBe(0);
  });

  describe("configure", () => {
    const mem: ThresholdSpec = { metric: "vm.memory.used", warningMax: 100, hysteresis: 0, persist: 1 };
    const memSample = (value: number): Sample => ({
      metric: "vm.memory.used",
      value,
      unit: "bytes",
      source: VM1,
    });

    it("clears alarms of removed thresholds and keeps unchanged ones and their runs", () => {
      const { e } = engine([{ ...CPU, persist: 2 }, mem]);
      e.observe([cpu(85), memSample(200)], 1000);
      const [raise] = e.observe([cpu(85)], 2000);
      e.observe([cpu(95)], 3000); // first sample of an escalation run
      const out = e.configure([{ ...CPU, persist: 2 }], 4000);
      expect(out.map((u) => [u.type, u.alarm.metric, u.alarm.specificProblem])).toEqual([
        ["clear", "vm.memory.used", "threshold removed"],
      ]);
      expect(e.observe([memSample(500)], 5000)).toEqual([]);
      const [up] = e.observe([cpu(95)], 6000);
      expect(up).toMatchObject({
        type: "update",
        alarm: { eventId: raise?.alarm.eventId, severity: "CRITICAL" },
      });
    });

    it("a changed threshold keeps its open alarm, restarts runs, and judges the next sample by the new bounds", () => {
      const { e } = engine([{ ...CPU, persist: 2 }]);
      e.observe([cpu(85)], 1000);
      const [raise] = e.observe([cpu(85)], 2000);
      e.observe([cpu(95)], 3000);
      expect(e.configure([{ ...CPU, warningMax: 70, persist: 2 }], 4000)).toEqual([]);
      expect(e.observe([cpu(95)], 5000)).toEqual([]); // the escalation run restarted
      expect(e.configure([{ ...CPU, warningMax: 86, persist: 2 }], 6000)).toEqual([]);
      const [clear] = e.observe([cpu(85)], 7000);
      expect(clear).toMatchObject({ type: "clear", alarm: { eventId: raise?.alarm.eventId, sequence: 2 } });
    });

    it("clears restored alarms whose threshold is gone when first configured", () => {
      const first = engine([CPU, mem]);
      first.e.observe([cpu(85), memSample(200)], 1000);
      const table = new AlarmTable({ state: first.table.snapshot() });
      const e = new ThresholdEngine(table);
      const out: AlarmUpdate[] = e.configure([CPU], 2000);
      expect(out.map((u) => u.alarm.metric)).toEqual(["vm.memory.used"]);
      expect(table.list().map((a) => a.metric)).toEqual(["vm.cpu.percent"]);
    });
  });

  it("maps levels through configurable severities", () => {
    const e = new ThresholdEngine(new AlarmTable(), { severities: { warning: "MINOR", failure: "MAJOR" } });
    e.configure([CPU], 0);
    expect(run(e, [85, 95])).toEqual([["raise:MINOR:1"], ["update:MAJOR:2"]]);
  });
});
