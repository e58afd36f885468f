import { ProfileCondition, Reason } from "../api/v1alpha1/conditions.ts";
import { MAX_PROFILES_PER_NODE } from "../api/v1alpha1/node-monitor.ts";
import type {
  MonitoringProfile,
  MonitoringProfileStatus,
  NodeFailure,
  NodeMonitor,
} from "../api/v1alpha1/types.ts";
import { type Condition, findCondition, setCondition } from "../kube/conditions.ts";

/** The profile check's outcome, as `checkProfile` returns it (warnings are not needed here). */
export type Acceptance = { ok: true } | { ok: false; reason: string; message: string };

/** What the roll-up of one profile reads. */
export interface RollUpContext {
  /** Names of the nodes the profile's selector matches. */
  selectedNodes: readonly string[];
  /** NodeMonitors by node name; a selected node without one has not applied anything yet. */
  nodeMonitors: ReadonlyMap<string, NodeMonitor>;
  /** Outcome of the checks beyond the CRD. */
  accepted: Acceptance;
  /** The status written last time, whose condition transition times are kept; defaults to profile.status. */
  previous?: MonitoringProfileStatus;
  /** Time stamped on conditions that change status. */
  now: Date;
}

/** Most failing nodes listed in status.failures (the CRD's bound). */
export const MAX_FAILURES = 20;
/** Most failing nodes named in the Degraded message. */
export const MAX_NODES_IN_MESSAGE = 5;
const MAX_FAILURE_MESSAGE = 1024;
const MAX_FAILURE_REASON = 128;
const MAX_NODE_MESSAGE_IN_CONDITION = 300;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Whether the node runs this generation of the profile: the agent applied it within the current spec. */
function runsCurrent(nm: NodeMonitor | undefined, profile: string, generation: number | undefined): boolean {
  const status = nm?.status;
  if (!nm || !status?.configHash || status.configHash !== nm.spec.configHash) return false;
  const ps = status.profiles?.find((p) => p.name === profile);
  return ps?.state === "Applied" && ps.appliedGeneration === generation;
}

/** Whether the agent refused exactly what the NodeMonitor asks for now, so waiting will not help. */
function refusesCurrent(
  nm: NodeMonitor | undefined,
  profile: string,
  generation: number | undefined,
): boolean {
  const status = nm?.status;
  if (!nm || !status?.configHash || status.configHash !== nm.spec.configHash) return false;
  const ps = status.profiles?.find((p) => p.name === profile);
  // Agents report the generation they refused; older ones did not, and ran what the NodeMonitor embedded.
  const refused = ps?.observedGeneration ?? nm.spec.profiles?.find((p) => p.name === profile)?.generation;
  return ps?.state === "Refused" && refused === generation;
}

/**
 * Why the profile fails on a node, if it does. A refusal of this profile comes first. Otherwise a node whose
 * Degraded condition is True fails, with its failed jobs and failing sinks that belong to this profile; when
 * every failed job and sink there belongs to other profiles, this profile is not charged with them. A
 * Degraded node that lists no failed job or sink counts, with the condition's own reason and message.
 */
function nodeFailure(nm: NodeMonitor | undefined, profile: string): Omit<NodeFailure, "node"> | undefined {
  const status = nm?.status;
  if (!status) return undefined;
  const ps = status.profiles?.find((p) => p.name === profile);
  if (ps?.state === "Refused") {
    return { reason: Reason.ConfigRefused, message: ps.message ?? "the agent refused the profile" };
  }
  const degraded = findCondition(status.conditions, "Degraded");
  if (degraded?.status !== "True") return undefined;
  const jobs = (status.jobs ?? []).filter((j) => j.state === "Failed");
  const sinks = (status.sinks ?? []).filter((s) => s.state === "Failing");
  const myJobs = jobs.filter((j) => !j.profiles?.length || j.profiles.includes(profile));
  const mySinks = sinks.filter((s) => s.profile === profile);
  if (myJobs.length + mySinks.length > 0) {
    return {
      reason: myJobs.length > 0 ? Reason.JobsFailing : Reason.SinksFailing,
      message: [
        ...myJobs.map((j) => `job ${j.id}: ${j.lastError ?? "failed"}`),
        ...mySinks.map((s) => `sink ${s.name}: ${s.lastError ?? "failing"}`),
      ].join("; "),
    };
  }
  if (jobs.length + sinks.length > 0) return undefined;
  return { reason: degraded.reason, message: degraded.message };
}

/**
 * Rolls the NodeMonitor statuses of a profile's selected nodes up into its status, in the style of
 * kubernetes-nmstate ("k/n nodes applied"). A node is applied when its agent reports this profile
 * `Applied` at the profile's current generation under the NodeMonitor's current configHash; degraded
 * when it refused the profile or reports Degraded failures of it (see nodeFailure); pending when neither
 * applied nor refusing the current spec. Conditions, each with observedGeneration:
 * - Accepted: True `Valid`, or False with the check's reason and message.
 * - Ready: True `AllNodesApplied` when every selected node is applied; True `NoNodesSelected` with none
 *   selected (nothing is left to do, so `kubectl wait --for=condition=Ready` returns); False `NodesPending`
 *   or `NodesFailing` otherwise; False with the check's reason while the profile is not accepted.
 * - Progressing: True `NodesPending` while some node is pending, else False.
 * - Degraded: True `NodesFailing` naming up to five failing nodes, else False `AsExpected`.
 * lastTransitionTime is kept from the previous status while a condition keeps its status. failures lists
 * at most 20 failing nodes, sorted by name. Pure: the same input gives the same output.
 */
export function rollUpStatus(profile: MonitoringProfile, ctx: RollUpContext): MonitoringProfileStatus {
  const name = profile.metadata.name;
  const generation = profile.metadata.generation;
  const nodes = [...new Set(ctx.selectedNodes)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const n = nodes.length;
  let applied = 0;
  let pending = 0;
  const failures: NodeFailure[] = [];
  for (const node of nodes) {
    const nm = ctx.nodeMonitors.get(node);
    if (nm?.spec.omittedProfiles?.includes(name)) {
      // Left out of a full NodeMonitor: failing on that node until other profiles make room, not pending.
      failures.push({
        node,
        reason: Reason.TooManyProfiles,
        message: `more than ${MAX_PROFILES_PER_NODE} profiles select the node; the oldest ${MAX_PROFILES_PER_NODE} run and this one is left out`,
      });
      continue;
    }
    const runs = runsCurrent(nm, name, generation);
    if (runs) applied++;
    else if (!refusesCurrent(nm, name, generation)) pending++;
    const failure = nodeFailure(nm, name);
    if (failure) {
      failures.push({
        node,
        reason: clip(failure.reason, MAX_FAILURE_REASON),
        message: clip(failure.message, MAX_FAILURE_MESSAGE),
      });
    }
  }

  const gen = generation === undefined ? {} : { observedGeneration: generation };
  const ratio = `${applied}/${n} nodes applied`;
  const set: Omit<Condition, "lastTransitionTime">[] = [];
  const accepted = ctx.accepted;
  set.push(
    accepted.ok
      ? {
          type: ProfileCondition.Accepted,
          status: "True",
          reason: Reason.Valid,
          message: "profile accepted",
          ...gen,
        }
      : {
          type: ProfileCondition.Accepted,
          status: "False",
          reason: accepted.reason,
          message: accepted.message,
          ...gen,
        },
  );

  if (!accepted.ok) {
    const message = `${ratio}; the profile is not accepted: ${accepted.reason}`;
    set.push({ type: ProfileCondition.Ready, status: "False", reason: accepted.reason, message, ...gen });
    set.push({
      type: ProfileCondition.Progressing,
      status: "False",
      reason: accepted.reason,
      message,
      ...gen,
    });
  } else if (n === 0) {
    const message = "0 nodes selected";
    set.push({
      type: ProfileCondition.Ready,
      status: "True",
      reason: Reason.NoNodesSelected,
      message,
      ...gen,
    });
    set.push({
      type: ProfileCondition.Progressing,
      status: "False",
      reason: Reason.NoNodesSelected,
      message,
      ...gen,
    });
  } else if (applied === n) {
    set.push({
      type: ProfileCondition.Ready,
      status: "True",
      reason: Reason.AllNodesApplied,
      message: ratio,
      ...gen,
    });
    set.push({
      type: ProfileCondition.Progressing,
      status: "False",
      reason: Reason.AllNodesApplied,
      message: ratio,
      ...gen,
    });
  } else if (pending > 0) {
    const message = `${ratio}, ${pending} pending`;
    set.push({ type: ProfileCondition.Ready, status: "False", reason: Reason.NodesPending, message, ...gen });
    set.push({
      type: ProfileCondition.Progressing,
      status: "True",
      reason: Reason.NodesPending,
      message,
      ...gen,
    });
  } else {
    const message = `${ratio}, ${n - applied} refused`;
    set.push({ type: ProfileCondition.Ready, status: "False", reason: Reason.NodesFailing, message, ...gen });
    set.push({
      type: ProfileCondition.Progressing,
      status: "False",
      reason: Reason.NodesFailing,
      message,
      ...gen,
    });
  }

  if (failures.length > 0) {
    const named = failures
      .slice(0, MAX_NODES_IN_MESSAGE)
      .map((f) => `${f.node}: ${clip(f.message, MAX_NODE_MESSAGE_IN_CONDITION)}`);
    if (failures.length > MAX_NODES_IN_MESSAGE)
      named.push(`…and ${failures.length - MAX_NODES_IN_MESSAGE} more`);
    set.push({
      type: ProfileCondition.Degraded,
      status: "True",
      reason: Reason.NodesFailing,
      message: `${failures.length}/${n} nodes failing: ${named.join("; ")}`,
      ...gen,
    });
  } else {
    set.push({
      type: ProfileCondition.Degraded,
      status: "False",
      reason: Reason.AsExpected,
      message: "no failing nodes",
      ...gen,
    });
  }

  let conditions: Condition[] = [...((ctx.previous ?? profile.status)?.conditions ?? [])];
  for (const c of set) conditions = setCondition(conditions, c, ctx.now);
  return {
    ...gen,
    selectedNodes: n,
    appliedNodes: applied,
    degradedNodes: failures.length,
    conditions,
    failures: failures.slice(0, MAX_FAILURES),
  };
}
