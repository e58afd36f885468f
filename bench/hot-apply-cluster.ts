import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListenerProcess } from "../agent/listener/process.ts";
import { FakeApiServer, type K8sObject } from "../test/fake-apiserver/index.ts";
import { AgentFleet, type FleetSnapshot } from "./agent-fleet.ts";
import { cpuSeconds, rssMiB, terminate } from "./proc.ts";
import { builtEntry } from "./setup.ts";

// The cluster half of the hot-apply benchmark (bench/hot-apply.ts), and what both halves share: the two
// profile variants, the spread of a list of figures, and the check that unchanged jobs missed no tick.

/** Median, p95 (nearest rank), min and max of some milliseconds, and how many there were. */
export interface Spread {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
}

/** The spread of `values` (all zeros when empty). */
export function spread(values: readonly number[]): Spread {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? 0;
  return { n: s.length, median: at(0.5), p95: at(0.95), min: s[0] ?? 0, max: s.at(-1) ?? 0 };
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms; false if it did not hold within `ms`. */
export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

/** A fraction in [0, 1) for change `i`, spread evenly (golden ratio), so changes do not lock to a poll phase. */
export const phase = (i: number) => (i * 0.6180339887) % 1;

/**
 * The spec of variant 0 or 1: cpu, memory and load identical in both (their jobs must survive every change);
 * the interface collector's filter, the disk collector and the threshold's bounds differ.
 */
export function variantSpec(variant: 0 | 1, url: string) {
  return {
    collectors: [
      { name: "cpu", interval: "1s" },
      { name: "memory", interval: "1s" },
      { name: "load", interval: "1s" },
      variant === 0
        ? { name: "interface", interval: "1s", devices: { exclude: ["lo"] } }
        : { name: "interface", interval: "1s" },
      ...(variant === 1 ? [{ name: "disk", interval: "1s" }] : []),
    ],
    events: { measurementInterval: "5s" },
    thresholds: [
      { metric: "host.cpu.usage.percent", warningMax: variant ? 90 : 85, failureMax: variant ? 98 : 95 },
    ],
    sinks: [{ name: "ves", ves: { url, timeout: "2s" } }],
  };
}

/** A job's counters at one reading. */
export interface JobCounters {
  intervalMs: number;
  collections: number;
  missed: number;
  firstTick?: number;
  /** The boundary of the latest tick; absent from /metrics, where the reading time stands in for it. */
  lastTick?: number;
}

/** One reading of every job (keyed by agent and job id) and when it was taken. */
export interface JobReading {
  at: number;
  jobs: ReadonlyMap<string, JobCounters>;
}

/** What the readings say about the jobs every change kept. */
export interface UnchangedCheck {
  /** Jobs present in every reading: the ones no change touched. */
  jobs: number;
  /** Sum over them of the increase of `missed` from the first reading to the last. */
  missed: number;
  /** Times one of them went backwards (collections fell or firstTick moved): a restart. */
  restarts: number;
  /** Collections they made between the first and last reading, and what the elapsed time asks for. */
  collections: number;
  expected: number;
  /** Changed jobs that came back with the same id in the last reading; `reset` of them started again (a new first
   * tick, or fewer than half the collections the elapsed time asks for). */
  returned: number;
  reset: number;
}

/** Checks that the jobs present in every reading kept counting and missed no tick. */
export function checkUnchanged(readings: readonly JobReading[]): UnchangedCheck {
  const first = readings[0]!;
  const last = readings.at(-1)!;
  const out: UnchangedCheck = {
    jobs: 0,
    missed: 0,
    restarts: 0,
    collections: 0,
    expected: 0,
    returned: 0,
    reset: 0,
  };
  for (const [key, a] of first.jobs) {
    const z = last.jobs.get(key);
    if (!z) continue;
    const backwards = (x: JobCounters, y: JobCounters) =>
      y.collections < x.collections || y.firstTick !== x.firstTick;
    if (!readings.every((r) => r.jobs.has(key))) {
      out.returned++;
      const ticks = (last.at - first.at) / a.intervalMs;
      if (z.firstTick !== a.firstTick || z.collections - a.collections < ticks / 2) out.reset++;
      continue;
    }
    out.jobs++;
    out.missed += z.missed - a.missed;
    out.collections += z.collections - a.collections;
    // Ticks fall on multiples of the interval: count the boundaries between the two readings, exactly from the
    // jobs' own last ticks when the reading has them (a reading taken as a tick starts would count it or not).
    out.expected +=
      a.lastTick !== undefined && z.lastTick !== undefined
        ? Math.round((z.lastTick - a.lastTick) / a.intervalMs)
        : Math.floor(last.at / a.intervalMs) - Math.floor(first.at / a.intervalMs);
    for (let i = 1; i < readings.length; i++)
      if (backwards(readings[i - 1]!.jobs.get(key)!, readings[i]!.jobs.get(key)!)) out.restarts++;
  }
  return out;
}

const PROFILE = "fleet";
const NS = "vesmon-system";
const MP_PATH = "/apis/vesmon.io/v1alpha1/monitoringprofiles";
const NM_PATH = "/apis/vesmon.io/v1alpha1/nodemonitors";
/** StatusWriter's default minIntervalMs (agent/status/writer.ts), which cluster mode uses. */
export const STATUS_MIN_INTERVAL_MS = 5000;

/**
 * The per-agent figures of a change, in ms: `latency` from the PATCH to the agent's NodeMonitor status showing the
 * generation applied (with the spec's configHash); `received` from the PATCH to the agent starting the apply
 * (operator and watch, timed by the agent); `operator` from the PATCH to the profile's Accepted condition
 * at that generation (agents run a generation only once it is accepted), as the benchmark's own watch sees it (it runs in the process serving the API, so it can lag the
 * agents' watches by up to ~0.1 s); `apply`; `statusWrite` from the apply's end to the status (rate limit included).
 */
export type FleetPart = "latency" | "received" | "operator" | "apply" | "statusWrite";

/** One change rolled out to the fleet. */
export interface FleetChange {
  generation: number;
  latency: Spread;
  received: Spread;
  /** Agents that had written status less than STATUS_MIN_INTERVAL_MS before their apply ended, and the sum of
   * the waits that rate limit imposes on them. */
  rateLimited: number;
  rateLimitWaitMs: number;
  latencySumMs: number;
  /** PATCH → MonitoringProfile status: observedGeneration, Ready=True, appliedNodes = all; undefined if never. */
  readyMs?: number;
  /** The last agent's status → that roll-up. */
  rollupMs?: number;
  /** Agents whose status did not show the generation within 90 s. */
  missingStatus: number;
}

/** The cluster measurement. */
export interface FleetResult {
  agents: number;
  changes: FleetChange[];
  /** Per-agent latency and its parts (see FleetPart) over every change. */
  latency: Spread;
  parts: Record<Exclude<FleetPart, "latency">, Spread>;
  /** NodeMonitor status writes per agent per minute while the changes ran. */
  statusWritesPerAgentMinute: number;
  rateLimited: number;
  rateLimitWaitMs: number;
  latencySumMs: number;
  /** PATCH → Ready over the changes. */
  ready: Spread;
  unchanged: UnchangedCheck;
  /** Time from the profile's creation to Ready on every node, ms. */
  startupMs: number;
  fleetRssMiB: number;
  fleetCpuPercent: number;
  eventsAccepted: number;
}

/** Follows a watch on the fake server (NDJSON) and calls `on` per object; returns the stop function. */
function follow(base: string, path: string, on: (o: K8sObject) => void): () => void {
  const req = get(`${base}${path}?watch=true`, (res) => {
    let buf = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const e = line.trim() ? (JSON.parse(line) as { type: string; object: K8sObject }) : undefined;
        if (e && e.type !== "BOOKMARK" && e.type !== "ERROR") on(e.object);
      }
    });
  });
  req.on("error", () => {});
  return () => req.destroy();
}

interface ProfileEntry {
  name: string;
  generation?: number;
  appliedGeneration?: number;
  state?: string;
}
type Watched = K8sObject & {
  spec?: { configHash?: string; profiles?: ProfileEntry[] };
  status?: {
    configHash?: string;
    observedGeneration?: number;
    appliedNodes?: number;
    profiles?: ProfileEntry[];
    conditions?: { type: string; status: string; observedGeneration?: number }[];
  };
};

/** When the profile was accepted at each generation, each NodeMonitor's status first showed it, and Ready. */
class Tracker {
  readonly acceptedAt = new Map<number, number>();
  readonly appliedAt = new Map<string, Map<number, number>>();
  readonly statusWrites = new Map<string, number[]>();
  readonly readyAt = new Map<number, number>();
  readonly #lastStatus = new Map<string, string>();
  readonly #agents: number;

  constructor(agents: number) {
    this.#agents = agents;
  }

  nodeMonitor(o: Watched): void {
    const now = Date.now();
    const node = o.metadata.name;
    const first = (m: Map<string, Map<number, number>>, gen: number | undefined) => {
      if (gen === undefined) return;
      const byGen = m.get(node) ?? m.set(node, new Map()).get(node)!;
      if (!byGen.has(gen)) byGen.set(gen, now);
    };
    const status = JSON.stringify(o.status ?? null);
    if (o.status && status !== this.#lastStatus.get(node)) {
      this.#lastStatus.set(node, status);
      this.statusWrites.set(node, [...(this.statusWrites.get(node) ?? []), now]);
    }
    const ps = o.status?.profiles?.find((p) => p.name === PROFILE);
    if (ps?.state === "Applied" && o.status?.configHash === o.spec?.configHash)
      first(this.appliedAt, ps.appliedGeneration);
  }

  profile(o: Watched): void {
    const s = o.status;
    const accepted = s?.conditions?.find((c) => c.type === "Accepted" && c.status === "True");
    if (accepted?.observedGeneration !== undefined && !this.acceptedAt.has(accepted.observedGeneration))
      this.acceptedAt.set(accepted.observedGeneration, Date.now());
    const ready = s?.conditions?.find((c) => c.type === "Ready")?.status === "True";
    if (
      s?.observedGeneration !== undefined &&
      ready &&
      s.appliedNodes === this.#agents &&
      !this.readyAt.has(s.observedGeneration)
    )
      this.readyAt.set(s.observedGeneration, Date.now());
  }
}

const toReading = (s: FleetSnapshot): JobReading => ({
  at: s.at,
  jobs: new Map(s.agents.flatMap((a) => a.jobs.map((j) => [`${a.node}/${j.id}`, j] as const))),
});

/** The figures of one change, and the per-agent latencies they summarise. */
function changeFigures(
  gen: number,
  t0: number,
  nodes: readonly string[],
  tracker: Tracker,
  fleet: AgentFleet,
): { change: FleetChange; raw: Record<FleetPart, number[]> } {
  const latencies: number[] = [];
  const operator: number[] = [];
  const received: number[] = [];
  const apply: number[] = [];
  const statusWrite: number[] = [];
  let rateLimited = 0;
  let rateLimitWaitMs = 0;
  let missingStatus = 0;
  const t1 = tracker.acceptedAt.get(gen);
  for (const n of nodes) {
    const t4 = tracker.appliedAt.get(n)?.get(gen);
    const ap = fleet.applies.find(
      (a) => a.node === n && a.profiles.some((p) => p.name === PROFILE && p.generation === gen),
    );
    if (t1 !== undefined) operator.push(t1 - t0);
    if (t4 === undefined) {
      missingStatus++;
      continue;
    }
    latencies.push(t4 - t0);
    if (!ap || t1 === undefined) continue;
    received.push(ap.start - t0);
    apply.push(ap.end - ap.start);
    statusWrite.push(t4 - ap.end);
    const before = (tracker.statusWrites.get(n) ?? []).filter((w) => w < ap.end);
    const wait = before.length ? Math.max(0, before.at(-1)! + STATUS_MIN_INTERVAL_MS - ap.end) : 0;
    if (wait > 0) rateLimited++;
    rateLimitWaitMs += wait;
  }
  const ready = tracker.readyAt.get(gen);
  const lastStatus = Math.max(...nodes.map((n) => tracker.appliedAt.get(n)?.get(gen) ?? 0));
  return {
    raw: { latency: latencies, received, operator, apply, statusWrite },
    change: {
      generation: gen,
      latency: spread(latencies),
      received: spread(received),
      rateLimited,
      rateLimitWaitMs,
      latencySumMs: latencies.reduce((a, b) => a + b, 0),
      ...(ready !== undefined ? { readyMs: ready - t0 } : {}),
      ...(ready !== undefined && !missingStatus ? { rollupMs: ready - lastStatus } : {}),
      missingStatus,
    },
  };
}

const tail = async (file: string) =>
  (await readFile(file, "utf8").catch(() => "")).split("\n").slice(-15).join("\n");

/**
 * `agents` agents (one process), the real operator and a VES listener against the fake API server: one profile
 * over every node, then `changes` merge-patches at least 15 s apart. Everything started is stopped, even on failure.
 */
export async function measureFleet(opts: {
  root: string;
  agents: number;
  changes: number;
  log: (l: string) => void;
}): Promise<FleetResult> {
  const { root, agents: count, log } = opts;
  const nodes = Array.from({ length: count }, (_, i) => `worker-${i + 1}`);
  const cleanups: (() => Promise<unknown>)[] = [];
  const dir = await mkdtemp(join(tmpdir(), "vesmon-hot-apply-cluster-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const fleetLog = join(dir, "fleet.log");
  const operatorLog = join(dir, "operator.log");
  try {
    const api = new FakeApiServer();
    await api.start();
    cleanups.push(() => api.close());
    const listener = new ListenerProcess({ port: 0 });
    await listener.start();
    cleanups.push(() => listener.close());
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, api.kubeConfig().exportConfig());
    api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
    for (const n of nodes)
      api.create({
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: n, labels: { "kubernetes.io/hostname": n, "vesmon.io/bench": "hot-apply" } },
      });
    const tracker = new Tracker(count);
    const stopNm = follow(api.url, NM_PATH, (o) => tracker.nodeMonitor(o as Watched));
    const stopMp = follow(api.url, MP_PATH, (o) => tracker.profile(o as Watched));
    cleanups.push(async () => {
      stopNm();
      stopMp();
    });

    log(`hot-apply: starting ${count} agents in one process`);
    const fleet = await AgentFleet.start({ kubeconfig, dir, count, logFile: fleetLog });
    cleanups.push(() => fleet.stop());
    const fd = openSync(operatorLog, "a");
    const args = [
      "--kubeconfig",
      kubeconfig,
      "--namespace",
      NS,
      "--identity",
      "bench",
      "--listen",
      "127.0.0.1:0",
    ];
    const operator = spawn(process.execPath, [builtEntry(root, "operator/main"), ...args], {
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    cleanups.push(() => terminate(operator));

    const created = Date.now();
    api.create({
      apiVersion: "vesmon.io/v1alpha1",
      kind: "MonitoringProfile",
      metadata: { name: PROFILE },
      spec: {
        nodeSelector: { matchLabels: { "vesmon.io/bench": "hot-apply" } },
        ...variantSpec(0, listener.url),
      },
    });
    if (!(await until(() => tracker.readyAt.has(1), 240_000)))
      throw new Error(
        `profile not Ready on ${count} nodes in 240 s: ${JSON.stringify(api.get("vesmon.io/v1alpha1", "MonitoringProfile", PROFILE)?.status)}`,
      );
    const startupMs = Date.now() - created;
    log(`hot-apply: Ready on ${count} nodes after ${startupMs} ms`);
    // Let every job tick a few times, so the first reading is not taken while collectors still start.
    await sleep(5000);
    const cpu0 = await cpuSeconds(fleet.pid);
    const wall0 = Date.now();
    const readings = [toReading(await fleet.snapshot())];
    const changes: FleetChange[] = [];
    const raw: Record<FleetPart, number[]> = {
      latency: [],
      operator: [],
      received: [],
      apply: [],
      statusWrite: [],
    };
    for (let i = 1; i <= opts.changes; i++) {
      const spec = variantSpec(i % 2 === 1 ? 1 : 0, listener.url);
      const t0 = Date.now();
      const res = await fetch(`${api.url}${MP_PATH}/${PROFILE}`, {
        method: "PATCH",
        headers: { "content-type": "application/merge-patch+json" },
        body: JSON.stringify({ spec: { collectors: spec.collectors, thresholds: spec.thresholds } }),
      });
      if (!res.ok) throw new Error(`PATCH of the profile: ${res.status} ${await res.text()}`);
      const gen = ((await res.json()) as K8sObject).metadata.generation as number;
      const done = () => tracker.readyAt.has(gen) && nodes.every((n) => tracker.appliedAt.get(n)?.has(gen));
      if (!(await until(done, 90_000))) log(`hot-apply: generation ${gen} not everywhere after 90 s`);
      // The fleet's apply reports travel over IPC; they precede the status writes, but give them a moment.
      await sleep(200);
      const figures = changeFigures(gen, t0, nodes, tracker, fleet);
      changes.push(figures.change);
      for (const [k, v] of Object.entries(figures.raw)) raw[k as keyof typeof raw].push(...v);
      readings.push(toReading(await fleet.snapshot()));
      const l = figures.change.latency;
      log(
        `hot-apply: change ${i}/${opts.changes} (generation ${gen}): per agent median ${l.median} ms, max ${l.max} ms`,
      );
      await sleep(t0 + 15_000 + phase(i) * 5000 - Date.now());
    }
    readings.push(toReading(await fleet.snapshot()));
    const wall = Date.now() - wall0;
    const writes = [...tracker.statusWrites.values()].flat().filter((t) => t >= wall0).length;
    const cpu = (await cpuSeconds(fleet.pid)) - cpu0;
    const stats = (await listener.app.inject({ method: "GET", url: "/control/stats" })).json() as {
      accepted: number;
    };
    return {
      agents: count,
      changes,
      latency: spread(raw.latency),
      parts: {
        operator: spread(raw.operator),
        received: spread(raw.received),
        apply: spread(raw.apply),
        statusWrite: spread(raw.statusWrite),
      },
      rateLimited: changes.reduce((a, c) => a + c.rateLimited, 0),
      rateLimitWaitMs: changes.reduce((a, c) => a + c.rateLimitWaitMs, 0),
      latencySumMs: changes.reduce((a, c) => a + c.latencySumMs, 0),
      ready: spread(changes.flatMap((c) => (c.readyMs === undefined ? [] : [c.readyMs]))),
      unchanged: checkUnchanged(readings),
      startupMs,
      fleetRssMiB: Math.round((await rssMiB(fleet.pid)).now),
      fleetCpuPercent: Math.round((cpu / (wall / 1000)) * 1000) / 10,
      statusWritesPerAgentMinute: Math.round((writes / count / (wall / 60_000)) * 10) / 10,
      eventsAccepted: stats.accepted,
    };
  } catch (err) {
    log(
      `hot-apply (cluster) failed; fleet log:\n${await tail(fleetLog)}\noperator log:\n${await tail(operatorLog)}`,
    );
    throw err;
  } finally {
    for (const c of cleanups.reverse())
      await c().catch((err: Error) => log(`hot-apply cleanup: ${err.message}`));
  }
}
