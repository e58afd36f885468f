import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { CollectorName } from "../api/v1alpha1/collectors.ts";
import type { MonitoringProfile } from "../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import { ManualTimers } from "../test/helpers/manual-timers.ts";
import { Agent } from "./agent.ts";
import { summarizeChanges } from "./apply-changes.ts";
import type { CollectorFactory } from "./collectors/collector.ts";
import { CollectorRegistry } from "./collectors/registry.ts";
import { HOST } from "./collectors/sample.ts";
import { HostPaths } from "./host-paths.ts";
import type { PipelineProfile } from "./pipeline/profile-pipeline.ts";

/** Fake host collectors emitting one gauge per read, with the read time as its value. */
function registry(timers: ManualTimers, broken: Set<string>) {
  const reg = new CollectorRegistry();
  let creates = 0;
  const make = (name: CollectorName, metric: string): CollectorFactory => ({
    name,
    async create(spec) {
      if (broken.has(`create:${name}`)) throw new Error(`${name} cannot start`);
      creates++;
      return {
        name,
        async collect() {
          if (broken.has(`collect:${name}`)) throw new Error(`${name} source gone`);
          return {
            time: timers.now(),
            samples: [
              {
                metric,
                value: timers.now(),
                unit: "count" as const,
                source: HOST,
                labels: { interval: spec.interval },
              },
            ],
            errors: [],
          };
        },
        async close() {},
      };
    },
  });
  // A hypervisor with 120 VMs: more than one slice of a measurement flush.
  const vms = Array.from({ length: 120 }, (_, i) => ({
    kind: "vm" as const,
    name: `vm-${String(i).padStart(3, "0")}`,
    uuid: `6f1c2d3e-0000-4000-8000-${String(i).padStart(12, "0")}`,
  }));
  const virt: CollectorFactory = {
    name: "virt",
    async create() {
      return {
        name: "virt",
        async collect() {
          const samples = vms.map((source) => ({
            metric: "vm.cpu.percent",
            value: 10,
            unit: "percent" as const,
            source,
          }));
          return { time: timers.now(), samples, errors: [] };
        },
        async close() {},
      };
    },
  };
  reg
    .register(make("load", "host.load.running"))
    .register(make("memory", "host.memory.total"))
    .register(make("cpu", "host.cpu.usage.percent"))
    .register(virt);
  return { reg, creates: () => creates };
}

function profile(name: string, generation: number, spec: object): PipelineProfile {
  const r = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name },
    spec,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const { nodeSelector: _n, ...resolved } = (r.value as MonitoringProfile).spec;
  return { name, generation, spec: resolved };
}

async function setup() {
  const timers = new ManualTimers();
  timers.advance(1_800_000_000_000);
  const broken = new Set<string>();
  const { reg, creates } = registry(timers, broken);
  const out = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  out.on("data", (c: Buffer) => {
    for (const l of c.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
  });
  const agent = new Agent({
    registry: reg,
    env: { paths: new HostPaths(), now: () => timers.now(), log: pino({ level: "silent" }) },
    timers,
    node: "node-a",
    stateDir: await mkdtemp(join(tmpdir(), "vesmon-agent-")),
    credentialsDir: "/nonexistent",
    stdout: out,
    log: pino({ level: "silent" }),
  });
  const step = async (ms: number) => {
    for (let done = 0; done < ms; done += 250) {
      timers.advance(Math.min(250, ms - done));
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  };
  const events = (domain: string) =>
    lines.filter((l) => (l.commonEventHeader as { domain: string }).domain === domain) as {
      commonEventHeader: Record<string, unknown>;
      [k: string]: unknown;
    }[];
  return { timers, broken, agent, step, events, creates };
}

const basic = (collectors: object[], extra: object = {}) => ({
  collectors,
  events: { measurementInterval: "5s", heartbeatInterval: "10s" },
  sinks: [{ name: "out", stdout: {} }],
  ...extra,
});

describe("Agent", () => {
  it("turns collections into one measurement event per window, heartbeats, and reports what it applied", async () => {
    const t = await setup();
    const report = await t.agent.apply([profile("p", 1, basic([{ name: "load", interval: "1s" }]))]);
    expect(report.applied).toEqual(["p"]);
    await t.step(20_000);
    const m = t.events("measurement");
    expect(m.length).toBeGreaterThanOrEqual(3);
    expect(m.every((e) => e.commonEventHeader.sourceName === "node-a")).toBe(true);
    expect(t.events("heartbeat").length).toBe(2);
    const st = t.agent.status();
    expect(st.profiles).toEqual([{ name: "p", appliedGeneration: 1, state: "Applied" }]);
    expect(st.jobs).toMatchObject([{ collector: "load", state: "Running", profiles: ["p"] }]);
    expect(st.sinks).toMatchObject([{ profile: "p", name: "out", kind: "stdout", state: "Ready" }]);
    await t.agent.close();
  });

  it("builds a window of many VMs in slices, every VM once and in order, ids in sequence", async () => {
    const t = await setup();
    await t.agent.apply([profile("p", 1, basic([{ name: "virt", interval: "1s" }]))]);
    await t.step(10_000);
    const m = t.events("measurement");
    const windows = new Map<unknown, string[]>();
    for (const e of m) {
      const key = e.commonEventHeader.startEpochMicrosec;
      windows.set(key, [...(windows.get(key) ?? []), e.commonEventHeader.sourceName as string]);
    }
    const full = [...windows.values()].filter((names) => names.length > 1);
    expect(full.length).toBeGreaterThanOrEqual(1);
    for (const names of full)
      expect(names).toEqual(Array.from({ length: 120 }, (_, i) => `vm-${String(i).padStart(3, "0")}`));
    const ids = m.map((e) => Number(/\d+$/.exec(String(e.commonEventHeader.eventId))?.[0]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    await t.agent.close();
  });

  it("shares one job between profiles asking for the same thing", async () => {
    const t = await setup();
    await t.agent.apply([
      profile("a", 1, basic([{ name: "load", interval: "1s" }])),
      profile("b", 1, basic([{ name: "load", interval: "1s" }])),
    ]);
    expect(t.agent.status().jobs).toMatchObject([{ collector: "load", profiles: ["a", "b"] }]);
    expect(t.creates()).toBe(1);
    await t.agent.close();
  });

  it("hot-applies a change without restarting unchanged jobs or missing their samples", async () => {
    const t = await setup();
    await t.agent.apply([profile("p", 1, basic([{ name: "load", interval: "1s" }]))]);
    await t.step(3000);
    await t.agent.apply([
      profile(
        "p",
        2,
        basic([
          { name: "load", interval: "1s" },
          { name: "memory", interval: "1s" },
        ]),
      ),
    ]);
    await t.step(3000);
    await t.agent.apply([profile("p", 3, basic([{ name: "load", interval: "1s" }]))]);
    await t.step(4000);
    expect(t.creates()).toBe(2);
    expect(t.agent.status().jobs.map((j) => j.collector)).toEqual(["load"]);
    expect(t.agent.status().profiles[0]).toMatchObject({ appliedGeneration: 3, state: "Applied" });
  });

  it("keeps an Atomic profile's previous generation when its new jobs cannot all start", async () => {
    const t = await setup();
    await t.agent.apply([
      profile("p", 1, basic([{ name: "load", interval: "1s" }], { applyPolicy: "Atomic" })),
    ]);
    t.broken.add("create:memory");
    const report = await t.agent.apply([
      profile(
        "p",
        2,
        basic(
          [
            { name: "load", interval: "2s" },
            { name: "memory", interval: "1s" },
          ],
          { applyPolicy: "Atomic" },
        ),
      ),
    ]);
    expect(report.refused[0]?.message).toMatch(
      /^Atomic: job memory-[0-9a-f]+: memory cannot start; generation 1 keeps running$/,
    );
    expect(t.agent.status().jobs.map((j) => [j.collector, j.intervalMs])).toEqual([["load", 1000]]);
    expect(t.agent.status().profiles[0]).toMatchObject({ appliedGeneration: 1, state: "Refused" });
    await t.agent.close();
  });

  it("runs what starts under BestEffort, reports the failed job, and raises then clears a collector fault", async () => {
    const t = await setup();
    t.broken.add("collect:cpu");
    await t.agent.apply([
      profile(
        "p",
        1,
        basic([
          { name: "load", interval: "1s" },
          { name: "cpu", interval: "1s" },
        ]),
      ),
    ]);
    // Raised on the third failed collection in a row (DEFAULT_RAISE_AFTER), cleared on the second success.
    await t.step(3000);
    const faults = () =>
      t.events("fault").map((e) => (e.faultFields as { eventSeverity: string }).eventSeverity);
    expect(faults()).toEqual(["MAJOR"]);
    expect(t.agent.status().jobs.find((j) => j.collector === "cpu")).toMatchObject({
      state: "Failed",
      lastError: "cpu source gone",
    });
    t.broken.delete("collect:cpu");
    await t.step(1000);
    expect(faults()).toEqual(["MAJOR"]);
    await t.step(2000);
    expect(faults()).toEqual(["MAJOR", "NORMAL"]);
    const [raise, clear] = t.events("fault");
    expect(clear?.commonEventHeader.eventId).toBe(raise?.commonEventHeader.eventId);
    await t.agent.close();
  });

  it("holds nothing more after 1000 apply cycles than after one", async () => {
    const t = await setup();
    const a = profile("p", 1, basic([{ name: "load", interval: "1s" }]));
    const b = profile(
      "p",
      2,
      basic([
        { name: "load", interval: "1s" },
        { name: "memory", interval: "2s" },
      ]),
    );
    await t.agent.apply([a]);
    await t.step(1000);
    const baseline = t.timers.pending;
    for (let i = 0; i < 1000; i++) await t.agent.apply([i % 2 ? a : b]);
    await t.step(1000);
    expect(t.timers.pending).toBe(baseline);
    expect(t.agent.status().jobs.map((j) => j.collector)).toEqual(["load"]);
    expect(t.creates()).toBe(1 + 500);
    expect(t.agent.applyCount).toBe(1001);
    await t.agent.close();
    expect(t.timers.pending).toBe(0);
  });

  it("closes everything: no timers left", async () => {
    const t = await setup();
    await t.agent.apply([profile("p", 1, basic([{ name: "load", interval: "1s" }]))]);
    await t.step(1000);
    await t.agent.close();
    expect(t.timers.pending).toBe(0);
  });
});

describe("Agent readiness", () => {
  it("is not ready before the first configuration", async () => {
    const t = await setup();
    expect(t.agent.readiness()).toEqual({ ready: false, reason: "waiting for the first configuration" });
  });

  it("is not ready while an Atomic profile with no earlier generation runs nothing, and ready once it runs", async () => {
    const t = await setup();
    t.broken.add("create:memory");
    const atomic = (generation: number) =>
      profile("p", generation, basic([{ name: "memory", interval: "1s" }], { applyPolicy: "Atomic" }));
    await t.agent.apply([atomic(1)]);
    expect(t.agent.readiness()).toEqual({
      ready: false,
      reason: expect.stringMatching(
        /^profiles not running: p: Atomic: job memory-[0-9a-f]+: memory cannot start; nothing runs$/,
      ),
    });
    t.broken.delete("create:memory");
    await t.agent.apply([atomic(2)]);
    expect(t.agent.readiness()).toEqual({ ready: true });
    // A refused later generation leaves generation 2 running: still ready, as Atomic allows.
    t.broken.add("create:load");
    await t.agent.apply([
      profile("p", 3, basic([{ name: "load", interval: "1s" }], { applyPolicy: "Atomic" })),
    ]);
    expect(t.agent.status().profiles[0]).toMatchObject({ state: "Refused", appliedGeneration: 2 });
    expect(t.agent.readiness()).toEqual({ ready: true });
    await t.agent.close();
  });

  it("is ready under BestEffort with a failing job, and with no profile at all", async () => {
    const t = await setup();
    t.broken.add("create:memory");
    await t.agent.apply([profile("p", 1, basic([{ name: "memory", interval: "1s" }]))]);
    expect(t.agent.readiness()).toEqual({ ready: true });
    await t.agent.apply([]);
    expect(t.agent.readiness()).toEqual({ ready: true });
    await t.agent.close();
  });
});

describe("Agent change report", () => {
  it("names the jobs started, stopped and changed and the sinks opened, closed and reopened", async () => {
    const t = await setup();
    const first = await t.agent.apply([
      profile(
        "p",
        1,
        basic([
          { name: "load", interval: "1s" },
          { name: "cpu", interval: "1s" },
        ]),
      ),
    ]);
    expect(first.changes).toEqual({
      jobsStarted: ["p/load", "p/cpu"],
      jobsStopped: [],
      jobsChanged: [],
      sinksOpened: ["p/out (stdout)"],
      sinksClosed: [],
      sinksReopened: [],
    });
    const edited = {
      ...basic([
        { name: "load", interval: "5s" },
        { name: "memory", interval: "1s" },
      ]),
      sinks: [{ name: "scrape", prometheus: {} }],
    };
    const second = await t.agent.apply([profile("p", 2, edited)]);
    expect(second.changes).toEqual({
      jobsStarted: ["p/memory"],
      jobsStopped: ["p/cpu"],
      jobsChanged: ["p/load (interval 1s → 5s)"],
      sinksOpened: ["p/scrape (prometheus)"],
      sinksClosed: ["p/out (stdout)"],
      sinksReopened: [],
    });
    expect(summarizeChanges(second.changes)).toBe(
      "started p/memory; stopped p/cpu; changed p/load (interval 1s → 5s); opened sink p/scrape (prometheus); closed sink p/out (stdout)",
    );
    const same = await t.agent.apply([profile("p", 3, edited)]);
    expect(summarizeChanges(same.changes)).toBe("nothing changed");
    await t.agent.close();
  });
});
