import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ThresholdSpec } from "../../api/v1alpha1/types.ts";
import type { Sample, Source } from "../collectors/sample.ts";
import { AlarmTable } from "./alarm.ts";
import { LifecycleFaults } from "./lifecycle.ts";
import { FaultStore, parseAlarmTableState } from "./store.ts";
import { ThresholdEngine } from "./thresholds.ts";

const VM: Source = { kind: "vm", name: "vm1", uuid: "00000000-0000-0000-0000-000000000001" };
const CPU: ThresholdSpec = {
  metric: "vm.cpu.percent",
  warningMax: 80,
  failureMax: 90,
  hysteresis: 0,
  persist: 1,
};
const cpu = (value: number, source = VM): Sample => ({
  metric: "vm.cpu.percent",
  value,
  unit: "percent",
  source,
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vesmon-faults-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One agent run: load the store, build the table and engines over it. */
async function start() {
  const store = new FaultStore({ dir });
  const loaded = await store.load();
  const table = new AlarmTable({ state: loaded.state });
  const thresholds = new ThresholdEngine(table);
  thresholds.configure([CPU], 0);
  const lifecycle = new LifecycleFaults(table);
  return { store, loaded, table, thresholds, lifecycle, save: () => store.save(table.snapshot()) };
}

describe("FaultStore", () => {
  it("starts empty without files, and without errors", async () => {
    const { loaded } = await start();
    expect(loaded).toEqual({ state: { version: 1, lastId: 0, alarms: [] }, errors: [] });
  });

  it("round-trips the state, leaving no temporary files", async () => {
    const a = await start();
    a.thresholds.observe([cpu(95)], 1000);
    a.lifecycle.onEvents([{ kind: "lifecycle", time: 1500, source: VM, event: "suspended", detail: 0 }]);
    await a.save();
    expect((await readdir(dir)).sort()).toEqual(["faults.json", "faults.json.counter"]);
    const b = await start();
    expect(b.loaded.errors).toEqual([]);
    expect(b.loaded.state).toEqual(a.table.snapshot());
  });

  it("after a restart mid-alarm keeps eventId and start; the clear gets the next sequence; new ids go higher", async () => {
    const a = await start();
    const [raise] = a.thresholds.observe([cpu(85)], 1000);
    await a.save();

    const b = await start();
    expect(b.thresholds.observe([cpu(85)], 2000)).toEqual([]); // still raised: no re-raise
    const [up] = b.thresholds.observe([cpu(95)], 3000);
    expect(up).toMatchObject({ type: "update", alarm: { eventId: raise?.alarm.eventId, sequence: 2 } });
    await b.save();

    const c = await start();
    const [clear] = c.thresholds.observe([cpu(10)], 4000);
    expect(clear?.alarm).toMatchObject({
      eventId: raise?.alarm.eventId,
      startEpochMicrosec: 1_000_000,
      sequence: 3,
      severity: "NORMAL",
    });
    const [next] = c.thresholds.observe([cpu(85)], 5000);
    expect((next?.alarm.eventId ?? "") > (raise?.alarm.eventId ?? "")).toBe(true);
  });

  it("keeps ids strictly increasing across restarts even when the alarm file is corrupt", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await start();
      for (const v of [85, 10])
        ids.push(...run.thresholds.observe([cpu(v)], i * 10_000).map((u) => u.alarm.eventId));
      await run.save();
    }
    await writeFile(join(dir, "faults.json"), "{ not json");
    const broken = await start();
    expect(broken.loaded.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^corrupt .*faults\.json: /),
    ]);
    expect(broken.table.size).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(["faults.json.corrupt", "faults.json.counter"]);
    ids.push(...broken.thresholds.observe([cpu(85)], 99_000).map((u) => u.alarm.eventId));
    await broken.save();

    const unique = [...new Set(ids)];
    expect(unique).toHaveLength(4);
    expect([...unique].sort()).toEqual(unique);
    expect(JSON.parse(await readFile(join(dir, "faults.json"), "utf8")).lastId).toBe(4);
    expect((await start()).loaded.errors).toEqual([]);
  });

  it("reports a corrupt counter file and keeps the alarm file's counter", async () => {
    const a = await start();
    a.thresholds.observe([cpu(85)], 1000);
    await a.save();
    await writeFile(join(dir, "faults.json.counter"), "-3\n");
    const b = await start();
    expect(b.loaded.errors).toHaveLength(1);
    expect(b.loaded.state.lastId).toBe(1);
    expect(b.table.size).toBe(1);
  });

  it("removes temporary files a crash left behind", async () => {
    await writeFile(join(dir, "faults.json.0123456789ab.tmp"), "partial");
    await writeFile(join(dir, "unrelated.tmp"), "keep");
    await start();
    expect((await readdir(dir)).sort()).toEqual(["unrelated.tmp"]);
  });

  it("serialises saves: the last one wins", async () => {
    const store = new FaultStore({ dir, name: "f.json" });
    await Promise.all([1, 2, 3].map((n) => store.save({ version: 1, lastId: n, alarms: [] })));
    expect((await store.load()).state.lastId).toBe(3);
  });

  it("rejects a save into a missing directory, and later saves still run", async () => {
    const store = new FaultStore({ dir: join(dir, "missing") });
    await expect(store.save({ version: 1, lastId: 1, alarms: [] })).rejects.toThrow(/ENOENT/);
    const ok = new FaultStore({ dir });
    await ok.save({ version: 1, lastId: 1, alarms: [] });
  });
});

describe("parseAlarmTableState", () => {
  const alarm = {
    key: "k",
    kind: "threshold",
    eventId: "fault0000000001",
    startEpochMicrosec: 1,
    lastEpochMicrosec: 1,
    sequence: 1,
    severity: "WARNING",
    condition: "X",
    specificProblem: "p",
    source: { kind: "host" },
    labels: {},
  };

  it.each([
    [null, /state is not an object/],
    [{ version: 2, lastId: 0, alarms: [] }, /unsupported version/],
    [{ version: 1, lastId: 1.5, alarms: [] }, /lastId/],
    [{ version: 1, lastId: 0, alarms: {} }, /alarms is not an array/],
    [{ version: 1, lastId: 0, alarms: [{ ...alarm, severity: "NORMAL" }] }, /alarms\[0\]\.severity/],
    [{ version: 1, lastId: 0, alarms: [{ ...alarm, kind: "other" }] }, /alarms\[0\]\.kind/],
    [{ version: 1, lastId: 0, alarms: [{ ...alarm, eventId: "a b" }] }, /whitespace/],
    [{ version: 1, lastId: 0, alarms: [{ ...alarm, source: { kind: "vm" } }] }, /source/],
    [{ version: 1, lastId: 0, alarms: [{ ...alarm, labels: { a: 1 } }] }, /labels/],
    [{ version: 1, lastId: 0, alarms: [{ ...alarm, value: "9" }] }, /value/],
  ])("refuses %j", (json, message) => {
    expect(() => parseAlarmTableState(json)).toThrow(message);
  });

  it("accepts a valid state", () => {
    const state = {
      version: 1,
      lastId: 1,
      alarms: [{ ...alarm, metric: "m", value: 3, bound: 2, state: "warning:max" }],
    };
    expect(parseAlarmTableState(state)).toEqual(state);
  });
});
