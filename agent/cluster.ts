import { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { realTimers } from "../kube/timers.ts";
import type { Agent } from "./agent.ts";
import { type NodeMonitorConfig, NodeMonitorSource } from "./config/node-monitor-source.ts";
import type { PipelineProfile } from "./pipeline/profile-pipeline.ts";
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
}

/**
 * The agent in a cluster: runs its node's NodeMonitor and reports in its status. Kept apart from main so the
 * Kubernetes client (tens of MiB once loaded) is only loaded when the agent runs in a cluster.
 */
export function startClusterMode(opts: ClusterModeOptions): { stop: () => void; flush: () => Promise<void> } {
  const { agent, log, nodeName } = opts;
  const kubeConfig = new KubeConfig();
  if (opts.kubeconfig) kubeConfig.loadFromFile(opts.kubeconfig);
  else kubeConfig.loadFromCluster();
  const source = new NodeMonitorSource({ kubeConfig, nodeName, timers: realTimers, log });
  const writer = new StatusWriter({ kubeConfig, nodeName, timers: realTimers, log });
  let seen: NodeMonitorConfig | undefined;
  let running: { generation: number; configHash: string } | undefined;
  let previous: ReturnType<typeof renderStatus> | undefined;
  // No NodeMonitor, no status to write (the node is not selected); the next one that appears gets it.
  const report = () => {
    if (source.current() === undefined) return;
    writer.request(() => {
      previous = renderStatus({
        generation: seen?.generation ?? 0,
        ...(running ? { configHash: running.configHash } : {}),
        agentVersion: opts.agentVersion,
        agent: agent.status(),
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
    void opts.apply(config.profiles).then(() => {
      running = { generation: config.generation, configHash: config.configHash };
      report();
    });
  });
  const periodic = setInterval(report, 10_000);
  periodic.unref();
  log.info({ node: nodeName }, "cluster mode: watching this node's NodeMonitor");
  return {
    stop: () => {
      clearInterval(periodic);
      source.stop();
    },
    flush: async () => {
      report();
      await writer.flush();
      writer.stop();
    },
  };
}
