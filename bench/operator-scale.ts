import { type ChildProcess, execFile, fork } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { K8sObject } from "../test/fake-apiserver/index.ts";
import { AgentFleet, type FleetApply } from "./agent-fleet.ts";
import {
  type FakeCommand,
  type FakeMark,
  type FakeMessage,
  nodeMonitorKey,
  type ObjectSizes,
  type ProfileExpectation,
} from "./fake-apiserver-main.ts";
import {
  BENCH_NAMESPACE,
  benchNodes,
  benchProfiles,
  benchSecrets,
  CHANGED_PROFILE,
  expectedSelection,
} from "./operator-scale-fixture.ts";
import {
  latencySpread,
  type OperatorScaleResult,
  type OperatorScaleRun,
  operatorScaleMarkdown,
  type Reconciles,
  type RequestCounts,
} from "./operator-scale-report.ts";
import { OperatorSupervisor } from "./operator-supervisor.ts";
import { cpuSeconds, freePort, terminate } from "./proc.ts";
import { builtEntry, OPERATOR_RUNTIME } from "./setup.ts";

export type {
  OperatorScaleResult,
  OperatorScaleRun,
  Reconciles,
  RequestCounts,
} from "./operator-scale-report.ts";
export { operatorScaleMarkdown };

/**
 * Node counts, repetitions, the length of the steady phase, and the Node status updates per second during it
 * and during the change (17/s: 5000 kubelets each reporting every 5 minutes, their slowest).
 */
export const OPERATOR_SCALE_PLANS = {
  quick: {
    nodeCounts: [200, 1000],
    repetitions: 1,
    steadySeconds: 10,
    churnPerSecond: 17,
    convergeTimeoutSeconds: 300,
  },
  full: {
    nodeCounts: [1000, 5000],
    repetitions: 1,
    steadySeconds: 30,
    churnPerSecond: 17,
    convergeTimeoutSeconds: 900,
  },
} as const;

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The fake API server child: commands over IPC, convergence notices by epoch. */
class FakeServerProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<string>;
  #seq = 0;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #converged = new Map<number, { at: number; index: number }>();
  #onConverged: (() => void) | undefined;

  constructor(root: string, kubeconfig: string) {
    this.child = fork(join(root, "bench/fake-apiserver-main.ts"), ["--kubeconfig", kubeconfig], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once("exit", (code) => {
        const err = new Error(`fake API server exited (${code})`);
        reject(err);
        for (const w of this.#waiting.values()) w.reject(err);
      });
      this.child.on("message", (m: FakeMessage) => {
        if (m.type === "ready") resolve(m.url);
        else if (m.type === "converged") {
          this.#converged.set(m.epoch, m);
          this.#onConverged?.();
        } else {
          const w = this.#waiting.get(m.id);
          this.#waiting.delete(m.id);
          if (m.ok) w?.resolve(m.value);
          else w?.reject(new Error(m.error));
        }
      });
    });
  }

  call<T>(c: DistributiveOmit<FakeCommand, "id">): Promise<T> {
    const id = ++this.#seq;
    if (!this.child.connected) return Promise.reject(new Error("fake API server is gone"));
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...c, id });
    });
  }

  mark(): Promise<FakeMark> {
    return this.call<FakeMark>({ cmd: "mark" });
  }

  /** Resolves with the convergence of `epoch`, or undefined after `ms`; `tick` runs every 5 s meanwhile. */
  async converged(epoch: number, ms: number, tick: () => Promise<void>) {
    const end = Date.now() + ms;
    let nextTick = Date.now() + 5000;
    while (!this.#converged.has(epoch) && Date.now() < end) {
      await new Promise<void>((r) => {
        this.#onConverged = r;
        setTimeout(r, 250);
      });
      if (Date.now() >= nextTick) {
        nextTick += 5000;
        await tick();
      }
    }
    return this.#converged.get(epoch);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The operator's /metrics as `name{labels}` → value. */
async function scrape(port: number): Promise<Record<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => "",
  );
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(vesmon_operator_\w+(?:\{[^}]*\})?) (\S+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Reconciles between two scrapes of the operator's /metrics. */
function reconciles(before: Record<string, number>, after: Record<string, number>): Reconciles {
  const sum = (re: RegExp, m: Record<string, number>) =>
    Object.entries(m).reduce((s, [k, v]) => (re.test(k) ? s + v : s), 0);
  const d = (re: RegExp) => sum(re, after) - sum(re, before);
  return {
    profile: d(/^vesmon_operator_reconciles_total\{kind="profile"/),
    profileSeconds: round(d(/^vesmon_operator_reconcile_seconds_total\{kind="profile"/)),
    nodeMonitors: d(/^vesmon_operator_reconciles_total\{kind="nodemonitors"/),
  };
}

/** Agents on this many of the nodes the changed profile selects. */
export const FLEET_AGENTS = 50;

/**
 * The nodes the agents run on: `count` of those the changed profile selects, spread evenly over them in name
 * order (a rollout that goes through the nodes in order reaches its last agent near its end), leaving out the
 * control plane, the libvirt hosts (no libvirtd here: their virt collector would only fail) and the nodes of
 * profiles that collect every second or print to stdout, so the agents cost about what a real worker's does.
 */
export function agentNodes(selection: ReadonlyMap<string, readonly string[]>, count: number): string[] {
  const quiet = (names: readonly string[]) =>
    names.includes(CHANGED_PROFILE) && !names.some((n) => /nfvi|^vms-|canary|debug|control-plane/.test(n));
  const eligible = [...selection].filter(([, names]) => quiet(names)).map(([node]) => node);
  const step = Math.max(1, eligible.length / count);
  return Array.from({ length: Math.min(count, eligible.length) }, (_, k) => eligible[Math.floor(k * step)]!);
}

/** Writes the Secrets' keys as `<dir>/<secret>/<key>`, the layout the agent reads credentials from. */
async function writeCredentials(dir: string, secrets: readonly K8sObject[]): Promise<void> {
  for (const s of secrets) {
    if (s.kind !== "Secret") continue;
    for (const [key, b64] of Object.entries((s.data as Record<string, string>) ?? {})) {
      await mkdir(join(dir, s.metadata.name), { recursive: true });
      await writeFile(join(dir, s.metadata.name, key), Buffer.from(b64, "base64"));
    }
  }
}

/** The first apply of each node whose profiles include `profile` at `generation`, by node. */
function appliedAt(fleet: AgentFleet, profile: string, generation: number): Map<string, FleetApply> {
  const out = new Map<string, FleetApply>();
  for (const a of fleet.applies)
    if (!out.has(a.node) && a.profiles.some((p) => p.name === profile && p.generation === generation))
      out.set(a.node, a);
  return out;
}

/** Polls `cond` every 250 ms; false if it did not hold within `ms`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) return false;
    await sleep(250);
  }
  return true;
}

/** A plan as `OPERATOR_SCALE_PLANS` holds them. */
type Plan = OperatorScaleResult["plan"];

/**
 * One size, one repetition: a fresh fake API server with realistic Nodes, the operator until it converges,
 * 50 agents, a steady phase under kubelet-like Node churn, then a change to one profile.
 */
async function measureRun(
  nodeCount: number,
  repetition: number,
  plan: Plan,
  opts: { root: string; log: (l: string) => void; track: (c: ChildProcess) => void },
): Promise<OperatorScaleRun> {
  const { root, log } = opts;
  const nodes = benchNodes(nodeCount);
  const profiles = benchProfiles();
  const selection = expectedSelection(nodes, profiles);
  const generations = new Map(profiles.map((p) => [p.metadata.name, 1]));
  // Design-neutral: a NodeMonitor names the profiles that select its node, whatever else it carries.
  const expectation = () => {
    const nms: Record<string, string> = {};
    const selected = new Map<string, number>();
    for (const [node, names] of selection) {
      for (const n of names) selected.set(n, (selected.get(n) ?? 0) + 1);
      if (names.length > 0) nms[node] = nodeMonitorKey(names.map((name) => ({ name })));
    }
    const mps: Record<string, ProfileExpectation> = {};
    for (const p of profiles) {
      const name = p.metadata.name;
      mps[name] = { generation: generations.get(name)!, selectedNodes: selected.get(name) ?? 0 };
    }
    return { nodes: nms, profiles: mps };
  };
  const perNode = [...selection.values()].map((v) => v.length);
  const agentsOn = agentNodes(selection, FLEET_AGENTS);

  const dir = await mkdtemp(join(tmpdir(), "vesmon-opscale-"));
  const kubeconfig = join(dir, "kubeconfig");
  const fake = new FakeServerProcess(root, kubeconfig);
  opts.track(fake.child);
  let supervisor: OperatorSupervisor | undefined;
  let fleet: AgentFleet | undefined;
  try {
    await fake.ready;
    await fake.call({ cmd: "seed", objects: benchSecrets() });
    await fake.call({ cmd: "seedNodes", count: nodeCount });
    await fake.call({ cmd: "seed", objects: profiles });
    let epoch = await fake.call<number>({ cmd: "expect", ...expectation() });

    const port = await freePort();
    const before = await fake.mark();
    const started = Date.now();
    const operator = new OperatorSupervisor(
      builtEntry(root, "operator/main"),
      [
        ...["--kubeconfig", kubeconfig, "--namespace", BENCH_NAMESPACE, "--identity", "bench-operator"],
        ...["--listen", `127.0.0.1:${port}`],
      ],
      opts.track,
    );
    supervisor = operator;
    const progress = (what: string, since: number) => async () => {
      const m = await fake.mark();
      log(
        `  ${nodeCount} nodes, ${what}: ${Math.round((Date.now() - since) / 1000)} s, ` +
          `${m.pendingNodeMonitors} NodeMonitors and ${m.pendingProfiles} profile statuses pending`,
      );
    };
    const timeout = plan.convergeTimeoutSeconds * 1000;
    const done = await fake.converged(epoch, timeout, progress("converging", started));
    const atConverged = await fake.mark();
    const cpuConverged = await operator.cpuSeconds();
    const rssConverged = await operator.rssMiB();
    const metricsConverged = await scrape(port);
    const quiet = (forMs: number, atMostMs: number) =>
      until(async () => Date.now() - (await fake.mark()).lastOperatorWriteAt >= forMs, atMostMs);
    const counts = (from: number, to: number) => fake.call<RequestCounts>({ cmd: "counts", from, to });
    const initialCounts = await counts(before.index, done?.index ?? atConverged.index);
    const sizes = await fake.call<ObjectSizes>({ cmd: "sizes" });
    log(
      `  ${nodeCount} nodes: ${done ? `converged in ${round((done.at - started) / 1000, 1)} s` : "did not converge"}`,
    );

    // The agents, on nodes the changed profile selects; each must have applied what it was given first.
    const credentials = join(dir, "credentials");
    await writeCredentials(credentials, benchSecrets());
    const fleetStarted = Date.now();
    fleet = await AgentFleet.start({
      kubeconfig,
      dir,
      count: agentsOn.length,
      nodes: agentsOn,
      logFile: join(dir, "fleet.log"),
    });
    const f = fleet;
    const allApplied = (generation: number) =>
      appliedAt(f, CHANGED_PROFILE, generation).size === agentsOn.length;
    const agentsReady = await until(() => allApplied(1), 180_000);
    const agentsStartSeconds = round((Date.now() - fleetStarted) / 1000, 1);
    if (!agentsReady) throw new Error(`${agentsOn.length} agents did not all apply their profiles in 180 s`);
    log(
      `  ${nodeCount} nodes: ${agentsOn.length} agents applied their profiles after ${agentsStartSeconds} s`,
    );

    // Steady: nothing changes but the Nodes' status, as kubelets report it.
    // Let the operator settle first (the agents' first status reports, a restart's resync), so the steady
    // phase measures steadiness.
    await quiet(5000, 60_000);
    await fake.call({ cmd: "churn", perSecond: plan.churnPerSecond });
    await sleep(2000);
    const steadyFrom = await fake.mark();
    const cpuSteady0 = await operator.cpuSeconds();
    const fleetCpu0 = await cpuSeconds(fleet.pid);
    await sleep(plan.steadySeconds * 1000);
    const steadyTo = await fake.mark();
    const cpuSteady1 = await operator.cpuSeconds();
    const fleetCpu1 = await cpuSeconds(fleet.pid);
    const rssSteady = await operator.rssMiB();
    const steadyWall = (steadyTo.at - steadyFrom.at) / 1000;
    const percent = (cpu: number, seconds: number) => round((cpu / seconds) * 100, 1);

    // Change one profile selecting about a third of the nodes, churn still running.
    const changed = profiles.find((p) => p.metadata.name === CHANGED_PROFILE)!;
    const spec = structuredClone(changed.spec) as { events: { measurementInterval: string } };
    spec.events.measurementInterval = "30s";
    generations.set(CHANGED_PROFILE, 2);
    epoch = await fake.call<number>({ cmd: "expect", ...expectation() });
    const beforeChange = await fake.mark();
    const cpuBeforeChange = await operator.cpuSeconds();
    const metricsBeforeChange = await scrape(port);
    const update = await fake.call<{ at: number; generation: number }>({
      cmd: "update",
      object: { ...changed, spec },
    });
    if (update.generation !== 2) throw new Error(`profile generation is ${update.generation}, not 2`);
    const redone = await fake.converged(epoch, timeout, progress("reconverging", update.at));
    await until(() => allApplied(2), 120_000);
    // The window closes once the operator has written nothing but Lease renewals for 10 s (180 s at most): under
    // load a rollout can pause for seconds between writes, and a shorter wait would cut it off.
    await quiet(10_000, 180_000);
    const afterChange = await fake.mark();
    const cpuAfterChange = await operator.cpuSeconds();
    const metricsAfterChange = await scrape(port);
    const changeCounts = await counts(beforeChange.index, afterChange.index);
    await fake.call({ cmd: "churn", perSecond: 0 });
    const rssEnd = await operator.rssMiB();
    const applied = appliedAt(fleet, CHANGED_PROFILE, 2);
    const latencies = [...applied.values()].map((a) => a.end - update.at);
    const affected = [...selection.values()].filter((v) => v.includes(CHANGED_PROFILE)).length;
    const lat = latencySpread(latencies);
    log(
      `  ${nodeCount} nodes: change applied by ${applied.size}/${agentsOn.length} agents, median ${lat.medianMs} ms, max ${lat.maxMs} ms; ` +
        `profile status ${redone ? `after ${round((redone.at - update.at) / 1000, 1)} s` : "not current"}`,
    );

    const apiCpu = (a: FakeMark, b: FakeMark) =>
      round(b.cpuSeconds - a.cpuSeconds - (b.bookkeepingCpuSeconds - a.bookkeepingCpuSeconds));
    return {
      nodes: nodeCount,
      profiles: profiles.length,
      repetition,
      profilesPerNode: {
        mean: round(perNode.reduce((a, b) => a + b, 0) / perNode.length),
        min: Math.min(...perNode),
        max: Math.max(...perNode),
      },
      nodeMonitors: perNode.filter((n) => n > 0).length,
      sizes,
      syncedSeconds: since(operator.milestones["informers synced"], started),
      leadingSeconds: since(operator.milestones.leading, started),
      convergeSeconds: done ? round((done.at - started) / 1000) : null,
      pendingAtEnd: done
        ? undefined
        : { nodeMonitors: atConverged.pendingNodeMonitors, profiles: atConverged.pendingProfiles },
      initial: initialCounts,
      initialReconciles: reconciles({}, metricsConverged),
      operatorCpuSeconds: round(cpuConverged),
      apiServerCpuSeconds: apiCpu(before, atConverged),
      apiServerRssMiB: round(afterChange.rssMiB, 0),
      rssConvergedPeakMiB: round(rssConverged.peak, 1),
      rssPeakMiB: round(rssEnd.peak, 1),
      rssSteadyMiB: round(rssSteady.now, 1),
      agents: { count: agentsOn.length, startSeconds: agentsStartSeconds, placement: "spread" },
      steady: {
        seconds: round(steadyWall, 1),
        nodeUpdatesPerSecond: round((steadyTo.churnUpdates - steadyFrom.churnUpdates) / steadyWall, 1),
        requests: await counts(steadyFrom.index, steadyTo.index),
        operatorCpuPercent: percent(cpuSteady1 - cpuSteady0, steadyWall),
        apiServerCpuPercent: percent(apiCpu(steadyFrom, steadyTo), steadyWall),
        agentFleetCpuPercent: percent(fleetCpu1 - fleetCpu0, steadyWall),
      },
      change: {
        profile: CHANGED_PROFILE,
        affectedNodes: affected,
        statusSeconds: redone ? round((redone.at - update.at) / 1000) : null,
        agentLatency: lat,
        agentsMissing: agentsOn.length - applied.size,
        windowSeconds: round((afterChange.at - update.at) / 1000, 1),
        lastWriteSeconds: round((afterChange.lastOperatorWriteAt - update.at) / 1000, 1),
        requests: changeCounts,
        operatorCpuSeconds: round(cpuAfterChange - cpuBeforeChange),
        apiServerCpuSeconds: apiCpu(beforeChange, afterChange),
        reconciles: reconciles(metricsBeforeChange, metricsAfterChange),
      },
      oomKills: operator.oomKills(),
      operatorWarnings: operator.warningCount,
      warningSamples: [...operator.warnings],
      operatorRestarts: operator.exits.map((e) => ({
        afterSeconds: round((e.at - started) / 1000, 1),
        phase:
          e.at < (done?.at ?? Number.POSITIVE_INFINITY)
            ? "converging"
            : e.at < update.at
              ? "agents and steady phase"
              : e.at <= afterChange.at
                ? "profile change"
                : "after the change",
        why: `exit ${e.code ?? e.signal}: ${e.lastLines.join("; ")}`.slice(0, 300),
      })),
    };
  } finally {
    if (fleet) await fleet.stop().catch(() => {});
    if (supervisor) await supervisor.stop();
    await fake.call({ cmd: "close" }).catch(() => {});
    await terminate(fake.child);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Seconds from `since` to `at`, or null when `at` never happened. */
const since = (at: number | undefined, from: number) => (at === undefined ? null : round((at - from) / 1000));

/**
 * Measures the real operator process (`node dist/operator/main.js`) against the fake API server in a child
 * process, for each node count of the plan: time and CPU to converge from nothing, the requests it made,
 * its memory, what it writes while idle, and how it rolls out a change to one profile selecting a third of
 * the nodes. Every child process is stopped, on failure and on SIGINT/SIGTERM too.
 */
export async function measureOperatorScale(opts: {
  root: string;
  quick: boolean;
  log: (l: string) => void;
  /** Overrides the plan's node counts (`node bench/operator-scale.ts --nodes 1000`). */
  nodeCounts?: readonly number[];
  /** Overrides the plan's Node status updates per second (`--churn 0` for none). */
  churnPerSecond?: number;
}): Promise<OperatorScaleResult> {
  const mode = opts.quick ? "quick" : "full";
  const plan = {
    ...OPERATOR_SCALE_PLANS[mode],
    ...(opts.nodeCounts ? { nodeCounts: opts.nodeCounts } : {}),
    ...(opts.churnPerSecond !== undefined ? { churnPerSecond: opts.churnPerSecond } : {}),
  };
  const children = new Set<ChildProcess>();
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  // A signal would end this process and leave the operator polling a dead API server: take it down first.
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.kill(process.pid, signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", killAll);
  const runs: OperatorScaleRun[] = [];
  const began = Date.now();
  const loadAverage = round(loadavg()[0] ?? 0, 2);
  const commit = await exec("git", ["describe", "--always", "--dirty"], { cwd: opts.root }).then(
    (r) => r.stdout.trim(),
    () => undefined,
  );
  try {
    for (let rep = 1; rep <= plan.repetitions; rep++)
      for (const n of plan.nodeCounts) {
        opts.log(`operator scale: ${n} nodes, run ${rep}`);
        runs.push(await measureRun(n, rep, plan, { ...opts, track: (c) => children.add(c) }));
      }
  } finally {
    killAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", killAll);
  }
  return {
    date: new Date().toISOString(),
    mode,
    node: process.version,
    cores: cpus().length,
    ...(commit ? { commit } : {}),
    loadAverage,
    plan: { ...plan },
    seconds: Math.round((Date.now() - began) / 1000),
    memoryLimitMiB: OPERATOR_RUNTIME.memoryLimitMiB,
    runs,
  };
}

if (import.meta.main) {
  const at = process.argv.indexOf("--nodes");
  const nodesArg = at > 0 ? process.argv[at + 1] : undefined;
  const churnAt = process.argv.indexOf("--churn");
  const churnArg = churnAt > 0 ? process.argv[churnAt + 1] : undefined;
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const result = await measureOperatorScale({
    root,
    quick: process.argv.includes("--quick"),
    ...(nodesArg ? { nodeCounts: nodesArg.split(",").map(Number) } : {}),
    ...(churnArg !== undefined ? { churnPerSecond: Number(churnArg) } : {}),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(operatorScaleMarkdown(result));
}
