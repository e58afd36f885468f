#!/usr/bin/env node
import { hostname } from "node:os";
import { parseCli } from "../kube/cli.ts";
import { createLogger } from "../kube/log.ts";
import { realTimers } from "../kube/timers.ts";
import { Agent } from "./agent.ts";
import { createCollectorRegistry } from "./collectors/index.ts";
import { defaultProfile } from "./config/default-profile.ts";
import { type FileConfig, ProfileFileSource } from "./config/file-source.ts";
import { readProfiles } from "./config/profile-files.ts";
import { HostPaths } from "./host-paths.ts";
import { AgentMetrics } from "./metrics.ts";
import type { PipelineProfile } from "./pipeline/profile-pipeline.ts";
import { buildServer } from "./server.ts";
import { DEFAULT_CREDENTIALS_DIR } from "./sinks/credentials.ts";
import { agentVersion } from "./version.ts";

const USAGE = `usage: vesmon-agent [--profile FILE|DIR] [options]

In a cluster (NODE_NAME set, and in-cluster credentials or --kubeconfig) the agent runs its node's
NodeMonitor and reports in its status. Otherwise it runs standalone: collects this host's figures (and its VMs' through libvirt), turns them
into VES events and delivers them to the profile's sinks. Without --profile it runs the built-in local
profile (host collectors, plus virt when libvirt's socket is there) and prints VES events on stdout.
A profile file or directory is watched and every edit is hot-applied; an edit that does not validate is
refused, naming the field, and the running configuration stays.

  --profile, -p FILE|DIR     MonitoringProfile YAML (a file, or every *.yaml in a directory)
  --check                    validate the profiles, print them with defaults applied, and exit
  --node-name NAME           the node's name in events (default: NODE_NAME, else the host name)
  --state-dir DIR            spools and fault state (default: AGENT_STATE_DIR, else /var/lib/vesmon)
  --credentials-dir DIR      <secret>/<key> files for sinks (default: ${DEFAULT_CREDENTIALS_DIR})
  --host-root DIR            where the host's / is mounted (default: AGENT_HOST_ROOT, else /)
  --listen HOST:PORT         /healthz, /readyz, /metrics (default: 127.0.0.1:9464; "" to disable)
  --kubeconfig FILE          cluster mode with this kubeconfig instead of the pod's service account
`;

const log = createLogger("vesmon-agent", process.env.AGENT_LOG_LEVEL ?? "info");
const VERSION = agentVersion();

async function check(path: string): Promise<number> {
  const set = await readProfiles(path);
  for (const e of set.errors) log.error({ source: e.source }, `profile refused: ${e.message}`);
  for (const p of set.profiles) process.stdout.write(`${JSON.stringify(p.profile)}\n`);
  return set.errors.length || set.profiles.length === 0 ? 2 : 0;
}

const OPTIONS = {
  profile: { type: "string", short: "p" },
  check: { type: "boolean" },
  "node-name": { type: "string" },
  "state-dir": { type: "string" },
  "credentials-dir": { type: "string" },
  "host-root": { type: "string" },
  listen: { type: "string" },
  kubeconfig: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

async function main(): Promise<number | undefined> {
  const cli = parseCli(OPTIONS, USAGE);
  if (!cli.ok) return cli.code;
  const args = cli.values;
  if (args.check) {
    if (args.profile) return check(args.profile);
    process.stderr.write(`--check needs --profile\n${USAGE}`);
    return 2;
  }

  const paths = new HostPaths({ root: args["host-root"] ?? process.env.AGENT_HOST_ROOT ?? "/" });
  const nodeName = args["node-name"] ?? process.env.NODE_NAME ?? hostname();
  const agent = new Agent({
    registry: createCollectorRegistry(),
    env: { paths, now: Date.now, log },
    timers: realTimers,
    node: nodeName,
    stateDir: args["state-dir"] ?? process.env.AGENT_STATE_DIR ?? "/var/lib/vesmon",
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
    log.info({ applied: report.applied, ms: report.durationMs }, "configuration applied");
  };

  let stopSource: (() => void) | undefined;
  let flushStatus: (() => Promise<void>) | undefined;
  const cluster =
    !args.profile && process.env.NODE_NAME && (args.kubeconfig || process.env.KUBERNETES_SERVICE_HOST);
  if (cluster) {
    const { startClusterMode } = await import("./cluster.ts");
    const mode = startClusterMode({
      agent,
      apply,
      nodeName,
      ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
      agentVersion: VERSION,
      log,
    });
    stopSource = mode.stop;
    flushStatus = mode.flush;
  } else if (args.profile) {
    const source = new ProfileFileSource({ path: args.profile, timers: realTimers, log });
    const first = await source.read();
    if (!first.ok) {
      for (const e of first.errors) log.error({ source: e.source }, `profile refused: ${e.message}`);
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
  } else await apply([defaultProfile(paths)]);

  const server = buildServer(agent, metrics);
  const listen = args.listen ?? "127.0.0.1:9464";
  if (listen) {
    const at = listen.lastIndexOf(":");
    await server
      .listen({ host: listen.slice(0, at) || "0.0.0.0", port: Number(listen.slice(at + 1)) })
      .then((url) => log.info({ url }, "serving /healthz, /readyz and /metrics"))
      .catch((err: Error) =>
        log.warn({ listen, err: err.message }, "HTTP server not started; collecting anyway"),
      );
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
    await server.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return undefined;
}

const code = await main();
if (code !== undefined) process.exitCode = code;
