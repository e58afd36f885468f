import type { Server } from "node:http";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { realTimers } from "../kube/timers.ts";
import { Agent } from "./agent.ts";
import { summarizeChanges } from "./apply-changes.ts";
import type { AgentArgs } from "./cli-options.ts";
import { createCollectorRegistry } from "./collectors/index.ts";
import { type FileConfig, ProfileFileSource } from "./config/file-source.ts";
import { HostPaths } from "./host-paths.ts";
import { AgentMetrics } from "./metrics.ts";
import type { PipelineProfile } from "./pipeline/profile-pipeline.ts";
import { agentRequestListener } from "./server.ts";
import { DEFAULT_CREDENTIALS_DIR } from "./sinks/credentials.ts";
import { agentVersion } from "./version.ts";

const VERSION = agentVersion();

/** `--check`: validates the profiles and prints them with defaults applied; 2 when any is refused. */
export async function checkProfiles(path: string, log: Logger): Promise<number> {
  const { readProfiles } = await import("./config/profile-files.ts");
  const set = await readProfiles(path);
  for (const e of set.errors) log.error({ source: e.source }, `profile refused: ${e.message}`);
  for (const p of set.profiles) process.stdout.write(`${JSON.stringify(p.profile)}\n`);
  return set.errors.length || set.profiles.length === 0 ? 2 : 0;
}

/** What the entry hands over once its start-up checks passed. */
export interface RunOptions {
  args: AgentArgs;
  log: Logger;
  /** The state dir, created and checked. */
  stateDir: string;
  /** The HTTP server, already bound, when the agent serves /healthz, /readyz and /metrics. */
  http?: Server;
}

/** Runs the agent until SIGTERM or SIGINT: cluster mode, a profile file, or the built-in profile. */
export async function runAgent({ args, log, stateDir, http }: RunOptions): Promise<number | undefined> {
  const paths = new HostPaths({ root: args["host-root"] ?? process.env.AGENT_HOST_ROOT ?? "/" });
  const nodeName = args["node-name"] ?? process.env.NODE_NAME ?? hostname();
  // Collectors that read the API (virt with KubeVirt discovery) may, with or without a NodeMonitor.
  const canReachApi = process.env.NODE_NAME && (args.kubeconfig || process.env.KUBERNETES_SERVICE_HOST);
  const agent = new Agent({
    registry: createCollectorRegistry(),
    env: {
      paths,
      now: Date.now,
      log,
      ...(canReachApi
        ? { cluster: { nodeName, ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}) } }
        : {}),
    },
    timers: realTimers,
    node: nodeName,
    stateDir,
    credentialsDir: args["credentials-dir"] ?? DEFAULT_CREDENTIALS_DIR,
    stdout: process.stdout,
    log,
  });
  const metrics = new AgentMetrics(agent);
  const apply = async (profiles: PipelineProfile[]) => {
    const end = metrics.applyDuration.startTimer();
    const report = await agent.apply(profiles);
    end();
    metrics.applies.inc({ result: report.refused.length ? "refused" : "applied" });
    for (const r of report.refused) log.error({ profile: r.profile }, `profile not applied: ${r.message}`);
    log.info(
      { applied: report.applied, ...report.changes, ms: report.durationMs },
      `configuration applied: ${summarizeChanges(report.changes)}`,
    );
    const ready = agent.readiness();
    if (!ready.ready) log.warn(`not ready: ${ready.reason}`);
  };

  if (http) {
    // The early handler answered while the agent loaded; the agent's routes take over now.
    http.removeAllListeners("request");
    http.on("request", agentRequestListener(agent, metrics));
    const at = http.address();
    log.info(
      { url: typeof at === "object" && at ? `http://${at.address}:${at.port}` : String(at) },
      "serving /healthz, /readyz and /metrics",
    );
  }

  let stopSource: (() => void) | undefined;
  let flushStatus: (() => Promise<void>) | undefined;
  const cluster =
    !args.profile && process.env.NODE_NAME && (args.kubeconfig || process.env.KUBERNETES_SERVICE_HOST);
  if (cluster) {
    const { startClusterMode } = await import("./cluster.ts");
    let mode: Awaited<ReturnType<typeof startClusterMode>>;
    try {
      mode = await startClusterMode({
        agent,
        apply,
        nodeName,
        ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
        agentVersion: VERSION,
        log,
      });
    } catch (err) {
      // A kubeconfig or service account the agent cannot use: one line naming the file and field.
      if ((err as Error).name !== "RestConfigError") throw err;
      log.fatal(`cannot start: ${(err as Error).message}`);
      await closeServer(http);
      return 1;
    }
    stopSource = mode.stop;
    flushStatus = mode.flush;
  } else if (args.profile) {
    const source = new ProfileFileSource({ path: args.profile, timers: realTimers, log });
    const first = await source.read();
    if (!first.ok) {
      for (const e of first.errors) log.error({ source: e.source }, `profile refused: ${e.message}`);
      await closeServer(http);
      return 2;
    }
    await apply(first.profiles);
    source.watch(async (config: FileConfig) => {
      if (config.ok) await apply(config.profiles);
      else
        for (const e of config.errors) {
          log.error({ source: e.source }, `configuration refused, the running one stays: ${e.message}`);
          agent.refuseConfiguration(e.source, e.message);
        }
    });
    stopSource = () => source.stop();
  } else {
    // Imported here: it validates with the profile validators, which a profile file reads in a worker instead.
    const { defaultProfile } = await import("./config/default-profile.ts");
    await apply([defaultProfile(paths)]);
  }

  // The agent's timers do not hold the process open on their own (they are unref'd); this does, until shutdown.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const shutdown = async (signal: string) => {
    clearInterval(keepAlive);
    log.info({ signal }, "stopping: collection ends, spools are kept");
    const grace = setTimeout(
      () => {
        log.error("shutdown took too long; exiting");
        process.exit(1);
      },
      Number(process.env.AGENT_SHUTDOWN_GRACE_MS ?? 20_000),
    );
    grace.unref();
    stopSource?.();
    await agent.close();
    await flushStatus?.().catch((err: Error) => log.warn({ err: err.message }, "last status write failed"));
    await closeServer(http);
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return undefined;
}

/** Stops listening and ends idle keep-alive connections, so that closing does not wait for a scraper. */
async function closeServer(http: Server | undefined): Promise<void> {
  if (!http?.listening) return;
  const closed = new Promise<void>((resolve) => http.close(() => resolve()));
  http.closeIdleConnections();
  await closed;
}
