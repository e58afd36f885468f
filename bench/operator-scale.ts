import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { K8sObject } from "../test/fake-apiserver/index.ts";
import {
  type FakeCommand,
  type FakeMark,
  type FakeMessage,
  nodeMonitorKey,
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
  type OperatorScaleResult,
  type OperatorScaleRun,
  operatorScaleMarkdown,
  type Reconciles,
} from "./operator-scale-report.ts";
import { cpuSeconds, freePort, rssMiB, terminate } from "./proc.ts";
import { builtEntry } from "./setup.ts";

export type {
  OperatorScaleResult,
  OperatorScaleRun,
  Reconciles,
  RequestCounts,
} from "./operator-scale-report.ts";
export { operatorScaleMarkdown };

/** Node counts, repetitions and waits of the quick and the full plan. */
export const OPERATOR_SCALE_PLANS = {
  quick: { nodeCounts: [200, 1000], repetitions: 1, idleSeconds: 5, convergeTimeoutSeconds: 300 },
  full: { nodeCounts: [1000, 5000], repetitions: 1, idleSeconds: 10, convergeTimeoutSeconds: 900 },
} as const;

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

/** One size, one repetition: a fresh fake API server, seeding, the operator, and the three phases. */
async function measureRun(
  nodeCount: number,
  repetition: number,
  plan: (typeof OPERATOR_SCALE_PLANS)[keyof typeof OPERATOR_SCALE_PLANS],
  opts: { root: string; log: (l: string) => void; track: (c: ChildProcess) => void },
): Promise<OperatorScaleRun> {
  const { root, log } = opts;
  const nodes = benchNodes(nodeCount);
  const profiles = benchProfiles();
  const selection = expectedSelection(nodes, profiles);
  const interval = (p: K8sObject) =>
    (p.spec as { events?: { measurementInterval?: string } }).events?.measurementInterval ?? "60s";
  const expectation = (generations: Map<string, number>, intervals: Map<string, string>) => {
    const nms: Record<string, string> = {};
    const selected = new Map<string, number>();
    for (const [node, names] of selection) {
      for (const n of names) selected.set(n, (selected.get(n) ?? 0) + 1);
      if (names.length === 0) continue;
      nms[node] = nodeMonitorKey(
        names.map((n) => ({ name: n, generation: generations.get(n)!, interval: intervals.get(n)! })),
      );
    }
    const mps: Record<string, ProfileExpectation> = {};
    for (const p of profiles) {
      const name = p.metadata.name;
      mps[name] = { generation: generations.get(name)!, selectedNodes: selected.get(name) ?? 0 };
    }
    return { nodes: nms, profiles: mps };
  };
  const generations = new Map(profiles.map((p) => [p.metadata.name, 1]));
  const intervals = new Map(profiles.map((p) => [p.metadata.name, interval(p)]));
  const perNode = [...selection.values()].map((v) => v.length);

  const dir = await mkdtemp(join(tmpdir(), "vesmon-opscale-"));
  const kubeconfig = join(dir, "kubeconfig");
  const fake = new FakeServerProcess(root, kubeconfig);
  opts.track(fake.child);
  let operator: ChildProcess | undefined;
  try {
    await fake.ready;
    await fake.call({ cmd: "seed", objects: benchSecrets() });
    for (let i = 0; i < nodes.length; i += 1000)
      await fake.call({ cmd: "seed", objects: nodes.slice(i, i + 1000) });
    await fake.call({ cmd: "seed", objects: profiles });
    let epoch = await fake.call<number>({ cmd: "expect", ...expectation(generations, intervals) });

    const port = await freePort();
    const before = await fake.mark();
    const started = Date.now();
    operator = spawn(
      process.execPath,
      [
        builtEntry(root, "operator/main"),
        ...["--kubeconfig", kubeconfig, "--namespace", BENCH_NAMESPACE, "--identity", "bench-operator"],
        ...["--listen", `127.0.0.1:${port}`],
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    opts.track(operator);
    const pid = operator.pid!;
    const milestones: Record<string, number> = {};
    const warnings: string[] = [];
    let warningCount = 0;
    let buffered = "";
    operator.stderr!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const entry = (() => {
          try {
            return JSON.parse(line) as { level?: number; msg?: string; err?: string };
          } catch {
            return { level: 50, msg: line };
          }
        })();
        if (entry.msg === "informers synced" || entry.msg === "leading") milestones[entry.msg] ??= Date.now();
        if ((entry.level ?? 0) >= 40) {
          warningCount++;
          if (warnings.length < 5) warnings.push(`${entry.msg}${entry.err ? `: ${entry.err}` : ""}`);
        }
      }
    });
    const exited = new Promise<never>((_, reject) =>
      operator!.once("exit", (code, signal) =>
        reject(new Error(`operator exited early (${code ?? signal}): ${warnings.join("; ")}`)),
      ),
    );
    exited.catch(() => {});
    const progress = (what: string, since: number) => async () => {
      const m = await fake.mark();
      log(
        `  ${nodeCount} nodes, ${what}: ${Math.round((Date.now() - since) / 1000)} s, ` +
          `${m.pendingNodeMonitors} NodeMonitors and ${m.pendingProfiles} profile statuses pending`,
      );
    };
    const timeout = plan.convergeTimeoutSeconds * 1000;
    const done = await Promise.race([
      fake.converged(epoch, timeout, progress("converging", started)),
      exited,
    ]);
    const convergedAt = done?.at ?? Date.now();
    const atConverged = await fake.mark();
    const cpuConverged = await cpuSeconds(pid);
    const rssConverged = await rssMiB(pid);
    const metricsConverged = await scrape(port);
    const counts = (from: number, to: number) =>
      fake.call<Record<string, number>>({ cmd: "counts", from, to });
    const initialCounts = await counts(before.index, done?.index ?? atConverged.index);
    log(
      `  ${nodeCount} nodes: ${done ? `converged in ${round((convergedAt - started) / 1000, 1)} s` : "did not converge"}`,
    );

    // Idle: nothing changes; what the operator writes now is overhead.
    const idleFrom = done ? done.index : atConverged.index;
    await sleep(plan.idleSeconds * 1000);
    const afterIdle = await fake.mark();
    const cpuIdle = await cpuSeconds(pid);
    const rssIdle = await rssMiB(pid);
    const idleCounts = await counts(idleFrom, afterIdle.index);

    // Change one profile selecting about a third of the nodes.
    const changed = profiles.find((p) => p.metadata.name === CHANGED_PROFILE)!;
    const spec = structuredClone(changed.spec) as { events: { measurementInterval: string } };
    spec.events.measurementInterval = "30s";
    generations.set(CHANGED_PROFILE, 2);
    intervals.set(CHANGED_PROFILE, "30s");
    epoch = await fake.call<number>({ cmd: "expect", ...expectation(generations, intervals) });
    const beforeChange = await fake.mark();
    const cpuBeforeChange = await cpuSeconds(pid);
    const metricsBeforeChange = await scrape(port);
    const update = await fake.call<{ at: number; generation: number }>({
      cmd: "update",
      object: { ...changed, spec },
    });
    if (update.generation !== 2) throw new Error(`profile generation is ${update.generation}, not 2`);
    const redone = await Promise.race([
      fake.converged(epoch, timeout, progress("reconverging", update.at)),
      exited,
    ]);
    const afterChange = await fake.mark();
    const cpuAfterChange = await cpuSeconds(pid);
    const metricsAfterChange = await scrape(port);
    const changeCounts = await counts(beforeChange.index, redone?.index ?? afterChange.index);
    await sleep(2000);
    const trailing = await fake.mark();
    const trailingCounts = await counts(redone?.index ?? afterChange.index, trailing.index);
    const affected = [...selection.values()].filter((v) => v.includes(CHANGED_PROFILE)).length;
    log(
      `  ${nodeCount} nodes: change ${redone ? `reconverged in ${round((redone.at - update.at) / 1000, 1)} s` : "did not reconverge"}`,
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
      syncedSeconds: milestones["informers synced"]
        ? round((milestones["informers synced"] - started) / 1000)
        : null,
      leadingSeconds: milestones.leading ? round((milestones.leading - started) / 1000) : null,
      convergeSeconds: done ? round((done.at - started) / 1000) : null,
      pendingAtEnd: done
        ? undefined
        : { nodeMonitors: atConverged.pendingNodeMonitors, profiles: atConverged.pendingProfiles },
      initial: initialCounts,
      initialReconciles: reconciles({}, metricsConverged),
      operatorCpuSeconds: round(cpuConverged),
      apiServerCpuSeconds: apiCpu(before, atConverged),
      apiServerRssMiB: round(atConverged.rssMiB, 0),
      rssPeakMiB: round(rssConverged.peak, 1),
      rssConvergedMiB: round(rssConverged.now, 1),
      rssSteadyMiB: round(rssIdle.now, 1),
      idle: {
        seconds: round((afterIdle.at - (done?.at ?? atConverged.at)) / 1000, 1),
        requests: idleCounts,
        operatorCpuSeconds: round(cpuIdle - cpuConverged),
      },
      change: {
        profile: CHANGED_PROFILE,
        affectedNodes: affected,
        convergeSeconds: redone ? round((redone.at - update.at) / 1000) : null,
        requests: changeCounts,
        trailingRequests: trailingCounts,
        operatorCpuSeconds: round(cpuAfterChange - cpuBeforeChange),
        apiServerCpuSeconds: apiCpu(beforeChange, afterChange),
        reconciles: reconciles(metricsBeforeChange, metricsAfterChange),
      },
      operatorWarnings: warningCount,
      warningSamples: [...warnings],
    };
  } finally {
    if (operator) await terminate(operator);
    await fake.call({ cmd: "close" }).catch(() => {});
    await terminate(fake.child);
    await rm(dir, { recursive: true, force: true });
  }
}

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
}): Promise<OperatorScaleResult> {
  const mode = opts.quick ? "quick" : "full";
  const plan = OPERATOR_SCALE_PLANS[mode];
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
    plan: { ...plan },
    runs,
  };
}

if (import.meta.main) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const result = await measureOperatorScale({
    root,
    quick: process.argv.includes("--quick"),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(operatorScaleMarkdown(result));
}
