// The result of the agent-memory benchmark, its summary and its section of docs/benchmarks.md, kept apart from
// the measuring code so they are tested from a fixture without starting anything.
import { type Spread, spread } from "./collection.ts";
import type { Machine } from "./proc.ts";
import { SETTLE_REASON, SETTLED_AFTER_SECONDS } from "./setup.ts";

/** How the agent gets its profile: a `--profile` file, or a NodeMonitor naming a MonitoringProfile. */
export type AgentMode = "standalone" | "cluster";

/** Issue #17's goals: steady RSS at `domains` libvirt domains, MiB. */
export const AGENT_MEMORY_GOALS = { domains: 40, standaloneMiB: 96, clusterMiB: 112 } as const;

/**
 * What Node names a worker thread's OS thread (its `comm`) when `new Worker()` is given no `name`, as neither
 * the profile file reader nor cluster mode's validator gives one.
 */
export const WORKER_THREAD = "WorkerThread";

/** How much to measure. */
export interface AgentMemoryPlan {
  domainCounts: readonly number[];
  repetitions: number;
  /** Readings in a window, `readingSeconds` apart: the window lasts readings × readingSeconds. */
  readings: number;
  readingSeconds: number;
  /** Seconds from the agent's start before its window may begin. */
  warmupSeconds: number;
  /**
   * Seconds the window also waits after a worker thread was last seen alive: Node 24 releases a worker's memory
   * about 8 s after its thread has ended (a bare worker in a script shows it too, with or without V8's memory
   * reducer), so the thread's end alone is not the end of what it costs.
   */
  workerSettleSeconds: number;
}

/** The quick and the full plan (a full run takes about 32 minutes). */
export const AGENT_MEMORY_PLANS = {
  quick: {
    domainCounts: [10],
    repetitions: 1,
    readings: 5,
    readingSeconds: 3,
    warmupSeconds: 33,
    workerSettleSeconds: 12,
  },
  // The full plan reads the settled agent: its RSS climbs for two to three minutes after the start, as V8 and
  // malloc take pages they then keep, so a window read at 33 s was up to 10 MiB low (bench/memory.md).
  full: {
    domainCounts: [10, 40],
    repetitions: 2,
    readings: 20,
    readingSeconds: 3,
    warmupSeconds: SETTLED_AFTER_SECONDS,
    workerSettleSeconds: 12,
  },
} as const satisfies Record<string, AgentMemoryPlan>;

/** One reading of the agent's process. */
export interface AgentMemoryReading {
  /** Seconds since the agent started. */
  atSeconds: number;
  /** VmRSS, and smaps_rollup's Anonymous and the rest of its Rss. */
  rssMiB: number;
  anonymousMiB: number;
  fileMiB: number;
  threads: number;
  /** Whether a thread named WORKER_THREAD was alive. */
  worker: boolean;
}

/** One agent process, one mode, one domain count. */
export interface AgentMemoryRun {
  domains: number;
  mode: AgentMode;
  repetition: number;
  /** The window's readings, in order. */
  readings: AgentMemoryReading[];
  windowSeconds: number;
  /** VmHWM at the end of the window: the start-up peak included. */
  rssPeakMiB: number;
  /** utime + stime of the agent over the window, per 1 s cycle. */
  cpuMsPerCycle: number;
  /** When a worker thread was last seen alive before the window, seconds since the start; absent if never. */
  workerLastSeenSeconds?: number;
  /** VES events the listener accepted per second in the window, and virt collections made in it. */
  eventsPerSecond: number;
  virtCollections: number;
}

/** Everything one plan measured. */
export interface AgentMemoryResult {
  mode: "quick" | "full";
  plan: AgentMemoryPlan;
  /** The V8 flags and environment the agent ran with (bench/setup.ts, AGENT_RUNTIME). */
  runtime: { nodeFlags: readonly string[]; env: Readonly<Record<string, string>> };
  machine: Machine;
  /** The 1-minute load average at the start and the end (the machine may be shared). */
  load: { start: number; end: number };
  runs: AgentMemoryRun[];
}

/** One row of the table: the runs of one domain count and mode, each figure over those runs. */
export interface AgentMemoryRow {
  domains: number;
  mode: AgentMode;
  runs: number;
  /** Per run the median of its readings, then over the runs. */
  steady: Spread;
  peak: Spread;
  anonymous: Spread;
  file: Spread;
  cpu: Spread;
  /** Runs in which some reading of the window found a worker thread alive. */
  workerRuns: number;
}

/** Both modes, in the order they run and are reported. */
export const MODES: readonly AgentMode[] = ["standalone", "cluster"];

/** The rows, by domain count then mode; a combination without runs has no row. */
export function summariseAgentMemory(result: AgentMemoryResult): AgentMemoryRow[] {
  const rows: AgentMemoryRow[] = [];
  for (const domains of result.plan.domainCounts)
    for (const mode of MODES) {
      const runs = result.runs.filter((r) => r.domains === domains && r.mode === mode);
      if (runs.length === 0) continue;
      const overRuns = (f: (r: AgentMemoryRun) => number) => spread(runs.map(f));
      const perRun = (f: (x: AgentMemoryReading) => number) =>
        overRuns((r) => spread(r.readings.map(f)).median);
      rows.push({
        domains,
        mode,
        runs: runs.length,
        steady: perRun((x) => x.rssMiB),
        peak: overRuns((r) => r.rssPeakMiB),
        anonymous: perRun((x) => x.anonymousMiB),
        file: perRun((x) => x.fileMiB),
        cpu: overRuns((r) => r.cpuMsPerCycle),
        workerRuns: runs.filter((r) => r.readings.some((x) => x.worker)).length,
      });
    }
  return rows;
}

const f1 = (n: number) => n.toFixed(1);
/** The median, and (min–max) when the runs differ at one decimal. */
const cell = (s: Spread) =>
  f1(s.min) === f1(s.max) ? f1(s.median) : `${f1(s.median)} (${f1(s.min)}–${f1(s.max)})`;
const signed = (n: number, digits = 1) => `${n >= 0 ? "+" : "−"}${Math.abs(n).toFixed(digits)}`;

/** How a row's steady RSS stands against a goal, in words. */
export function goalVerdict(steady: Spread, goalMiB: number): string {
  if (steady.max <= goalMiB)
    return `**met** in every run (${f1(goalMiB - steady.median)} MiB under it at the median)`;
  if (steady.median <= goalMiB)
    return `**met at the median, not in every run** (the highest run ${f1(steady.max - goalMiB)} MiB over)`;
  return `**not met**: ${f1(steady.median - goalMiB)} MiB over at the median`;
}

function goalFindings(rows: readonly AgentMemoryRow[]): string[] {
  const g = AGENT_MEMORY_GOALS;
  const at = (mode: AgentMode) => rows.find((r) => r.domains === g.domains && r.mode === mode);
  const lines: string[] = [];
  for (const [mode, goal, label] of [
    ["standalone", g.standaloneMiB, "Goal, standalone"],
    ["cluster", g.clusterMiB, "Goal, cluster mode"],
  ] as const) {
    const row = at(mode);
    if (row)
      lines.push(
        `- **${label} (issue #17):** at N=${g.domains} the steady RSS is ${cell(row.steady)} MiB against ≤ ${goal} MiB: ${goalVerdict(row.steady, goal)}.`,
      );
  }
  if (lines.length === 0)
    lines.push(
      `- **Goals (issue #17)** are at N=${g.domains} (≤ ${g.standaloneMiB} MiB standalone, ≤ ${g.clusterMiB} MiB in cluster mode): not measured in this run (N = ${[...new Set(rows.map((r) => r.domains))].join(", ")}).`,
    );
  return lines;
}

function findings(result: AgentMemoryResult, rows: readonly AgentMemoryRow[]): string[] {
  const lines = goalFindings(rows);
  const pairs = result.plan.domainCounts.flatMap((n) => {
    const s = rows.find((r) => r.domains === n && r.mode === "standalone");
    const c = rows.find((r) => r.domains === n && r.mode === "cluster");
    return s && c ? [{ n, s, c }] : [];
  });
  if (pairs.length)
    lines.push(
      `- **Cluster minus standalone** (medians; the same collectors, so the difference is what cluster mode keeps: the Kubernetes client, its watches and caches, the status writer): ${pairs
        .map(
          ({ n, s, c }) =>
            `${signed(c.steady.median - s.steady.median)} MiB at N=${n} (anonymous ${signed(c.anonymous.median - s.anonymous.median)}, file-backed ${signed(c.file.median - s.file.median)})`,
        )
        .join("; ")}.`,
    );
  const ns = [...new Set(rows.map((r) => r.domains))].sort((a, b) => a - b);
  if (ns.length >= 2) {
    const [lo, hi] = [ns[0]!, ns.at(-1)!];
    const growth = MODES.flatMap((mode) => {
      const a = rows.find((r) => r.domains === lo && r.mode === mode);
      const b = rows.find((r) => r.domains === hi && r.mode === mode);
      if (!a || !b) return [];
      const d = b.steady.median - a.steady.median;
      return [`${signed(d)} MiB ${mode} (${signed((d * 1024) / (hi - lo), 0)} KiB per domain)`];
    });
    if (growth.length)
      lines.push(`- **Per domain:** from N=${lo} to N=${hi} the steady RSS moves ${growth.join(", ")}.`);
  }
  lines.push(workerFinding(result, rows));
  lines.push(
    `- **CPU** per cycle depends on what else the machine runs (1-minute load ${result.load.start.toFixed(2)} at the start, ${result.load.end.toFixed(2)} at the end); compare the modes within one run of this section, not across runs.`,
  );
  return lines;
}

function workerFinding(result: AgentMemoryResult, rows: readonly AgentMemoryRow[]): string {
  const inWindow = rows.filter((r) => r.workerRuns > 0);
  const cluster = result.runs.filter((r) => r.mode === "cluster");
  const seen = cluster.flatMap((r) =>
    r.workerLastSeenSeconds === undefined ? [] : [r.workerLastSeenSeconds],
  );
  const before =
    cluster.length === 0
      ? ""
      : seen.length === 0
        ? ` In cluster mode it was never seen before the window (${cluster.length} run${cluster.length > 1 ? "s" : ""}): either it ended before the first check or the check does not see it.`
        : ` In cluster mode it was seen after the start in ${seen.length} of ${cluster.length} runs, last at ${f1(spread(seen).median)} s after the start (median).`;
  const during =
    inWindow.length === 0
      ? "no reading of any window found a worker thread alive"
      : `a worker thread was alive in some reading of the window in ${inWindow
          .map((r) => `${r.workerRuns} of ${r.runs} ${r.mode} runs at N=${r.domains}`)
          .join(", ")}: those figures include its isolate`;
  return `- **Validation worker:** each window began once no \`${WORKER_THREAD}\` thread had been seen for ${result.plan.workerSettleSeconds} s; ${during}.${before}`;
}

/** The "Agent memory" section of docs/benchmarks.md: table and findings from the measured figures. */
export function agentMemoryMarkdown(result: AgentMemoryResult): string {
  const { plan, machine: m, runtime } = result;
  const rows = summariseAgentMemory(result);
  const table = [
    "| N | mode | steady RSS MiB | peak MiB | anonymous MiB | file-backed MiB | agent CPU ms/cycle | worker seen ¹ |",
    "|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.domains} | ${r.mode} | **${cell(r.steady)}** | ${cell(r.peak)} | ${cell(r.anonymous)} | ${cell(r.file)} | ${cell(r.cpu)} | ${r.workerRuns ? `yes, ${r.workerRuns} of ${r.runs}` : "no"} |`,
    ),
  ].join("\n");
  const env = Object.entries(runtime.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  const window = plan.readings * plan.readingSeconds;
  return `## Agent memory: standalone and cluster mode (simulated libvirt)

**What.** The agent's resident memory with the same collectors in its two modes, measured side by side in one
run: standalone (a \`--profile\` file) and cluster mode (its node's NodeMonitor naming a MonitoringProfile, both
read from the API server). Issue #17's goals are a steady RSS of at most ${AGENT_MEMORY_GOALS.standaloneMiB} MiB standalone and ${AGENT_MEMORY_GOALS.clusterMiB} MiB in
cluster mode at N=${AGENT_MEMORY_GOALS.domains} domains. This automates the hand method of "Where the agent's memory goes" (below).

**Setup.** \`npm run bench -- --only agent-memory\` (or \`node bench/agent-memory.ts\`) runs the built agent
(\`dist/agent/main.js\`, what the image ships) as deployed: \`${env} node ${runtime.nodeFlags.join(" ")}\`. Its profile
is the scale benchmark's: cpu, memory, interface, disk and virt every 1 s, VES events every 5 s to an in-process
vesmon listener. libvirt is the simulated daemon (\`bench/libvirt-sim.ts\`, N guests) in a process of its own, so the
process measured is the agent's alone. In cluster mode the fake API server (\`test/fake-apiserver\`, in the
benchmark's process) holds the node, the profile with that spec, its status as the operator's roll-up writes it
once accepted (\`Accepted=True\` at its generation) and the NodeMonitor as the operator renders it; the operator
itself does not run. Before its window each agent must have collected virt twice (in cluster mode: reported the
profile applied); in it, collected virt every second and delivered each source's events, or the run fails.

**Method.** ${result.mode} mode: N = ${plan.domainCounts.join(", ")}, ${plan.repetitions} run${plan.repetitions > 1 ? "s" : ""} of each mode, the modes alternating. A window of
${window} s begins ${plan.warmupSeconds} s after the agent's start at the earliest${plan.warmupSeconds >= SETTLED_AFTER_SECONDS ? ` (${SETTLE_REASON}, so the window reads the settled agent)` : ` (before the agent has settled: ${SETTLE_REASON}, so this reads it low; the full plan waits ${AGENT_MEMORY_PLANS.full.warmupSeconds} s)`}, and only once no worker thread (a thread named
\`${WORKER_THREAD}\` in \`/proc/PID/task/*/comm\`) has been seen for ${plan.workerSettleSeconds} s: cluster mode's validation worker lives 30 s
after its last answer, and Node releases a worker's memory about 8 s after its thread has ended. **Steady** is the median of the window's ${plan.readings} VmRSS readings, ${plan.readingSeconds} s apart; **peak** is VmHWM at
its end (the start-up peak included); **anonymous** and **file-backed** are \`/proc/PID/smaps_rollup\`'s
Anonymous and the rest of its Rss, median over the readings; CPU is the agent's \`utime+stime\` over the window
per 1 s cycle. Cells show the median over the runs and (min–max) when they differ. ${m.cpuModel}, ${m.cores}
cores, ${m.memoryGiB} GiB, kernel ${m.kernel}; the 1-minute load was ${result.load.start.toFixed(2)} at the start and ${result.load.end.toFixed(2)} at the end.

${table}

¹ Runs in which some reading of the window found a worker thread alive, of the runs.

### Findings

${findings(result, rows).join("\n")}
`;
}
