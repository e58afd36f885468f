import type { Logger } from "pino";
import { KubeRestClient } from "../kube/rest-client.ts";
import { loadRestConfig } from "../kube/rest-config.ts";
import { realTimers } from "../kube/timers.ts";
import type { Agent } from "./agent.ts";
import { type ClusterConfig, ClusterConfigSource, type Validate } from "./config/cluster-config.ts";
import { IsolatedValidator } from "./config/isolated-validator.ts";
import type { PipelineProfile } from "./pipeline/profile-pipeline.ts";
import { profileReports } from "./status/profile-reports.ts";
import { renderStatus } from "./status/render.ts";
import { StatusWriter } from "./status/writer.ts";

/** What cluster mode needs from main. */
export interface ClusterModeOptions {
  agent: Agent;
  apply: (profiles: PipelineProfile[]) => Promise<void>;
  nodeName: string;
  /** A kubeconfig file; the pod's service account when absent. */
  kubeconfig?: string;
  agentVersion: string;
  log: Logger;
  /** Where validation runs; defaults to one worker per process shared by its agents (see IsolatedValidator). */
  validate?: Validate;
}

let shared: IsolatedValidator | undefined;
/** One validator per process: agents in one process (bench/agent-fleet.ts) share its worker. */
const sharedValidate: Validate = (request) => {
  shared ??= new IsolatedValidator();
  return shared.validate(request);
};

/**
 * The agent in a cluster: runs what its node's NodeMonitor names, each profile at the generation the operator
 * accepted, and reports in the NodeMonitor's status. Kept apart from main so that nothing of the cluster
 * (reflectors, the API client) is loaded when the agent runs standalone.
 */
export async function startClusterMode(
  opts: ClusterModeOptions,
): Promise<{ stop: () => void; flush: () => Promise<void> }> {
  const { agent, log, nodeName } = opts;
  const api = new KubeRestClient(await loadRestConfig(opts.kubeconfig));
  const source = new ClusterConfigSource({
    api,
    nodeName,
    timers: realTimers,
    log,
    validate: opts.validate ?? sharedValidate,
  });
  const writer = new StatusWriter({ api, nodeName, timers: realTimers, log });
  let seen: ClusterConfig | undefined;
  let running: (ClusterConfig & { ok: true }) | undefined;
  let previous: ReturnType<typeof renderStatus> | undefined;
  let statusOf: string | undefined;
  // No NodeMonitor, no status to write (the node is not selected); the next one that appears gets it.
  const report = () => {
    const nm = source.current();
    if (nm === undefined) return;
    // A NodeMonitor deleted and created again (the node left the selection and came back) starts with no
    // status, while what the agent reports may equal what it wrote to the old one.
    if (nm.metadata.uid !== statusOf) {
      statusOf = nm.metadata.uid;
      writer.forget();
    }
    writer.request(() => {
      const status = agent.status();
      previous = renderStatus({
        generation: seen?.generation ?? 0,
        ...(running ? { configHash: running.configHash } : {}),
        agentVersion: opts.agentVersion,
        agent: running
          ? { ...status, profiles: profileReports(status.profiles, running.profiles, running.notes) }
          : status,
        ...(seen && !seen.ok ? { refused: seen.message } : {}),
        ...(seen?.ok && seen.omittedProfiles ? { omittedProfiles: seen.omittedProfiles } : {}),
        ...(previous ? { previous } : {}),
        now: new Date(),
      });
      return previous;
    });
  };
  source.start((config) => {
    seen = config;
    if (!config.ok) {
      log.error(
        { generation: config.generation },
        `NodeMonitor refused, the running configuration stays: ${config.message}`,
      );
      report();
      return;
    }
    for (const n of config.notes)
      if (n.state === "Refused")
        log.error({ profile: n.name, generation: n.observedGeneration }, `profile refused: ${n.message}`);
    void opts.apply(config.profiles).then(() => {
      running = config;
      report();
    });
  });
  const periodic = setInterval(report, 10_000);
  periodic.unref();
  log.info({ node: nodeName }, "cluster mode: watching this node's NodeMonitor and the MonitoringProfiles");
  return {
    stop: () => {
      clearInterval(periodic);
      source.stop();
    },
    flush: async () => {
      report();
      await writer.flush();
      writer.stop();
      api.close();
    },
  };
}
