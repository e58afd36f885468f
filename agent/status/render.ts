import { NodeMonitorCondition, Reason } from "../../api/v1alpha1/conditions.ts";
import type { NodeMonitorStatus } from "../../api/v1alpha1/types.ts";
import { type Condition, setCondition } from "../../kube/conditions.ts";
import type { AgentStatus } from "../agent.ts";

/** What the status is rendered from. */
export interface StatusInput {
  /** NodeMonitor metadata.generation the agent acted on. */
  generation: number;
  /** spec.configHash of the configuration the agent runs. */
  configHash?: string;
  agentVersion: string;
  agent: AgentStatus;
  /** Why the latest NodeMonitor spec could not even be read (validation), if so. */
  refused?: string;
  /** Profiles that select the node but were left out of its NodeMonitor (too many). */
  omittedProfiles?: readonly string[];
  previous?: NodeMonitorStatus;
  now: Date;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const clip = (s: string, n = 1024) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const MAX_LISTED = 5;

/** Renders NodeMonitor.status from the agent's state (pure): per profile, job and sink, and Applied/Degraded. */
export function renderStatus(input: StatusInput): NodeMonitorStatus {
  const { agent, now, generation } = input;
  const refusedProfiles = agent.profiles.filter((p) => p.state === "Refused");
  const failedJobs = agent.jobs.filter((j) => j.state === "Failed");
  const failingSinks = agent.sinks.filter((s) => s.state === "Failing" || s.state === "Retrying");
  const list = (items: string[]) =>
    items.slice(0, MAX_LISTED).join("; ") +
    (items.length > MAX_LISTED ? `; and ${items.length - MAX_LISTED} more` : "");
  const applied = input.refused
    ? { status: "False" as const, reason: Reason.ConfigRefused, message: clip(input.refused, 4096) }
    : refusedProfiles.length
      ? {
          status: "False" as const,
          reason: Reason.ConfigRefused,
          message: clip(refusedProfiles.map((p) => `${p.name}: ${p.message ?? "refused"}`).join("; "), 4096),
        }
      : {
          status: "True" as const,
          reason: Reason.ConfigApplied,
          message: `${agent.profiles.length} profile(s) applied`,
        };
  const degraded = failedJobs.length
    ? {
        status: "True" as const,
        reason: Reason.JobsFailing,
        message: clip(list(failedJobs.map((j) => `job ${j.id}: ${j.lastError ?? "failed"}`))),
      }
    : failingSinks.length
      ? {
          status: "True" as const,
          reason: Reason.SinksFailing,
          message: clip(
            list(failingSinks.map((s) => `sink ${s.profile}/${s.name}: ${s.lastError ?? s.state}`)),
          ),
        }
      : input.omittedProfiles?.length
        ? {
            status: "True" as const,
            reason: Reason.TooManyProfiles,
            message: clip(
              `more profiles select this node than its NodeMonitor holds; left out: ${list([...input.omittedProfiles])}`,
            ),
          }
        : { status: "False" as const, reason: Reason.AsExpected, message: "all jobs and sinks work" };
  let conditions: Condition[] = (input.previous?.conditions ?? []) as Condition[];
  conditions = setCondition(
    conditions,
    { type: NodeMonitorCondition.Applied, ...applied, observedGeneration: generation },
    now,
  );
  conditions = setCondition(
    conditions,
    { type: NodeMonitorCondition.Degraded, ...degraded, observedGeneration: generation },
    now,
  );

  return {
    observedGeneration: generation,
    ...(input.configHash ? { configHash: input.configHash } : {}),
    agentVersion: input.agentVersion,
    profiles: agent.profiles.map((p) => ({
      name: p.name,
      state: p.state,
      ...(p.appliedGeneration !== undefined ? { appliedGeneration: p.appliedGeneration } : {}),
      ...(p.observedGeneration !== undefined ? { observedGeneration: p.observedGeneration } : {}),
      ...(p.message ? { message: clip(p.message, 4096) } : {}),
    })),
    jobs: agent.jobs.slice(0, 128).map((j) => ({
      id: j.id,
      collector: j.collector as NonNullable<NodeMonitorStatus["jobs"]>[number]["collector"],
      interval: `${j.intervalMs / 1000}s`,
      profiles: j.profiles,
      state: j.state,
      ...(j.lastSuccessTime !== undefined ? { lastSuccessTime: iso(j.lastSuccessTime) } : {}),
      ...(j.lastErrorTime !== undefined ? { lastErrorTime: iso(j.lastErrorTime) } : {}),
      ...(j.lastError ? { lastError: clip(j.lastError, 4096) } : {}),
    })),
    sinks: agent.sinks.slice(0, 128).map((s) => ({
      profile: s.profile,
      name: s.name,
      kind: s.kind,
      state: s.state,
      ...(s.target ? { target: s.target } : {}),
      queued: s.queued,
      queuedBytes: s.queuedBytes,
      delivered: s.delivered,
      dropped: s.dropped,
      ...(s.lastDeliveryTime ? { lastDeliveryTime: s.lastDeliveryTime } : {}),
      ...(s.lastErrorTime ? { lastErrorTime: s.lastErrorTime } : {}),
      ...(s.lastError ? { lastError: clip(s.lastError, 4096) } : {}),
    })),
    conditions,
  } as NodeMonitorStatus;
}

/** The status without timestamps and counters that move every collection: equal means nothing worth writing. */
export function statusFingerprint(s: NodeMonitorStatus): string {
  return JSON.stringify(s, (k, v) =>
    /Time$/.test(k) || ["queued", "queuedBytes", "delivered"].includes(k) ? undefined : v,
  );
}
