import { describe, expect, it } from "vitest";
import {
  AGENT_MEMORY_PLANS,
  type AgentMemoryReading,
  type AgentMemoryResult,
  type AgentMemoryRun,
  type AgentMode,
  agentMemoryMarkdown,
  goalVerdict,
  summariseAgentMemory,
} from "./agent-memory-report.ts";
import { MACHINE } from "./testdata.ts";

/** Readings whose VmRSS are `rss` (anonymous = rss − 50, file 50), the worker alive at the indices in `worker`. */
const readings = (rss: number[], worker: number[] = []): AgentMemoryReading[] =>
  rss.map((r, i) => ({
    atSeconds: 33 + 3 * i,
    rssMiB: r,
    anonymousMiB: r - 50,
    fileMiB: 50,
    threads: worker.includes(i) ? 12 : 11,
    worker: worker.includes(i),
  }));

const run = (
  domains: number,
  mode: AgentMode,
  repetition: number,
  rss: number[],
  over: Partial<AgentMemoryRun> = {},
): AgentMemoryRun => ({
  domains,
  mode,
  repetition,
  readings: readings(rss),
  windowSeconds: 30,
  rssPeakMiB: Math.max(...rss) + 10,
  cpuMsPerCycle: mode === "cluster" ? 30 : 25,
  ...(mode === "cluster" ? { workerLastSeenSeconds: 34 } : {}),
  eventsPerSecond: (domains + 1) / 5,
  virtCollections: 30,
  ...over,
});

const result = (runs: AgentMemoryRun[], over: Partial<AgentMemoryResult> = {}): AgentMemoryResult => ({
  mode: "full",
  plan: AGENT_MEMORY_PLANS.full,
  runtime: {
    nodeFlags: ["--max-semi-space-size=2", "--max-old-space-size=256"],
    env: { MALLOC_ARENA_MAX: "2" },
  },
  machine: MACHINE,
  load: { start: 1.5, end: 2.25 },
  runs,
  ...over,
});

const full = [
  run(10, "standalone", 1, [90, 91, 92]),
  run(10, "cluster", 1, [140, 150, 145]),
  run(40, "standalone", 1, [95, 97, 96]),
  run(40, "cluster", 1, [110, 111, 112]),
  run(10, "standalone", 2, [92, 93, 94]),
  run(10, "cluster", 2, [146, 146, 146]),
  run(40, "standalone", 2, [99, 98, 100]),
  run(40, "cluster", 2, [108, 109, 110]),
];

describe("agent-memory summary", () => {
  it("takes each run's median reading, then the median and range over the runs", () => {
    const rows = summariseAgentMemory(result(full));
    expect(rows.map((r) => `${r.domains} ${r.mode}`)).toEqual([
      "10 standalone",
      "10 cluster",
      "40 standalone",
      "40 cluster",
    ]);
    const s40 = rows[2]!;
    // Run medians 96 and 99: the mean of the two middle values.
    expect(s40.steady).toEqual({ median: 97.5, min: 96, max: 99 });
    expect(s40.anonymous).toEqual({ median: 47.5, min: 46, max: 49 });
    expect(s40.file.median).toBe(50);
    expect(s40.peak).toEqual({ median: 108.5, min: 107, max: 110 });
    expect(s40.runs).toBe(2);
    expect(s40.workerRuns).toBe(0);
  });

  it("counts the runs whose window saw the worker, and leaves out combinations without runs", () => {
    const withWorker = run(10, "cluster", 1, [150, 150, 150]);
    withWorker.readings = readings([150, 150, 150], [0]);
    const rows = summariseAgentMemory(
      result([run(10, "standalone", 1, [90, 91, 92]), withWorker], {
        plan: AGENT_MEMORY_PLANS.quick,
      }),
    );
    expect(rows).toHaveLength(2);
    expect(rows[1]!.workerRuns).toBe(1);
  });
});

describe("goalVerdict", () => {
  it("says met, met at the median only, or not met", () => {
    expect(goalVerdict({ median: 95, min: 94, max: 96 }, 96)).toBe(
      "**met** in every run (1.0 MiB under it at the median)",
    );
    expect(goalVerdict({ median: 95, min: 94, max: 98 }, 96)).toBe(
      "**met at the median, not in every run** (the highest run 2.0 MiB over)",
    );
    expect(goalVerdict({ median: 97.5, min: 96, max: 99 }, 96)).toBe(
      "**not met**: 1.5 MiB over at the median",
    );
  });
});

describe("agent-memory report", () => {
  it("renders the section with one row per domain count and mode", () => {
    const md = agentMemoryMarkdown(result(full));
    expect(md).toMatch(/^## Agent memory: standalone and cluster mode \(simulated libvirt\)\n/);
    for (const part of ["**What.**", "**Setup.**", "**Method.**", "### Findings", "¹ Runs in which"])
      expect(md).toContain(part);
    expect(md).toContain("`MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --max-old-space-size=256`");
    expect(md).toContain("full mode: N = 10, 40, 2 runs of each mode");
    expect(md).toContain(
      "AMD EPYC 7B13, 2\ncores, 7.8 GiB, kernel 6.18.44; the 1-minute load was 1.50 at the start and 2.25 at the end.",
    );
    const rows = md.split("\n").filter((l) => /^\| (10|40) \|/.test(l));
    expect(rows).toEqual([
      "| 10 | standalone | **92.0 (91.0–93.0)** | 103.0 (102.0–104.0) | 42.0 (41.0–43.0) | 50.0 | 25.0 | no |",
      "| 10 | cluster | **145.5 (145.0–146.0)** | 158.0 (156.0–160.0) | 95.5 (95.0–96.0) | 50.0 | 30.0 | no |",
      "| 40 | standalone | **97.5 (96.0–99.0)** | 108.5 (107.0–110.0) | 47.5 (46.0–49.0) | 50.0 | 25.0 | no |",
      "| 40 | cluster | **110.0 (109.0–111.0)** | 121.0 (120.0–122.0) | 60.0 (59.0–61.0) | 50.0 | 30.0 | no |",
    ]);
  });

  it("states the goals, the cluster-mode difference and the growth per domain", () => {
    const md = agentMemoryMarkdown(result(full));
    expect(md).toContain(
      "- **Goal, standalone (issue #17):** at N=40 the steady RSS is 97.5 (96.0–99.0) MiB against ≤ 96 MiB: **not met**: 1.5 MiB over at the median.",
    );
    expect(md).toContain(
      "- **Goal, cluster mode (issue #17):** at N=40 the steady RSS is 110.0 (109.0–111.0) MiB against ≤ 112 MiB: **met** in every run (2.0 MiB under it at the median).",
    );
    expect(md).toContain(
      "+53.5 MiB at N=10 (anonymous +53.5, file-backed +0.0); +12.5 MiB at N=40 (anonymous +12.5, file-backed +0.0).",
    );
    // (97.5 − 92) MiB over 30 domains is 188 KiB each; (110 − 145.5) MiB is a fall.
    expect(md).toContain(
      "from N=10 to N=40 the steady RSS moves +5.5 MiB standalone (+188 KiB per domain), −35.5 MiB cluster (−1212 KiB per domain).",
    );
    expect(md).toContain(
      "each window began once no `WorkerThread` thread had been seen for 12 s; no reading of any window found a worker thread alive.",
    );
    expect(md).toContain("seen after the start in 4 of 4 runs, last at 34.0 s after the start (median).");
  });

  it("says the goals were not measured when N=40 is not in the plan, and names a window that saw the worker", () => {
    const { workerLastSeenSeconds: _, ...noneBefore } = run(10, "cluster", 1, [150, 150, 150], {
      readings: readings([150, 150, 150], [2]),
    });
    const md = agentMemoryMarkdown(
      result([run(10, "standalone", 1, [90, 91, 92]), noneBefore], {
        mode: "quick",
        plan: AGENT_MEMORY_PLANS.quick,
      }),
    );
    expect(md).toContain("quick mode: N = 10, 1 run of each mode");
    expect(md).toContain(
      "- **Goals (issue #17)** are at N=40 (≤ 96 MiB standalone, ≤ 112 MiB in cluster mode): not measured in this run (N = 10).",
    );
    expect(md).not.toContain("**Per domain:**");
    expect(md).toContain("| 10 | cluster | **150.0** | 160.0 | 100.0 | 50.0 | 30.0 | yes, 1 of 1 |");
    expect(md).toContain("in 1 of 1 cluster runs at N=10: those figures include its isolate");
    expect(md).toContain("never seen before the window (1 run)");
  });
});
