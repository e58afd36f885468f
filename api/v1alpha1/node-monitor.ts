import Type from "typebox";
import { COLLECTOR_NAMES } from "./collectors.ts";
import {
  Conditions,
  Count,
  DnsLabel,
  DnsSubdomain,
  ListMap,
  ObjectMeta,
  StringEnum,
  StringSet,
  Struct,
  Timestamp,
} from "./common.ts";
import { API_VERSION, ResolvedProfileSpec } from "./monitoring-profile.ts";

/** Most profiles one NodeMonitor holds. */
export const MAX_PROFILES_PER_NODE = 16;

/** States of a collector job, as the agent reports them. */
export const JOB_STATES = ["Pending", "Running", "Failed", "Stopped"] as const;
/** States of a sink, as the agent reports them. */
export const SINK_STATES = ["Pending", "Ready", "Retrying", "Failing", "Stopped"] as const;

/**
 * One profile selecting the node, named by the operator. The agent reads the profile itself (its spec at the
 * generation the operator accepted), so a profile edit writes no NodeMonitor. `generation` and `spec` are what
 * operators before the carrier redesign embedded; they are kept optional so those objects still validate, and
 * an agent that finds `spec` runs it as before (docs/operations.md, "Upgrading to profile references").
 */
export const NodeProfile = Struct(
  {
    name: DnsSubdomain({ description: "Name of the MonitoringProfile." }),
    uid: Type.Optional(
      Type.String({
        description:
          "metadata.uid of the MonitoringProfile, so a profile deleted and created again under the same name is a different profile.",
        maxLength: 128,
      }),
    ),
    generation: Type.Optional(
      Count({
        description: "Deprecated: written by older operators, the generation of the embedded spec.",
      }),
    ),
    // Deprecated: older operators embedded the resolved profile here; current ones name the profile only.
    spec: Type.Optional(ResolvedProfileSpec),
  },
  { title: "NodeProfile", description: "A profile that selects this node." },
);

/** The desired agent configuration of one node; written only by the operator, with server-side apply. */
export const NodeMonitorSpec = Struct(
  {
    nodeName: DnsSubdomain({ description: "The node this configuration is for (also the object's name)." }),
    configHash: Type.String({
      description: "Hash of the profiles below (names and uids); the agent reports the hash it applied.",
      pattern: "^[a-z0-9]+:[0-9a-f]{8,128}$",
      maxLength: 160,
    }),
    profiles: Type.Optional(
      ListMap(NodeProfile, ["name"], {
        description: "Profiles selecting this node, keyed by name.",
        maxItems: MAX_PROFILES_PER_NODE,
      }),
    ),
    omittedProfiles: Type.Optional(
      StringSet({
        description: `Profiles that select this node but are left out: at most ${MAX_PROFILES_PER_NODE} fit, the oldest first. The agent reports them in Degraded.`,
        maxItems: 1024,
      }),
    ),
  },
  { title: "NodeMonitorSpec", description: "The effective monitoring configuration of one node." },
);

/** What the agent applied of one profile. */
export const ProfileStatus = Struct(
  {
    name: DnsSubdomain({ description: "Name of the MonitoringProfile." }),
    appliedGeneration: Type.Optional(Count({ description: "The profile generation the agent runs." })),
    observedGeneration: Type.Optional(
      Count({
        description:
          "The profile generation the agent last considered: the one it applied, refused or waits on.",
      }),
    ),
    state: StringEnum(["Pending", "Applied", "Refused"] as const, {
      description:
        "Applied, waiting to be applied, or refused (the previous generation keeps running, if any).",
    }),
    message: Type.Optional(
      Type.String({ description: "Why it was refused, naming the field.", maxLength: 4096 }),
    ),
  },
  { title: "ProfileStatus", description: "The agent's view of one profile." },
);

/** One collector job on the node: a collector with its settings and interval, shared by the profiles asking for it. */
export const JobStatus = Struct(
  {
    id: Type.String({
      description: "Stable hash of the collector, its settings and interval.",
      maxLength: 128,
    }),
    collector: StringEnum(COLLECTOR_NAMES, { description: "The collector the job runs." }),
    interval: Type.String({ description: "The job's interval.", maxLength: 32 }),
    profiles: Type.Optional(
      Type.Array(Type.String({ maxLength: 253 }), {
        description: "Profiles sharing the job.",
        maxItems: 16,
        "x-kubernetes-list-type": "set",
      }),
    ),
    state: StringEnum(JOB_STATES, {
      description: "Pending, Running, Failed (retried with backoff) or Stopped.",
    }),
    lastSuccessTime: Type.Optional(Timestamp({ description: "End of the last successful collection." })),
    lastErrorTime: Type.Optional(Timestamp({ description: "When the last error happened." })),
    lastError: Type.Optional(Type.String({ description: "The last error.", maxLength: 4096 })),
  },
  { title: "JobStatus", description: "State of one collector job." },
);

/** One sink of one profile. */
export const SinkStatus = Struct(
  {
    profile: DnsSubdomain({ description: "Profile the sink belongs to." }),
    name: DnsLabel({ description: "Sink name within the profile." }),
    kind: StringEnum(["ves", "prometheus", "stdout"] as const, { description: "Kind of sink." }),
    state: StringEnum(SINK_STATES, { description: "Pending, Ready, Retrying, Failing or Stopped." }),
    target: Type.Optional(
      StringEnum(["primary", "backup"] as const, { description: "VES: the collector currently sent to." }),
    ),
    queued: Type.Optional(Count({ description: "Events waiting in the spool." })),
    queuedBytes: Type.Optional(Count({ description: "Bytes the spool holds." })),
    delivered: Type.Optional(Count({ description: "Events delivered since the agent started." })),
    dropped: Type.Optional(
      Count({ description: "Events dropped (spool full or too old, or refused with a 4xx)." }),
    ),
    lastDeliveryTime: Type.Optional(Timestamp({ description: "When events were last accepted." })),
    lastErrorTime: Type.Optional(Timestamp({ description: "When the last error happened." })),
    lastError: Type.Optional(Type.String({ description: "The last error.", maxLength: 4096 })),
  },
  { title: "SinkStatus", description: "State of one sink." },
);

/** What the agent runs on the node; written only by the agent, through the status subresource. */
export const NodeMonitorStatus = Struct(
  {
    observedGeneration: Type.Optional(
      Count({ description: "The NodeMonitor generation the agent last acted on." }),
    ),
    configHash: Type.Optional(
      Type.String({ description: "spec.configHash of the applied configuration.", maxLength: 160 }),
    ),
    agentVersion: Type.Optional(Type.String({ description: "Version of the agent.", maxLength: 64 })),
    profiles: Type.Optional(ListMap(ProfileStatus, ["name"], { description: "Per profile.", maxItems: 16 })),
    jobs: Type.Optional(ListMap(JobStatus, ["id"], { description: "Per collector job.", maxItems: 128 })),
    sinks: Type.Optional(
      ListMap(SinkStatus, ["profile", "name"], { description: "Per sink.", maxItems: 128 }),
    ),
    conditions: Type.Optional(Conditions("Applied and Degraded.")),
  },
  { title: "NodeMonitorStatus", description: "The agent's report for its node." },
);

/** The NodeMonitor kind: the whole object, named after its node. */
export const NodeMonitorSchema = Struct(
  {
    apiVersion: Type.Literal(API_VERSION, { description: "Always `vesmon.io/v1alpha1`." }),
    kind: Type.Literal("NodeMonitor", { description: "Always `NodeMonitor`." }),
    metadata: ObjectMeta,
    spec: NodeMonitorSpec,
    status: Type.Optional(NodeMonitorStatus),
  },
  {
    title: "NodeMonitor",
    description:
      "The monitoring configuration of one node, rendered by the operator from the profiles that select it, and the agent's report.",
    rules: [
      {
        rule: "self.metadata.name == self.spec.nodeName",
        message: "a NodeMonitor is named after its node: metadata.name must equal spec.nodeName",
        fieldPath: ".spec.nodeName",
      },
    ],
  },
);
