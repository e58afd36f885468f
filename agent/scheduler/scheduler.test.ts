import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { CollectorName } from "../../api/v1alpha1/collectors.ts";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import type { Timers } from "../../kube/timers.ts";
import { ManualTimers } from "../../test/helpers/manual-timers.ts";
import type { Collector, CollectorFactory } from "../collectors/collector.ts";
import { CollectorRegistry } from "../collectors/registry.ts";
import type { CollectResult } from "../collectors/sample.ts";
import { HostPaths } from "../host-paths.ts";
import { type JobSpec, jobFor } from "./job.ts";
import { plan } from "./plan.ts";
import { type JobOutcome, Scheduler } from "./scheduler.ts";

describe("jobFor", () => {
  it("gives equal settings one id whatever their key order, and a new id for any change", () => {
    const a = jobFor({ name: "disk", interval: "10s", devices: { include: ["sd*"], exclude: ["sda"] } });
    const b = jobFor({
      devices: { exclude: ["sda"], include: ["sd*"] },
      interval: "10s",
      name: "disk",
    } as CollectorSpec);
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(/^disk-[0-9a-f]{12}$/);
    expect(a.intervalMs).toBe(10_000);
    expect(
      jobFor({ name: "disk", interval: "5s", devices: { include: ["sd*"], exclude: ["sda"] } }).id,
    ).not.toBe(a.id);
  });
});

describe("plan", () => {
  it("starts the new, stops the gone and keeps the rest", () => {
    const running = new Map([
      ["a", 1],
      ["b", 1],
    ]);
    const desired = new Map([
      ["b", "job-b"],
      ["c", "job-c"],
    ]);
    expect(plan(running, desired)).toEqual({ start: ["job-c"], stop: ["a"], keep: ["b"] });
    expect(plan(new Map(), new Map())).toEqual({ start: [], stop: [], keep: [] });
  });
});

/** A fake collector kind whose instances log what happens to them; create and collect can be scripted. */
function fakes(timers: ManualTimers) {
  const log: string[] = [];
  let instances = 0;
  const script = {
    failCreate: new Set<string>(),
    failCollect: new Set<string>(),
    hang: new Set<string>(),
    /** Partial errors each collection of a key reports. */
    errors: new Map<string, string[]>(),
  };
  const release: (() => void)[] = [];
  const factory = (name: CollectorName): CollectorFactory => ({
    name,
    async create(spec) {
      const key = `${spec.name}@${spec.interval}`;
      if (script.failCreate.has(key)) throw new Error(`cannot start ${key}`);
      const n = ++instances;
      log.push(`create ${key}#${n}`);
      const collector: Collector = {
        name,
        async collect(): Promise<CollectResult> {
          log.push(`collect ${key}#${n}@${timers.now()}`);
          if (script.hang.has(key)) await new Promise<void>((r) => release.push(r));
          if (script.failCollect.has(key)) throw new Error(`${key} broke`);
          return { time: timers.now(), samples: [], errors: [...(script.errors.get(key) ?? [])] };
        },
        async close() {
          log.push(`close ${key}#${n}`);
        },
      };
      return collector;
    },
  });
  const registry = new CollectorRegistry().register(factory("cpu")).register(factory("memory"));
  return { registry, log, script, release };
}

/** The scheduler's clock read `skew.ms` off the timers' own: a wall clock that drifts from the timer clock. */
function skewedTimers(manual: ManualTimers, skew: { ms: number }): Timers {
  return {
    setTimeout: (fn, ms) => manual.setTimeout(fn, ms),
    clearTimeout: (h) => manual.clearTimeout(h),
    now: () => manual.now() + skew.ms,
  };
}

function setup(clock: (manual: ManualTimers, skew: { ms: number }) => Timers = (m) => m) {
  const timers = new ManualTimers();
  const lines: { level: number; msg: string; collector?: string; err?: string; failures?: number }[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  timers.advance(1_000_000);
  const f = fakes(timers);
  const skew = { ms: 0 };
  const scheduler = new Scheduler({
    registry: f.registry,
    env: { paths: new HostPaths(), now: () => timers.now(), log: pino({ level: "silent" }) },
    timers: clock(timers, skew),
    retry: { initial: 1000, max: 8000 },
    log,
  });
  const outcomes: JobOutcome[] = [];
  scheduler.onOutcome((o) => outcomes.push(o));
  const jobs = (...specs: CollectorSpec[]) =>
    new Map<string, JobSpec>(specs.map((s) => [jobFor(s).id, jobFor(s)]));
  // Time moves in 100 ms slices with the event loop drained between them, as collections resolve in reality.
  const step = async (ms: number) => {
    for (let done = 0; done < ms; done += 100) {
      timers.advance(Math.min(100, ms - done));
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  };
  return { timers, scheduler, outcomes, jobs, step, skew, lines, ...f };
}

const cpu = (interval = "1s"): CollectorSpec => ({ name: "cpu", interval });
const mem = (interval = "1s"): CollectorSpec => ({ name: "memory", interval });

describe("Scheduler", () => {
  it("collects on the interval's boundaries and delivers each result", async () => {
    const t = setup();
    await t.scheduler.apply(t.jobs(cpu()));
    await t.step(3000);
    expect(t.log.filter((l) => l.startsWith("collect"))).toEqual([
      "collect cpu@1s#1@1001000",
      "collect cpu@1s#1@1002000",
      "collect cpu@1s#1@1003000",
    ]);
    expect(t.outcomes.map((o) => o.ok)).toEqual([true, true, true]);
    expect(t.scheduler.states()).toMatchObject([
      {
        collector: "cpu",
        state: "Running",
        lastSuccessTime: 1_003_000,
        skipped: 0,
        collections: 3,
        missed: 0,
        firstTick: 1_001_000,
        lastTick: 1_003_000,
      },
    ]);
  });

  it("leaves unchanged jobs untouched across an apply: same instance, no missed tick", async () => {
    const t = setup();
    await t.scheduler.apply(t.jobs(cpu(), mem()));
    await t.step(2000);
    const outcome = await t.scheduler.apply(t.jobs(cpu(), mem("2s")));
    await t.step(4000);
    expect(outcome.kept).toEqual([jobFor(cpu()).id]);
    const cpuTicks = t.log.filter((l) => l.startsWith("collect cpu"));
    expect(cpuTicks).toEqual(
      [1001000, 1002000, 1003000, 1004000, 1005000, 1006000].map((ms) => `collect cpu@1s#1@${ms}`),
    );
    expect(t.log.filter((l) => l.startsWith("create cpu"))).toEqual(["create cpu@1s#1"]);
    expect(t.scheduler.states().find((s) => s.collector === "cpu")).toMatchObject({
      collections: 6,
      missed: 0,
      firstTick: 1_001_000,
      lastTick: 1_006_000,
    });
  });

  it("starts a changed job before stopping its predecessor", async () => {
    const t = setup();
    await t.scheduler.apply(t.jobs(mem()));
    await t.scheduler.apply(t.jobs(mem("2s")));
    expect(t.log).toEqual(["create memory@1s#1", "create memory@2s#2", "close memory@1s#1"]);
    expect(t.scheduler.states().map((s) => s.intervalMs)).toEqual([2000]);
  });

  it("skips a tick while the previous collection still runs, and counts it", async () => {
    const t = setup();
    t.script.hang.add("cpu@1s");
    await t.scheduler.apply(t.jobs(cpu()));
    await t.step(3000);
    expect(t.log.filter((l) => l.startsWith("collect"))).toHaveLength(1);
    expect(t.scheduler.states()[0]).toMatchObject({ skipped: 2, missed: 2, collections: 1 });
    t.release.shift()?.();
    t.script.hang.clear();
    await t.step(1000);
    expect(t.log.filter((l) => l.startsWith("collect"))).toHaveLength(2);
  });

  it("counts ticks lost to a timer fired more than an interval late as missed", async () => {
    const t = setup(skewedTimers);
    await t.scheduler.apply(t.jobs(cpu()));
    await t.step(2000);
    // The event loop was blocked: the next timer fires 2.5 intervals after its boundary.
    t.skew.ms = 2500;
    await t.step(1000);
    t.skew.ms = 0;
    await t.step(3000);
    const [state] = t.scheduler.states();
    expect(state).toMatchObject({ skipped: 0, missed: 2 });
    expect(state!.collections + state!.missed).toBe((state!.lastTick! - state!.firstTick!) / 1000 + 1);
  });

  it("never ticks a boundary twice when the timer fires before the wall clock reaches it", async () => {
    const t = setup(skewedTimers);
    await t.scheduler.apply(t.jobs(cpu()));
    // Scheduled on one clock, fired when the other still reads a millisecond before the boundary.
    t.skew.ms = -1;
    await t.step(4500);
    expect(t.log.filter((l) => l.startsWith("collect"))).toHaveLength(4);
    expect(t.scheduler.states()[0]).toMatchObject({
      collections: 4,
      missed: 0,
      firstTick: 1_001_000,
      lastTick: 1_004_000,
    });
  });

  it("marks a job that cannot start Failed, keeps the others running and retries it with backoff", async () => {
    const t = setup();
    t.script.failCreate.add("cpu@1s");
    const outcome = await t.scheduler.apply(t.jobs(cpu(), mem()));
    expect(outcome.failed).toEqual([{ id: jobFor(cpu()).id, error: "cannot start cpu@1s" }]);
    expect(Object.fromEntries(t.scheduler.states().map((s) => [s.collector, s.state]))).toEqual({
      cpu: "Failed",
      memory: "Running",
    });
    await t.step(2500);
    expect(t.log.filter((l) => l.startsWith("collect memory"))).toHaveLength(2);
    t.script.failCreate.clear();
    await t.step(3000);
    expect(t.log).toContain("create cpu@1s#2");
    expect(t.scheduler.states().find((s) => s.collector === "cpu")?.state).toBe("Running");
    expect(t.log.some((l) => l.startsWith("collect cpu"))).toBe(true);
  });

  it("refuses an atomic apply when anything fails to start, keeping the previous jobs", async () => {
    const t = setup();
    await t.scheduler.apply(t.jobs(cpu()));
    t.script.failCreate.add("memory@1s");
    const outcome = await t.scheduler.apply(t.jobs(mem(), cpu("2s")), { atomic: true });
    expect(outcome.failed.map((f) => f.error)).toEqual(["cannot start memory@1s"]);
    expect(t.scheduler.ids()).toEqual([jobFor(cpu()).id]);
    expect(t.log).toEqual(["create cpu@1s#1", "create cpu@2s#2", "close cpu@2s#2"]);
  });

  it("reports a failed collection as data and recovers on the next", async () => {
    const t = setup();
    t.script.failCollect.add("cpu@1s");
    await t.scheduler.apply(t.jobs(cpu()));
    await t.step(1000);
    expect(t.outcomes.at(-1)).toMatchObject({ ok: false, error: "cpu@1s broke" });
    expect(t.scheduler.states()[0]).toMatchObject({ state: "Failed", lastError: "cpu@1s broke" });
    t.script.failCollect.clear();
    await t.step(1000);
    expect(t.scheduler.states()[0]?.state).toBe("Running");
  });

  it("logs once when a job starts failing, with the error, and once when it recovers", async () => {
    const t = setup();
    t.script.failCollect.add("cpu@1s");
    await t.scheduler.apply(t.jobs(cpu()));
    await t.step(4000);
    expect(t.outcomes.filter((o) => !o.ok)).toHaveLength(4);
    t.script.failCollect.clear();
    await t.step(3000);
    expect(
      t.lines.map(({ level, msg, collector, err, failures }) => ({ level, msg, collector, err, failures })),
    ).toEqual([
      { level: 40, msg: "collector failing", collector: "cpu", err: "cpu@1s broke", failures: undefined },
      { level: 30, msg: "collector recovered", collector: "cpu", err: undefined, failures: 4 },
    ]);
  });

  it("logs a collector that cannot start once, however often the retry fails, and once when it starts", async () => {
    const t = setup();
    t.script.failCreate.add("cpu@1s");
    await t.scheduler.apply(t.jobs(cpu()));
    await t.step(8000);
    t.script.failCreate.clear();
    await t.step(9000);
    expect(t.scheduler.states()[0]?.state).toBe("Running");
    expect(t.lines.map((l) => [l.msg, l.err])).toEqual([
      ["collector failing", "cannot start cpu@1s"],
      ["collector recovered", undefined],
    ]);
  });

  it("logs each distinct partial error once when it appears and once when it clears, and counts them", async () => {
    const t = setup();
    const vnic = "vnet3: /proc/net/dev unreadable (EACCES); counters from /sys/class/net";
    t.script.errors.set("cpu@1s", [vnic, `${vnic}\nsecond line`, "domain 7: XML unreadable"]);
    await t.scheduler.apply(t.jobs(cpu()));
    await t.step(3000);
    expect(t.outcomes.every((o) => o.ok)).toBe(true);
    expect(t.scheduler.states()[0]).toMatchObject({
      state: "Running",
      partialErrors: 2,
      partialErrorsTotal: 9,
      lastError: "domain 7: XML unreadable",
      lastErrorTime: 1_001_000,
    });
    // One error goes away: it clears after two collections without it, the other stays open.
    t.script.errors.set("cpu@1s", ["domain 7: XML unreadable"]);
    await t.step(3000);
    expect(t.scheduler.states()[0]).toMatchObject({ partialErrors: 1, partialErrorsTotal: 12 });
    t.script.errors.delete("cpu@1s");
    await t.step(3000);
    expect(t.scheduler.states()[0]).toMatchObject({
      state: "Running",
      partialErrors: 0,
      partialErrorsTotal: 12,
    });
    expect(t.lines.map(({ level, msg, collector, err }) => ({ level, msg, collector, err }))).toEqual([
      { level: 40, msg: "collector partial error", collector: "cpu", err: vnic },
      { level: 40, msg: "collector partial error", collector: "cpu", err: "domain 7: XML unreadable" },
      { level: 30, msg: "collector partial error cleared", collector: "cpu", err: vnic },
      {
        level: 30,
        msg: "collector partial error cleared",
        collector: "cpu",
        err: "domain 7: XML unreadable",
      },
    ]);
    await t.scheduler.close();
  });

  it("leaves no timer behind once its jobs are stopped", async () => {
    const t = setup();
    t.script.failCreate.add("memory@1s");
    await t.scheduler.apply(t.jobs(cpu(), mem()));
    await t.step(1500);
    await t.scheduler.apply(t.jobs());
    expect(t.timers.pending).toBe(0);
    expect(t.log.filter((l) => l.startsWith("close"))).toEqual(["close cpu@1s#1"]);
    await t.scheduler.close();
  });
});
