import { copyFile, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { MonitoringProfile } from "../../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../../api/v1alpha1/validators.ts";
import { FIXTURE_ROOT } from "../../test/helpers/collector-env.ts";
import { ManualTimers } from "../../test/helpers/manual-timers.ts";
import { Agent } from "../agent.ts";
import { createCollectorRegistry } from "../collectors/index.ts";
import { HostPaths } from "../host-paths.ts";

/** 2 CPUs at USER_HZ 100: one jiffy per CPU every 10 ms. */
const CPUS = 2;
const T0 = 1_800_000_000_000;

/** A host whose busy share changes every `windowMs`: what /proc/stat says at `t` (ms), and the truth over a span. */
function simulatedHost(windowMs: number, loads: readonly number[]) {
  const load = (k: number) => loads[((k % loads.length) + loads.length) % loads.length]!;
  /** Busy CPU-ms since T0, per CPU. */
  const busyMs = (t: number) => {
    let sum = 0;
    for (let from = T0; from < t; from += windowMs)
      sum += load((from - T0) / windowMs) * Math.min(windowMs, t - from);
    return sum;
  };
  const jiffies = (t: number) => {
    const total = Math.floor((t - T0) / 10);
    const busy = Math.floor(busyMs(t) / 10);
    return { busy, idle: total - busy };
  };
  const stat = (t: number) => {
    const { busy, idle } = jiffies(t);
    const line = (name: string, n: number) => `${name} ${busy * n} 0 0 ${idle * n} 0 0 0 0 0 0`;
    return [
      line("cpu", CPUS),
      ...Array.from({ length: CPUS }, (_, i) => line(`cpu${i}`, 1)),
      "ctxt 1",
      "",
    ].join("\n");
  };
  /** Busy percent over [a, b] as /proc/stat shows it. */
  const truth = (a: number, b: number) => {
    const x = jiffies(a);
    const y = jiffies(b);
    return ((y.busy - x.busy) * 100) / (y.busy - x.busy + y.idle - x.idle);
  };
  return { stat, truth };
}

/** A validated profile; intervals below the API's floors (1 s, 5 s) are set after validation, as only tests do. */
function profile(spec: object, intervals: { collectionMs: number; windowMs: number }) {
  const r = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name: "p" },
    spec,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const { nodeSelector: _n, ...resolved } = (r.value as MonitoringProfile).spec;
  for (const c of resolved.collectors) c.interval = `${intervals.collectionMs}ms`;
  resolved.events.measurementInterval = `${intervals.windowMs}ms`;
  return { name: "p", generation: 1, spec: resolved };
}

type Event = {
  commonEventHeader: Record<string, number | string>;
  measurementFields?: Record<string, unknown>;
};

/** Runs the real cpu and interface collectors on a simulated /proc, on a manual clock, for `ms`. */
async function run(collectionMs: number, windowMs: number, loads: readonly number[], ms: number) {
  const root = await mkdtemp(join(tmpdir(), "vesmon-align-"));
  await mkdir(join(root, "proc/net"), { recursive: true });
  await copyFile(join(FIXTURE_ROOT, "proc/net/dev"), join(root, "proc/net/dev"));
  const host = simulatedHost(windowMs, loads);
  const timers = new ManualTimers();
  timers.advance(T0 - 1);
  await writeFile(join(root, "proc/stat"), host.stat(T0));
  const out = new PassThrough();
  const events: Event[] = [];
  out.on("data", (c: Buffer) => {
    for (const l of c.toString().split("\n").filter(Boolean)) {
      const e = JSON.parse(l) as Event;
      if (e.commonEventHeader.domain === "measurement") events.push(e);
    }
  });
  const agent = new Agent({
    registry: createCollectorRegistry(),
    env: { paths: new HostPaths({ root }), now: () => timers.now(), log: pino({ level: "silent" }) },
    timers,
    node: "node-a",
    stateDir: await mkdtemp(join(tmpdir(), "vesmon-align-state-")),
    credentialsDir: "/nonexistent",
    stdout: out,
    log: pino({ level: "silent" }),
  });
  await agent.apply([
    profile(
      {
        collectors: [{ name: "cpu", perCpu: false }, { name: "interface" }],
        events: { heartbeatInterval: "1h" },
        sinks: [{ name: "out", stdout: {} }],
      },
      { collectionMs, windowMs },
    ),
  ]);
  // Each collection tick: /proc/stat as it is at the tick, the clock moved to it, and the reads let finish.
  for (let t = T0; t <= T0 + ms; t += collectionMs) {
    await writeFile(join(root, "proc/stat"), host.stat(t));
    timers.advance(t - timers.now());
    for (let i = 0; i < 200; i++) {
      const jobs = agent.status().jobs;
      if (jobs.length && jobs.every((j) => (j.lastSuccessTime ?? 0) >= t)) break;
      await new Promise((r) => setTimeout(r, 1));
    }
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
  await agent.close();
  return { events, host };
}

const totalCpu = (e: Event) =>
  (e.measurementFields?.cpuUsageArray as { cpuIdentifier: string; percentUsage: number }[] | undefined)?.find(
    (c) => c.cpuIdentifier === "total",
  )?.percentUsage;
const nicSuspect = (e: Event) =>
  ((e.measurementFields?.nicPerformanceArray ?? []) as { valuesAreSuspect: string }[]).map(
    (n) => n.valuesAreSuspect,
  );

describe("measurement windows", () => {
  for (const [collectionMs, windowMs] of [
    [5000, 5000],
    [1000, 5000],
    [2000, 2000],
    [500, 2000],
  ] as const)
    it(`describe the window they are labelled with (collection ${collectionMs} ms, window ${windowMs} ms)`, async () => {
      const loads = [0.9, 0.1, 0.6, 0.2, 1, 0];
      const { events, host } = await run(collectionMs, windowMs, loads, windowMs * 8);
      const withCpu = events.filter((e) => totalCpu(e) !== undefined);
      expect(withCpu.length).toBeGreaterThanOrEqual(6);
      let previousEnd: number | undefined;
      for (const e of events) {
        const start = Number(e.commonEventHeader.startEpochMicrosec) / 1000;
        const end = Number(e.commonEventHeader.lastEpochMicrosec) / 1000;
        // Windows tile time: each starts where the previous ended, on the interval's boundaries.
        if (previousEnd !== undefined) expect(start).toBe(previousEnd);
        previousEnd = end;
        expect(end - start).toBe(windowMs);
        expect(end % windowMs).toBe(0);
        const cpu = totalCpu(e);
        if (cpu !== undefined) expect(Math.abs(cpu - host.truth(start, end))).toBeLessThanOrEqual(0.1);
      }
    });

  it("mark the first window suspect, and not the next ones", async () => {
    const { events } = await run(1000, 2000, [0.5], 8000);
    expect(events.length).toBeGreaterThanOrEqual(4);
    expect(new Set(nicSuspect(events[0]!))).toEqual(new Set(["true"]));
    for (const e of events.slice(1)) expect(new Set(nicSuspect(e))).toEqual(new Set(["false"]));
  });
});
