import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ManualTimers } from "../../test/helpers/manual-timers.ts";
import { promtool } from "../../test/helpers/promtool.ts";
import { resolvedProfile } from "../../test/helpers/resolved-profile.ts";
import { Agent } from "../agent.ts";
import type { CollectorFactory } from "../collectors/collector.ts";
import { CollectorRegistry } from "../collectors/registry.ts";
import { HOST } from "../collectors/sample.ts";
import { HostPaths } from "../host-paths.ts";
import { AgentMetrics } from "../metrics.ts";
import { IncompleteWindows } from "./incomplete-windows.ts";

type Line = { level: number; msg: string; job?: string; collector?: string; reason?: string; err?: string };

function capture() {
  const lines: Line[] = [];
  return { lines, log: pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l)) }) };
}

describe("IncompleteWindows", () => {
  it("counts every incomplete window but logs only when a job's windows start and stop lacking reads", () => {
    const { lines, log } = capture();
    const w = new IncompleteWindows(log, "p");
    const jobs = new Map([
      ["cpu-1", "cpu"],
      ["load-1", "load"],
    ]);
    w.observe(
      new Map([
        ["cpu-1", "first"],
        ["load-1", "first"],
      ]),
      jobs,
      5000,
    );
    w.observe(new Map([["cpu-1", "missing"]]), jobs, 10_000);
    w.observe(new Map([["cpu-1", "late"]]), jobs, 15_000);
    w.observe(new Map(), jobs, 20_000);
    w.observe(new Map(), jobs, 25_000);
    w.observe(new Map([["load-1", "late"]]), jobs, 30_000);
    // load-1 leaves the profile: its streak is forgotten without a line.
    w.observe(new Map(), new Map([["cpu-1", "cpu"]]), 35_000);
    expect(w.counts()).toEqual([
      { collector: "cpu", reason: "first", count: 1 },
      { collector: "load", reason: "first", count: 1 },
      { collector: "cpu", reason: "missing", count: 1 },
      { collector: "cpu", reason: "late", count: 1 },
      { collector: "load", reason: "late", count: 1 },
    ]);
    expect(lines.map(({ level, msg, job, reason }) => ({ level, msg, job, reason }))).toEqual([
      {
        level: 40,
        msg: "measurement windows incomplete: values marked suspect",
        job: "cpu-1",
        reason: "missing",
      },
      { level: 30, msg: "measurement windows complete again", job: "cpu-1", reason: undefined },
      {
        level: 40,
        msg: "measurement windows incomplete: values marked suspect",
        job: "load-1",
        reason: "late",
      },
    ]);
    expect(lines[1]).toMatchObject({ incomplete: 2, at: new Date(20_000).toISOString() });
  });
});

interface Script {
  /** Collections started at these times reject. */
  fail: Set<number>;
  /** Collections started at these times answer this many ms later (a slow read). */
  delay: Map<number, number>;
  /** Partial errors every result carries. */
  errors: string[];
}

/** A load collector following `script`. */
function loadCollector(timers: ManualTimers, script: Script): CollectorFactory {
  return {
    name: "load",
    async create() {
      return {
        name: "load",
        async collect() {
          const time = timers.now();
          const delay = script.delay.get(time);
          if (delay) await new Promise<void>((r) => timers.setTimeout(() => r(), delay));
          if (script.fail.has(time)) throw new Error("/proc/loadavg: EIO");
          return {
            time,
            samples: [{ metric: "host.load.running", value: 1, unit: "count" as const, source: HOST }],
            errors: [...script.errors],
          };
        },
        async close() {},
      };
    },
  };
}

const T0 = 1_800_000_000_000;

/** An agent running one profile with the scripted load collector every 1 s in 5 s windows, from T0. */
async function agentWith(script: Script) {
  const timers = new ManualTimers();
  timers.advance(T0);
  const { lines, log } = capture();
  const out = new PassThrough();
  const agent = new Agent({
    registry: new CollectorRegistry().register(loadCollector(timers, script)),
    env: { paths: new HostPaths(), now: () => timers.now(), log: pino({ level: "silent" }) },
    timers,
    node: "node-a",
    stateDir: await mkdtemp(join(tmpdir(), "vesmon-incomplete-")),
    credentialsDir: "/nonexistent",
    stdout: out,
    log,
  });
  const metrics = new AgentMetrics(agent);
  const step = async (ms: number) => {
    for (let done = 0; done < ms; done += 250) {
      timers.advance(250);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  };
  const series = async (name: string) =>
    (await metrics.registry.metrics()).split("\n").filter((l) => l.startsWith(`${name}{`));
  await agent.apply([
    resolvedProfile({
      collectors: [{ name: "load", interval: "1s" }],
      events: { measurementInterval: "5s", heartbeatInterval: "1h" },
      sinks: [{ name: "out", stdout: {} }],
    }),
  ]);
  const windowLines = () =>
    lines
      .filter((l) => /windows/.test(l.msg))
      .map(({ level, msg, collector, reason }) => ({ level, msg, collector, reason }));
  return { agent, metrics, step, series, lines, windowLines };
}

describe("an agent whose collector reads in part or misses reads", () => {
  it("logs each transition once and meters partial errors and incomplete windows on /metrics", async () => {
    const script: Script = { fail: new Set(), delay: new Map(), errors: [] };
    const { agent, metrics, step, series, lines } = await agentWith(script);
    await step(10_000);
    // Two reads of the window [T0+10 s, T0+15 s] fail, and a partial error comes and goes.
    script.fail = new Set([T0 + 12_000, T0 + 13_000]);
    script.errors = ["sdb: gone from /proc/diskstats"];
    await step(4_000);
    script.errors = [];
    await step(16_000);

    expect(
      lines
        .filter((l) => /partial|windows/.test(l.msg))
        .map(({ level, msg, collector, reason, err }) => ({ level, msg, collector, reason, err })),
    ).toEqual([
      {
        level: 40,
        msg: "collector partial error",
        collector: "load",
        reason: undefined,
        err: "sdb: gone from /proc/diskstats",
      },
      {
        level: 40,
        msg: "measurement windows incomplete: values marked suspect",
        collector: "load",
        reason: "missing",
        err: undefined,
      },
      {
        level: 30,
        msg: "collector partial error cleared",
        collector: "load",
        reason: undefined,
        err: "sdb: gone from /proc/diskstats",
      },
      {
        level: 30,
        msg: "measurement windows complete again",
        collector: "load",
        reason: undefined,
        err: undefined,
      },
    ]);
    expect(await series("vesmon_scrape_collector_incomplete_windows_total")).toEqual([
      'vesmon_scrape_collector_incomplete_windows_total{profile="p",collector="load",reason="first"} 1',
      'vesmon_scrape_collector_incomplete_windows_total{profile="p",collector="load",reason="missing"} 1',
    ]);
    expect(await series("vesmon_scrape_collector_partial_errors_total")).toEqual([
      'vesmon_scrape_collector_partial_errors_total{profile="p",collector="load"} 2',
    ]);
    expect(await series("vesmon_scrape_collector_distinct_partial_errors")).toEqual([
      'vesmon_scrape_collector_distinct_partial_errors{profile="p",collector="load"} 0',
    ]);
    // The new families pass Prometheus's own lint with the rest of the agent's metrics.
    expect(await promtool(["check", "metrics"], await metrics.registry.metrics())).toEqual({
      code: 0,
      output: "",
    });
    await agent.close();
  });

  it("counts a window whose closing read came after the grace as late, once, and logs it once", async () => {
    const script: Script = { fail: new Set(), delay: new Map(), errors: [] };
    const { agent, step, series, windowLines } = await agentWith(script);
    // The read at T0 + 15 s, which closes [T0 + 10 s, T0 + 15 s], answers 3 s later: past the 2.5 s grace. The
    // scheduler skips the ticks it blocks, so the next window misses reads too.
    script.delay.set(T0 + 15_000, 3_000);
    await step(30_000);
    expect(await series("vesmon_scrape_collector_incomplete_windows_total")).toEqual([
      'vesmon_scrape_collector_incomplete_windows_total{profile="p",collector="load",reason="first"} 1',
      'vesmon_scrape_collector_incomplete_windows_total{profile="p",collector="load",reason="late"} 1',
      'vesmon_scrape_collector_incomplete_windows_total{profile="p",collector="load",reason="missing"} 1',
    ]);
    expect(windowLines()).toEqual([
      {
        level: 40,
        msg: "measurement windows incomplete: values marked suspect",
        collector: "load",
        reason: "late",
      },
      { level: 30, msg: "measurement windows complete again", collector: "load", reason: undefined },
    ]);
    await agent.close();
  });
});
