// The agent's memory in standalone and in cluster mode, side by side, against a simulated libvirt daemon in its
// own process (bench/memory.md's hand method, automated). A section of `npm run bench` (bench/sections.ts);
// `node bench/agent-memory.ts [--quick]` prints the markdown section and the raw result (stderr) without storing.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { ListenerProcess } from "../agent/listener/process.ts";
import type { MonitoringProfile, NodeMonitor } from "../api/v1alpha1/types.ts";
import { renderNodeMonitor } from "../operator/render.ts";
import { rollUpStatus } from "../operator/rollup.ts";
import { FakeApiServer, type K8sObject } from "../test/fake-apiserver/index.ts";
import {
  AGENT_MEMORY_PLANS,
  type AgentMemoryPlan,
  type AgentMemoryReading,
  type AgentMemoryResult,
  type AgentMemoryRun,
  type AgentMode,
  agentMemoryMarkdown,
  MODES,
  WORKER_THREAD,
} from "./agent-memory-report.ts";
import { startSimulator } from "./libvirt-sim.ts";
import {
  cpuSeconds,
  describeMachine,
  freePort,
  guardChildren,
  residentMiB,
  rssMiB,
  terminate,
  threadNames,
} from "./proc.ts";
import { profileYaml, scrape } from "./scale.ts";
import { AGENT_RUNTIME, builtEntry } from "./setup.ts";

const GROUP = "vesmon.io/v1alpha1";
/** How long past the warm-up a worker thread may stay before the window starts anyway (and says so). */
const WORKER_GRACE_SECONDS = 90;

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
/** Sleeps until `performance.now()` reaches `at` (at once when it has). */
const sleepUntil = (at: number) => sleep(Math.max(0, at - performance.now()) / 1000);
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

interface Context {
  root: string;
  dir: string;
  listener: ListenerProcess;
  api: FakeApiServer;
  kubeconfig: string;
  children: Set<ChildProcess>;
  log: (l: string) => void;
}

/**
 * Cluster mode's objects for `node`: the Node, the profile with its status as the operator's roll-up writes it
 * once the profile is accepted (an agent runs a generation only when Accepted is True at that generation), and
 * the NodeMonitor as the operator renders it. The benchmark writes them itself rather than running the operator:
 * the agent's memory depends only on what it reads, which is this, and an operator process (lease renewals,
 * roll-ups) would only add load to a shared machine while the agent is measured. Returns a check that the agent
 * reports the profile applied, and a cleanup.
 */
function seedCluster(api: FakeApiServer, node: string, spec: Record<string, unknown>) {
  const nodeObj = api.create({ apiVersion: "v1", kind: "Node", metadata: { name: node } });
  const created = api.create({
    apiVersion: GROUP,
    kind: "MonitoringProfile",
    metadata: { name: `mem-${node}` },
    spec: { ...spec, nodeSelector: { matchLabels: { "kubernetes.io/hostname": node } } },
  }) as unknown as MonitoringProfile;
  const { name, uid, generation } = created.metadata as { name: string; uid: string; generation: number };
  const status = rollUpStatus(created, {
    selectedNodes: [node],
    nodeMonitors: new Map(),
    accepted: { ok: true },
    now: new Date(),
  });
  api.updateStatus({ ...created, status } as unknown as K8sObject);
  const nm = renderNodeMonitor({ name: node, uid: nodeObj.metadata.uid as string }, [
    { name, uid, generation, spec: created.spec },
  ]);
  api.create(nm as unknown as K8sObject);
  return {
    applied: () => {
      const got = api.get(GROUP, "NodeMonitor", node) as unknown as NodeMonitor | undefined;
      const p = got?.status?.profiles?.find((x) => x.name === name);
      return p?.state === "Applied" && p.appliedGeneration === generation;
    },
    remove: () => {
      for (const [apiVersion, kind, n] of [
        [GROUP, "NodeMonitor", node],
        [GROUP, "MonitoringProfile", name],
        ["v1", "Node", node],
      ] as const)
        if (api.get(apiVersion, kind, n)) api.delete(apiVersion, kind, n);
    },
  };
}

/** One reading of the agent's process. */
async function readProcess(pid: number, atSeconds: number): Promise<AgentMemoryReading> {
  const [rss, resident, threads] = await Promise.all([rssMiB(pid), residentMiB(pid), threadNames(pid)]);
  return {
    atSeconds: round(atSeconds),
    rssMiB: round(rss.now),
    anonymousMiB: round(resident.anonymous),
    fileMiB: round(resident.file),
    threads: threads.length,
    worker: threads.includes(WORKER_THREAD),
  };
}

async function runOnce(
  ctx: Context,
  n: number,
  mode: AgentMode,
  repetition: number,
  plan: AgentMemoryPlan,
): Promise<AgentMemoryRun> {
  const tag = `${mode}-${n}-${repetition}`;
  const sim = await startSimulator({
    socket: join(ctx.dir, `sim-${tag}.sock`),
    domains: n,
    logFile: join(ctx.dir, `sim-${tag}.log`),
  });
  const agentLog = join(ctx.dir, `agent-${tag}.log`);
  const yaml = profileYaml(sim.socket, ctx.listener.url);
  const node = `bench-${n}-${repetition}`;
  const cluster = mode === "cluster" ? seedCluster(ctx.api, node, parse(yaml).spec) : undefined;
  let agent: ChildProcess | undefined;
  try {
    const port = await freePort();
    const args = ["--state-dir", join(ctx.dir, `state-${tag}`), "--listen", `127.0.0.1:${port}`];
    if (cluster) args.push("--kubeconfig", ctx.kubeconfig);
    else {
      const profile = join(ctx.dir, `profile-${tag}.yaml`);
      await writeFile(profile, yaml);
      args.push("--profile", profile, "--node-name", node);
    }
    // The chart's log level; no cluster variables from this shell, so only `cluster` decides the mode.
    const { NODE_NAME: _n, KUBERNETES_SERVICE_HOST: _k, ...env } = process.env;
    const fd = openSync(agentLog, "a");
    const child = spawn(
      process.execPath,
      [...AGENT_RUNTIME.nodeFlags, builtEntry(ctx.root, "agent/main"), ...args],
      {
        stdio: ["ignore", fd, fd],
        env: {
          ...env,
          ...AGENT_RUNTIME.env,
          AGENT_LOG_LEVEL: "info",
          ...(cluster ? { NODE_NAME: node } : {}),
        },
      },
    );
    closeSync(fd);
    const started = performance.now();
    const since = () => (performance.now() - started) / 1000;
    agent = child;
    ctx.children.add(child);
    sim.watch(child.pid!);
    const failed = async (what: string) => {
      const tail = (await readFile(agentLog, "utf8").catch(() => "")).split("\n").slice(-8).join("\n");
      return new Error(`${mode} N=${n}: ${what}; agent log ${agentLog}:\n${tail}`);
    };

    // Ready once virt has collected twice (and, in cluster mode, the profile is reported applied); the window
    // waits for the warm-up and for every worker thread and its memory to be gone (see workerSettleSeconds).
    let ready = false;
    let workerLastSeen: number | undefined;
    for (;;) {
      if (child.exitCode !== null) throw await failed(`agent exited with ${child.exitCode}`);
      const t = since();
      if ((await threadNames(child.pid!)).includes(WORKER_THREAD)) workerLastSeen = t;
      if (!ready) {
        const m = await scrape(port).catch(() => ({}) as Record<string, number>);
        ready =
          (m.vesmon_scrape_collector_collections_total ?? 0) >= 2 &&
          m.vesmon_scrape_collector_success === 1 &&
          (cluster?.applied() ?? true);
        if (!ready && t > 60)
          throw await failed("virt did not collect (or the profile was not applied) in 60 s");
      }
      const workerGone = workerLastSeen === undefined || t - workerLastSeen >= plan.workerSettleSeconds;
      if (ready && t >= plan.warmupSeconds && workerGone) break;
      if (ready && t >= plan.warmupSeconds + WORKER_GRACE_SECONDS) {
        ctx.log(`agent-memory: ${tag}: a worker thread is still alive ${t.toFixed(0)} s after the start`);
        break;
      }
      await sleep(0.5);
    }

    ctx.log(`agent-memory: ${tag}: window from ${since().toFixed(0)} s after the start`);
    await ctx.listener.app.inject({ method: "DELETE", url: "/control/stats" });
    const m0 = await scrape(port);
    const cpu0 = await cpuSeconds(child.pid!);
    const t0 = performance.now();
    const readings: AgentMemoryReading[] = [];
    for (let i = 0; i < plan.readings; i++) {
      await sleepUntil(t0 + i * plan.readingSeconds * 1000);
      readings.push(await readProcess(child.pid!, since()));
    }
    await sleepUntil(t0 + plan.readings * plan.readingSeconds * 1000);
    const cpu1 = await cpuSeconds(child.pid!);
    const seconds = (performance.now() - t0) / 1000;
    const peak = (await rssMiB(child.pid!)).peak;
    const m1 = await scrape(port);
    const { accepted } = (await ctx.listener.app.inject({ method: "GET", url: "/control/stats" })).json() as {
      accepted: number;
    };
    if (child.exitCode !== null) throw await failed("agent exited during the window");
    // Collecting for real: virt every second, and a measurement event per source (host and guests) per 5 s
    // boundary in the window, allowing one boundary for the phase.
    const collections =
      (m1.vesmon_scrape_collector_collections_total ?? 0) -
      (m0.vesmon_scrape_collector_collections_total ?? 0);
    const wantEvents = (n + 1) * Math.max(1, Math.floor(seconds / 5) - 1);
    if (collections < seconds - 2 || m1.vesmon_scrape_collector_success !== 1 || accepted < wantEvents)
      throw await failed(
        `not collecting: ${collections} virt collections in ${seconds.toFixed(0)} s, ${accepted} events (want ${wantEvents})`,
      );
    return {
      domains: n,
      mode,
      repetition,
      readings,
      windowSeconds: round(seconds, 2),
      rssPeakMiB: round(peak),
      cpuMsPerCycle: round(((cpu1 - cpu0) * 1000) / seconds, 2),
      ...(workerLastSeen !== undefined ? { workerLastSeenSeconds: round(workerLastSeen) } : {}),
      eventsPerSecond: round(accepted / seconds, 1),
      virtCollections: collections,
    };
  } finally {
    if (agent) {
      await terminate(agent);
      ctx.children.delete(agent);
    }
    await sim.stop();
    cluster?.remove();
  }
}

/**
 * For each domain count, repetition and mode (alternating): a simulator with N guests, the real agent in that
 * mode, a warm-up and a window of readings. Stops every process it started and removes its files.
 */
export async function measureAgentMemory(opts: {
  root: string;
  quick: boolean;
  log: (l: string) => void;
}): Promise<AgentMemoryResult> {
  const mode = opts.quick ? "quick" : "full";
  const plan: AgentMemoryPlan = AGENT_MEMORY_PLANS[mode];
  const dir = await mkdtemp(join(tmpdir(), "vesmon-agent-memory-"));
  const guard = guardChildren(dir);
  // Envelope check only and no events kept: the receiver is not measured.
  const listener = new ListenerProcess({ maxEvents: 0 });
  // Bookmarks about once a minute, as kube-apiserver sends them, not the fake's default of every second.
  const api = new FakeApiServer({ bookmarkIntervalMs: 60_000 });
  try {
    await listener.start();
    await api.start();
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, api.kubeConfig().exportConfig());
    const ctx: Context = {
      root: opts.root,
      dir,
      listener,
      api,
      kubeconfig,
      children: guard.children,
      log: opts.log,
    };
    const load = { start: loadavg()[0] ?? 0, end: 0 };
    const runs: AgentMemoryRun[] = [];
    for (let rep = 1; rep <= plan.repetitions; rep++)
      for (const n of plan.domainCounts)
        for (const m of MODES) {
          opts.log(`agent-memory: N=${n}, ${m}, run ${rep}`);
          runs.push(await runOnce(ctx, n, m, rep, plan));
        }
    load.end = loadavg()[0] ?? 0;
    return {
      mode,
      plan,
      runtime: { nodeFlags: AGENT_RUNTIME.nodeFlags, env: AGENT_RUNTIME.env },
      machine: await describeMachine(),
      load,
      runs,
    };
  } finally {
    await listener.close().catch(() => {});
    await api.close().catch(() => {});
    guard.release();
    // A failed run's error carries the tail of the agent's log, so nothing is kept.
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const result = await measureAgentMemory({
    root: join(import.meta.dirname, ".."),
    quick: process.argv.includes("--quick"),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stderr.write(`${JSON.stringify(result, null, 1)}\n`);
  process.stdout.write(agentMemoryMarkdown(result));
}
