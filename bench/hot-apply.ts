import { spawn } from "node:child_process";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { ListenerProcess } from "../agent/listener/process.ts";
import {
  checkUnchanged,
  type FleetResult,
  type JobCounters,
  type JobReading,
  measureFleet,
  phase,
  type Spread,
  STATUS_MIN_INTERVAL_MS,
  sleep,
  spread,
  type UnchangedCheck,
  until,
  variantSpec,
} from "./hot-apply-cluster.ts";
import { terminate } from "./proc.ts";
import { builtEntry } from "./setup.ts";

// How long a profile change takes to reach the collectors, and whether collectors it did not touch keep their
// schedule: the real agent process on a profile file, then 50 agents behind the operator and the fake API server.

/** ProfileFileSource's defaults, which agent/main.ts does not override. */
const POLL_MS = 2000;
const DEBOUNCE_MS = 500;

/** The standalone measurement: `node dist/agent/main.js --profile FILE`, the file replaced by rename. */
export interface StandaloneResult {
  changes: number;
  pollMs: number;
  debounceMs: number;
  /** Rename → /readyz counts one more apply. */
  latency: Spread;
  /** Rename → the agent's "configuration applied" log line (no /readyz polling in it). */
  logged: Spread;
  /** The apply itself, as the agent logs it. */
  apply: Spread;
  /** Logged latency − debounce − apply: noticing the edit (inotify or the poll), reading and validating the file. */
  pollWait: Spread;
  unchanged: UnchangedCheck;
  eventsAccepted: number;
}

/** Everything the hot-apply benchmark measured. */
export interface HotApplyResult {
  date: string;
  mode: "quick" | "full";
  durationSeconds: number;
  standalone: StandaloneResult;
  cluster: FleetResult;
}

interface LogLine {
  time: number;
  msg: string;
  ms?: number;
}

/**
 * The job counters in the agent's /metrics, keyed by collector and the job's first tick: series are labelled by
 * profile and collector, so a restarted job (a changed one) shows as a new first tick under the same labels.
 */
function parseMetrics(text: string, at: number): JobReading {
  const jobs = new Map<string, JobCounters>();
  const started = new Map<string, string>();
  for (const m of text.matchAll(/^vesmon_scrape_collector_first_tick_timestamp_seconds\{([^}]*)\} (\S+)$/gm))
    started.set(m[1]!, m[2]!);
  for (const m of text.matchAll(/^vesmon_scrape_collector_(collections|missed)_total\{([^}]*)\} (\S+)$/gm)) {
    const first = started.get(m[2]!);
    if (first === undefined) continue;
    const id = `${m[2]}@${first}`;
    const j = jobs.get(id) ?? jobs.set(id, { intervalMs: 1000, collections: 0, missed: 0 }).get(id)!;
    j[m[1] as "collections" | "missed"] = Number(m[3]);
  }
  return { at, jobs };
}

async function measureStandalone(opts: {
  root: string;
  changes: number;
  log: (l: string) => void;
}): Promise<StandaloneResult> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const dir = await mkdtemp(join(tmpdir(), "vesmon-hot-apply-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  let stderr = "";
  try {
    const listener = new ListenerProcess({ port: 0 });
    await listener.start();
    cleanups.push(() => listener.close());
    const file = join(dir, "profile.yaml");
    const yaml = (v: 0 | 1) =>
      stringify({
        apiVersion: "vesmon.io/v1alpha1",
        kind: "MonitoringProfile",
        metadata: { name: "bench" },
        spec: variantSpec(v, listener.url),
      });
    await writeFile(file, yaml(0));
    const args = ["--profile", file, "--state-dir", join(dir, "state"), "--listen", "127.0.0.1:0"];
    const child = spawn(
      process.execPath,
      [builtEntry(opts.root, "agent/main"), ...args, "--node-name", "bench"],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    cleanups.push(() => terminate(child));
    const lines: LogLine[] = [];
    let partial = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
      partial += chunk;
      for (let i = partial.indexOf("\n"); i >= 0; i = partial.indexOf("\n")) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        try {
          lines.push(JSON.parse(line) as LogLine);
        } catch {
          // Not a log line (a warning from Node itself): only the agent's JSON lines matter.
        }
      }
    });
    const served = () => lines.map((l) => (l as { url?: string }).url).find(Boolean);
    if (!(await until(() => served() !== undefined, 30_000)))
      throw new Error("the agent did not serve /readyz in 30 s");
    const url = served()!;
    const applies = async () => {
      const r = await fetch(`${url}/readyz`);
      return r.ok ? ((await r.json()) as { applies: number }).applies : 0;
    };
    const scrape = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return parseMetrics(text, Date.now());
    };
    const appliedLines = () => lines.filter((l) => String(l.msg).startsWith("configuration applied"));
    if (!(await until(() => appliedLines().length > 0, 30_000))) throw new Error("no first apply in 30 s");
    // A few ticks first, so every job has a schedule before the first reading.
    await sleep(3000);
    const readings = [await scrape()];
    const latency: number[] = [];
    const logged: number[] = [];
    const apply: number[] = [];
    for (let i = 1; i <= opts.changes; i++) {
      await sleep(2000 + phase(i) * POLL_MS);
      const before = await applies();
      const tmp = join(dir, ".profile.yaml.tmp");
      await writeFile(tmp, yaml(i % 2 === 1 ? 1 : 0));
      const t0 = Date.now();
      await rename(tmp, file);
      let now = before;
      while (now === before) {
        if (Date.now() - t0 > 15_000) throw new Error(`change ${i} not applied in 15 s`);
        await sleep(10);
        now = await applies();
      }
      latency.push(Date.now() - t0);
      if (!(await until(() => appliedLines().length >= now, 2000)))
        throw new Error(`no log line for apply ${now}`);
      const line = appliedLines()[now - 1]!;
      logged.push(line.time - t0);
      apply.push(line.ms ?? 0);
      readings.push(await scrape());
      opts.log(`hot-apply: standalone change ${i}/${opts.changes}: ${latency.at(-1)} ms`);
    }
    await sleep(2000);
    readings.push(await scrape());
    const stats = (await listener.app.inject({ method: "GET", url: "/control/stats" })).json() as {
      accepted: number;
    };
    return {
      changes: opts.changes,
      pollMs: POLL_MS,
      debounceMs: DEBOUNCE_MS,
      latency: spread(latency),
      logged: spread(logged),
      apply: spread(apply),
      pollWait: spread(logged.map((l, i) => l - DEBOUNCE_MS - apply[i]!)),
      unchanged: checkUnchanged(readings),
      eventsAccepted: stats.accepted,
    };
  } catch (err) {
    opts.log(`hot-apply (standalone) failed; agent log:\n${stderr}`);
    throw err;
  } finally {
    for (const c of cleanups.reverse())
      await c().catch((err: Error) => opts.log(`hot-apply cleanup: ${err.message}`));
  }
}

/**
 * Measures hot-apply latency and checks that unchanged collectors miss no tick: the agent standalone (10 file
 * changes, 4 quick), then 50 agents in one process behind the real operator and the fake API server (5 profile
 * changes, 2 quick). Everything it starts is stopped and every temp dir removed, also on failure.
 */
export async function measureHotApply(opts: {
  root: string;
  quick: boolean;
  log: (l: string) => void;
}): Promise<HotApplyResult> {
  const started = Date.now();
  const standalone = await measureStandalone({
    root: opts.root,
    changes: opts.quick ? 4 : 10,
    log: opts.log,
  });
  const cluster = await measureFleet({
    root: opts.root,
    agents: 50,
    changes: opts.quick ? 2 : 5,
    log: opts.log,
  });
  return {
    date: new Date(started).toISOString(),
    mode: opts.quick ? "quick" : "full",
    durationSeconds: Math.round((Date.now() - started) / 1000),
    standalone,
    cluster,
  };
}

const ms = (n: number) => `${Math.round(n)}`;
const took = (n: number) => (n < 1 ? "under 1 ms" : `${Math.round(n)} ms`);
const row = (what: string, s: Spread) =>
  `| ${what} | ${s.n} | ${ms(s.median)} | ${ms(s.p95)} | ${ms(s.min)} | ${ms(s.max)} |`;
const pct = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 100) : 0);

function noRestartRow(setup: string, u: UnchangedCheck): string {
  const back = u.returned ? `${u.returned} (${u.reset} restarted from zero)` : "none";
  return `| ${setup} | ${u.jobs} | **${u.missed}** | ${u.restarts} | ${u.collections} / ${u.expected} | ${back} |`;
}

/** The "Hot-apply" section of docs/benchmarks.md: method, tables and findings computed from the figures. */
export function hotApplyMarkdown(result: HotApplyResult): string {
  const s = result.standalone;
  const c = result.cluster;
  const p = c.parts;
  const table = [
    "| Path | n | median ms | p95 | min | max |",
    "|---|---|---|---|---|---|",
    row("Standalone: rename → `/readyz` counts the apply", s.latency),
    row('… rename → the agent logs "configuration applied"', s.logged),
    row(
      `… of which noticing the edit (inotify, else the ${s.pollMs / 1000} s poll), reading and validating (after the ${s.debounceMs} ms debounce)`,
      s.pollWait,
    ),
    row("… of which the apply itself", s.apply),
    row(
      `${c.agents} agents: PATCH → the NodeMonitor status shows the generation (per agent, every change)`,
      c.latency,
    ),
    row("… PATCH → the agent starts applying (operator and watch, timed by the agent)", p.received),
    row("… of which PATCH → the profile is Accepted at that generation (operator) ¹", p.operator),
    row("… the apply itself", p.apply),
    row("… apply done → the status is seen (StatusWriter, rate limit included)", p.statusWrite),
    row(
      `${c.agents} agents: PATCH → MonitoringProfile observedGeneration, Ready=True, appliedNodes ${c.agents}`,
      c.ready,
    ),
  ].join("\n");
  const restarts = [
    "| Setup | unchanged jobs checked | missed ticks on them | restarts seen | collections counted / expected | changed jobs back under the same id |",
    "|---|---|---|---|---|---|",
    noRestartRow("Standalone (from `/metrics`)", s.unchanged),
    noRestartRow(`${c.agents} agents (from each agent's job states)`, c.unchanged),
  ].join("\n");

  const findings: string[] = [];
  const waitShare = pct(s.pollWait.median, s.logged.median);
  // inotify hastens the poll; a wait well under the poll interval means the watch, not the poll, noticed the edits.
  const byWatch = s.pollWait.max < s.pollMs / 4;
  findings.push(
    `- **Standalone, the debounce is the latency.** Of the median ${ms(s.logged.median)} ms from rename to applied, ` +
      `${s.debounceMs} ms (${pct(s.debounceMs, s.logged.median)} %) is the file source's debounce and ${ms(s.pollWait.median)} ms (${waitShare} %) noticing the edit plus reading and validating the file ` +
      `(${ms(s.pollWait.min)}–${ms(s.pollWait.max)} ms over the changes); the apply itself takes ${took(s.apply.median)}. ` +
      (byWatch
        ? `inotify on the profile's directory noticed every rename at once; the ${s.pollMs / 1000} s content-hash poll is the fallback for edits inotify misses, and would add 0–${s.pollMs} ms.`
        : `Some edits waited for the ${s.pollMs / 1000} s content-hash poll (0–${s.pollMs} ms): inotify did not notice them.`),
  );
  const rollout = spread(c.changes.map((x) => x.received.max - x.received.min));
  const later = [
    ["the apply", p.apply.median],
    ["the status write", p.statusWrite.median],
  ] as const;
  const dominant = later.every(([, v]) => v < p.received.median)
    ? "the operator's acceptance dominates"
    : `${[...later].sort((a, b) => b[1] - a[1])[0]![0]} dominates`;
  const limitShare = pct(c.rateLimitWaitMs, c.latencySumMs);
  findings.push(
    `- **${c.agents} agents: ${dominant}.** The agents start applying a median ${ms(p.received.median)} ms after the PATCH ` +
      `(${ms(p.received.min)}–${ms(p.received.max)} ms): the operator validates the edit and marks it Accepted (${ms(p.operator.median)} ms median), ` +
      `and every agent, watching the profile itself, hears of it at once; no NodeMonitor is written, ` +
      `so the last agent starts ${ms(rollout.median)} ms after the first (median over the changes). Then the apply takes ` +
      `${took(p.apply.median)} and the status write ${took(p.statusWrite.median)} (medians), for ${ms(c.latency.median)} ms median, ${ms(c.latency.p95)} ms p95 and ${ms(c.latency.max)} ms max per agent. ` +
      (c.rateLimited
        ? `The StatusWriter's ${STATUS_MIN_INTERVAL_MS / 1000} s rate limit held back ${c.rateLimited} of ${c.latency.n} agent changes (they had written a status less than ` +
          `${STATUS_MIN_INTERVAL_MS / 1000} s before their apply ended): ${ms(c.rateLimitWaitMs)} ms of waiting in all, ${limitShare} % of the summed per-agent latency.`
        : `The StatusWriter's ${STATUS_MIN_INTERVAL_MS / 1000} s rate limit explains none of it: no agent had written its status in the ${STATUS_MIN_INTERVAL_MS / 1000} s ` +
          `before its apply ended (changes were at least 15 s apart and the agents wrote ${c.statusWritesPerAgentMinute} statuses a minute each, ` +
          "an unchanged status being rewritten only every 60 s); it would only delay a change that follows another within 5 s."),
  );
  const rollups = c.changes.flatMap((x) => (x.rollupMs === undefined ? [] : [x.rollupMs]));
  const missing = c.changes.reduce((a, x) => a + x.missingStatus, 0);
  findings.push(
    `- **The MonitoringProfile is Ready ${ms(c.ready.median)} ms after the PATCH (median over ${c.ready.n} changes; ${ms(c.ready.min)}–${ms(c.ready.max)} ms)**, ` +
      `${rollups.length ? `${ms(spread(rollups).median)} ms after the last agent's status (the operator's roll-up)` : "the roll-up timing is unknown"}.` +
      (missing
        ? ` ${missing} agent changes never showed the new generation in their status within 90 s.`
        : ""),
  );
  const missed = s.unchanged.missed + c.unchanged.missed;
  const restartsSeen = s.unchanged.restarts + c.unchanged.restarts;
  const returned = s.unchanged.returned + c.unchanged.returned;
  const reset = s.unchanged.reset + c.unchanged.reset;
  const control =
    returned === 0
      ? ""
      : reset === returned
        ? ` The ${returned} changed interface job${returned > 1 ? "s" : ""} that came back under ${returned > 1 ? "their" : "its"} old id started again from zero, as a changed job should, so a restart would have shown.`
        : ` Of ${returned} changed jobs that came back under their old id, ${returned - reset} did not start again from zero, which a removed and re-added job should.`;
  findings.push(
    missed === 0 && restartsSeen === 0
      ? `- **No unchanged collector missed a tick or restarted**: ${s.unchanged.jobs} jobs standalone and ${c.unchanged.jobs} across the agents, ` +
          `${s.changes + c.changes.length} changes, 0 missed ticks; they counted ${s.unchanged.collections + c.unchanged.collections} collections where the elapsed ` +
          `time has ${s.unchanged.expected + c.unchanged.expected} ticks.${control}`
      : `- **Unchanged collectors were disturbed**: ${missed} missed ticks and ${restartsSeen} restarts on jobs no change touched ` +
          `(standalone ${s.unchanged.missed} missed / ${s.unchanged.restarts} restarts over ${s.unchanged.jobs} jobs; agents ${c.unchanged.missed} / ` +
          `${c.unchanged.restarts} over ${c.unchanged.jobs}). Missed ticks also count timers fired more than an interval late, which a loaded 2-core host can cause.${control}`,
  );

  return `## Hot-apply

How long a profile change takes to reach the collectors, and whether the collectors it does not touch keep their
schedule (${result.mode} mode, ${result.date.slice(0, 10)}, ${result.durationSeconds} s). Both setups alternate two variants of one
profile that keep cpu, memory and load at 1 s unchanged and change the rest: the interface collector's filter,
the disk collector (added, removed) and a threshold's bounds; measurementInterval 5 s, a VES sink to an in-process
vesmon listener (envelope checks only; it accepted ${s.eventsAccepted} events from the standalone agent and ${c.eventsAccepted}
from the ${c.agents} agents).

**Standalone.** The real agent process (\`node dist/agent/main.js --profile FILE\`) on this host's /proc; ${s.changes} changes 2–4 s
apart (spread over the poll phase), each written as an editor or a ConfigMap update does it: a temp file, then
rename. Latency runs from the rename to \`/readyz\` (polled every 10 ms) counting one more apply; the agent's
log line gives the apply time. The file source watches the profile's directory with inotify, also hashes the file
every ${s.pollMs} ms, and reads it once it has stayed unchanged for ${s.debounceMs} ms (its defaults).

**${c.agents} agents.** The fake API server (in the benchmark's process) with ${c.agents} Nodes, the real operator process and
${c.agents} agents, **all ${c.agents} in one process** (\`bench/agent-fleet.ts\`: each an \`Agent\` with \`startClusterMode\` as
\`agent/main.ts\` wires it, its own node name and state directory, real collectors on this host's /proc; the process
used ${c.fleetCpuPercent} % of a core and ${c.fleetRssMiB} MiB RSS). One MonitoringProfile selects every node; it was Ready on all
${c.agents} ${Math.round(c.startupMs / 100) / 10} s after creation. Then ${c.changes.length} merge-patches of its spec, 15–20 s apart. Times are read from
watches on the fake server: the profile's Accepted condition at the new generation, the NodeMonitor status
showing it Applied with the spec's configHash (what the operator counts), the profile's status Ready; the apply
start and end come from each agent. The agents write status at most every ${STATUS_MIN_INTERVAL_MS / 1000} s (StatusWriter).

${table}

¹ Seen through a watch that runs in the process serving the API, so it can lag the agents' own watches by up to ~0.1 s.

Unchanged jobs are those present in every reading (before the first change, after each, after the last); a
restart would show as a counter going down or a new first tick. "Expected" counts the interval boundaries between the
first and the last reading: exactly from each job's own last tick for the agents; from the scrape times standalone
(\`/metrics\` has no tick times), where a scrape that lands as a tick starts may count it or not (±1 per job).
The missed-tick counter is exact in both.

${restarts}

${findings.join("\n")}
`;
}

if (import.meta.main) {
  const root = join(dirname(import.meta.filename), "..");
  const result = await measureHotApply({
    root,
    quick: process.argv.includes("--quick"),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(hotApplyMarkdown(result));
}
