import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Agent } from "../agent/agent.ts";
import { startClusterMode } from "../agent/cluster.ts";
import { createCollectorRegistry } from "../agent/collectors/index.ts";
import { HostPaths } from "../agent/host-paths.ts";
import type { PipelineProfile } from "../agent/pipeline/profile-pipeline.ts";
import { agentVersion } from "../agent/version.ts";
import { createLogger } from "../kube/log.ts";
import { realTimers } from "../kube/timers.ts";

// Many cluster-mode agents in ONE process, each wired as agent/main.ts wires it (Agent + startClusterMode with a
// kubeconfig file, its own node name and state directory, real collectors on this host's /proc). Fifty agent
// processes would need ~10 GiB and both cores just to start; in one process they share the modules and heap.

/** A job's counters in one agent. */
export interface FleetJob {
  id: string;
  collector: string;
  state: string;
  intervalMs: number;
  collections: number;
  missed: number;
  firstTick?: number;
  lastTick?: number;
}

/** Every agent's jobs, read at `at` (ms since the epoch). */
export interface FleetSnapshot {
  at: number;
  agents: { node: string; jobs: FleetJob[] }[];
}

/** One configuration an agent applied: when the apply started and ended, and the profile generations in it. */
export interface FleetApply {
  node: string;
  start: number;
  end: number;
  profiles: { name: string; generation: number }[];
  refused: number;
}

type ToParent =
  | { type: "ready" }
  | { type: "applied"; apply: FleetApply }
  | { type: "snapshot"; id: number; snapshot: FleetSnapshot };
type ToChild = { type: "snapshot"; id: number } | { type: "stop" };

/** The parent's handle on the fleet process. */
export class AgentFleet {
  /** Every apply of every agent, in the order reported. */
  readonly applies: FleetApply[] = [];
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (s: FleetSnapshot) => void>();
  #next = 0;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (m: ToParent) => {
      if (m.type === "applied") this.applies.push(m.apply);
      else if (m.type === "snapshot") {
        this.#waiting.get(m.id)?.(m.snapshot);
        this.#waiting.delete(m.id);
      }
    });
  }

  /**
   * Starts `count` agents in a child process, on the nodes `nodes` names or else `worker-1`…; resolves once
   * every one has started.
   */
  static async start(opts: {
    kubeconfig: string;
    dir: string;
    count: number;
    logFile: string;
    nodes?: readonly string[];
  }): Promise<AgentFleet> {
    const fd = openSync(opts.logFile, "a");
    const args = ["--kubeconfig", opts.kubeconfig, "--dir", opts.dir, "--count", String(opts.count)];
    if (opts.nodes) args.push("--nodes", opts.nodes.join(","));
    const child = spawn(process.execPath, [import.meta.filename, ...args], {
      stdio: ["ignore", fd, fd, "ipc"],
    });
    closeSync(fd);
    const fleet = new AgentFleet(child);
    const ready = new Promise<void>((resolve, reject) => {
      child.on("message", (m: ToParent) => m.type === "ready" && resolve());
      child.once("exit", (code) => reject(new Error(`agent fleet exited (${code}); see ${opts.logFile}`)));
    });
    await ready.catch(async (err: Error) => {
      await fleet.stop();
      throw err;
    });
    return fleet;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Every agent's job counters now. */
  snapshot(): Promise<FleetSnapshot> {
    const id = this.#next++;
    const answer = new Promise<FleetSnapshot>((resolve, reject) => {
      this.#waiting.set(id, resolve);
      setTimeout(() => reject(new Error("agent fleet did not answer a snapshot in 10 s")), 10_000).unref();
    });
    this.#child.send({ type: "snapshot", id } satisfies ToChild);
    return answer;
  }

  /** Stops every agent as SIGTERM stops agent/main.ts (last status written); kills the process after 30 s. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    if (child.connected) child.send({ type: "stop" } satisfies ToChild);
    else child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

async function runFleet(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string" },
      dir: { type: "string" },
      count: { type: "string" },
      nodes: { type: "string" },
    },
  });
  const names = values.nodes?.split(",") ?? [];
  const dir = values.dir!;
  const log = createLogger("vesmon-agent-fleet", process.env.AGENT_LOG_LEVEL ?? "info");
  const send = (m: ToParent) => process.send?.(m);
  const agents: { node: string; agent: Agent; stop: () => void; flush: () => Promise<void> }[] = [];
  for (let i = 1; i <= Number(values.count); i++) {
    const node = names[i - 1] ?? `worker-${i}`;
    const nodeLog = log.child({ node });
    await mkdir(join(dir, node), { recursive: true });
    const agent = new Agent({
      registry: createCollectorRegistry(),
      env: { paths: new HostPaths({ root: "/" }), now: Date.now, log: nodeLog },
      timers: realTimers,
      node,
      stateDir: join(dir, node),
      credentialsDir: join(dir, "credentials"),
      stdout: process.stdout,
      log: nodeLog,
    });
    // main.ts's apply, minus its Prometheus counters, plus the times the parent needs.
    const apply = async (profiles: PipelineProfile[]) => {
      const start = Date.now();
      const report = await agent.apply(profiles);
      for (const r of report.refused)
        nodeLog.error({ profile: r.profile }, `profile not applied: ${r.message}`);
      nodeLog.info({ applied: report.applied, ms: report.durationMs }, "configuration applied");
      const generations = profiles.map((p) => ({ name: p.name, generation: p.generation }));
      send({
        type: "applied",
        apply: { node, start, end: Date.now(), profiles: generations, refused: report.refused.length },
      });
    };
    const mode = await startClusterMode({
      agent,
      apply,
      nodeName: node,
      kubeconfig: values.kubeconfig!,
      agentVersion: agentVersion(),
      log: nodeLog,
    });
    agents.push({ node, agent, ...mode });
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(
      agents.map(async (a) => {
        a.stop();
        await a.agent.close();
        await a
          .flush()
          .catch((err: Error) => log.warn({ node: a.node, err: err.message }, "last status write failed"));
      }),
    );
    process.exit(0);
  };
  process.on("message", (m: ToChild) => {
    if (m.type === "stop") void stop();
    else if (m.type === "snapshot") {
      const at = Date.now();
      const snapshot: FleetSnapshot = {
        at,
        agents: agents.map((a) => ({
          node: a.node,
          jobs: a.agent.status().jobs.map((j) => ({
            id: j.id,
            collector: j.collector,
            state: j.state,
            intervalMs: j.intervalMs,
            collections: j.collections,
            missed: j.missed,
            ...(j.firstTick !== undefined ? { firstTick: j.firstTick } : {}),
            ...(j.lastTick !== undefined ? { lastTick: j.lastTick } : {}),
          })),
        })),
      };
      send({ type: "snapshot", id: m.id, snapshot });
    }
  });
  // Without the parent nobody would stop us: leave as the agents would on SIGTERM.
  process.once("disconnect", () => void stop());
  process.once("SIGTERM", () => void stop());
  send({ type: "ready" });
}

if (import.meta.main) await runFleet();
