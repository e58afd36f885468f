import Type from "typebox";
import { CollectorSpec } from "./collectors.ts";
import {
  Conditions,
  Count,
  DnsSubdomain,
  Duration,
  LabelSelector,
  ListMap,
  ObjectMeta,
  StringEnum,
  Struct,
} from "./common.ts";
import { SinkSpec } from "./sinks.ts";

/** API group of every vesmon kind. */
export const GROUP = "vesmon.io";
/** The one served and stored version. */
export const VERSION = "v1alpha1";
/** `apiVersion` of vesmon objects. */
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Event settings: intervals, VES version, host or guest mode and naming. */
export const EventSettings = Struct(
  {
    measurementInterval: Type.Optional(
      Duration({
        description:
          "One VES measurement event per source (each VM, the host) per interval, aggregated over its samples.",
        default: "60s",
        min: "5s",
        max: "1h",
      }),
    ),
    heartbeatInterval: Type.Optional(
      Duration({ description: "Interval of VES heartbeat events.", default: "60s", min: "5s", max: "1h" }),
    ),
    vesVersion: Type.Optional(
      StringEnum(["7.2.1", "5.4.1"] as const, {
        description:
          "VES event listener version: 7.2.1 (schema 30.2.1, `/eventListener/v7`) or 5.4.1 for legacy collectors (`measurementsForVfScaling`, `/eventListener/v5`).",
        default: "7.2.1",
      }),
    ),
    mode: Type.Optional(
      StringEnum(["host", "guest"] as const, {
        description:
          "host: the agent runs on the hypervisor and reports the host (eventType hostOS) and each VM; guest: it runs inside a VM and reports that VM (eventType guestOS).",
        default: "host",
      }),
    ),
    naming: Type.Optional(
      Struct(
        {
          nfNamingCode: Type.Optional(
            Type.String({
              description: "commonEventHeader.nfNamingCode (VES suggests 4 characters).",
              maxLength: 64,
            }),
          ),
          nfcNamingCode: Type.Optional(
            Type.String({
              description: "commonEventHeader.nfcNamingCode (VES suggests 3 characters).",
              maxLength: 64,
            }),
          ),
          nfVendorName: Type.Optional(
            Type.String({ description: "commonEventHeader.nfVendorName.", maxLength: 128 }),
          ),
          eventNamePublisher: Type.Optional(
            Type.String({
              description:
                "PublisherName part of eventName (`{Domain}_{PublisherName}_{Description}`): `{product}-{vendor}`, CamelCase parts.",
              default: "Vesmon",
              pattern: "^[A-Za-z0-9:]+(-[A-Za-z0-9:]+)?$",
              maxLength: 128,
            }),
          ),
          reportingEntityName: Type.Optional(
            Type.String({
              description: "commonEventHeader.reportingEntityName; the node name when absent.",
              minLength: 1,
              maxLength: 253,
            }),
          ),
        },
        { title: "NamingSettings", default: {}, description: "Names written into every event's header." },
      ),
    ),
  },
  { title: "EventSettings", default: {}, description: "What events are produced and how often." },
);

/** A threshold on one metric that raises and clears VES faults, as collectd's threshold plugin does. */
export const ThresholdSpec = Struct(
  {
    metric: Type.String({
      description:
        "Metric to watch: `host.<collector>.<figure>` (e.g. `host.cpu.usage.percent`), `vm.<figure>` (e.g. `vm.cpu.percent`) or `cgroup.<figure>`.",
      pattern: "^(host\\.(cpu|memory|load|disk|interface)|vm|cgroup)(\\.[a-z0-9_]+)+$",
      maxLength: 128,
    }),
    warningMin: Type.Optional(Type.Number({ description: "Raise a WARNING/MINOR fault below this value." })),
    warningMax: Type.Optional(Type.Number({ description: "Raise a WARNING/MINOR fault above this value." })),
    failureMin: Type.Optional(Type.Number({ description: "Raise a CRITICAL/MAJOR fault below this value." })),
    failureMax: Type.Optional(Type.Number({ description: "Raise a CRITICAL/MAJOR fault above this value." })),
    hysteresis: Type.Optional(
      Type.Number({
        description: "A raised fault clears only once the value is back inside the bound by this much.",
        default: 0,
        minimum: 0,
      }),
    ),
    persist: Type.Optional(
      Type.Integer({
        description: "Consecutive samples beyond a bound before the fault is raised.",
        default: 1,
        minimum: 1,
        maximum: 100,
      }),
    ),
  },
  {
    title: "ThresholdSpec",
    description: "Bounds on a metric; crossing one raises a fault, coming back clears it with NORMAL.",
    rules: [
      {
        rule: "has(self.warningMin) || has(self.warningMax) || has(self.failureMin) || has(self.failureMax)",
        message: "set at least one of warningMin, warningMax, failureMin, failureMax",
      },
      {
        rule: "!has(self.warningMax) || !has(self.failureMax) || self.warningMax < self.failureMax",
        message: "warningMax must be less than failureMax",
        fieldPath: ".warningMax",
      },
      {
        rule: "!has(self.warningMin) || !has(self.failureMin) || self.warningMin > self.failureMin",
        message: "warningMin must be greater than failureMin",
        fieldPath: ".warningMin",
      },
      {
        rule: "!has(self.warningMin) || !has(self.warningMax) || self.warningMin < self.warningMax",
        message: "warningMin must be less than warningMax",
        fieldPath: ".warningMin",
      },
      {
        rule: "!has(self.failureMin) || !has(self.failureMax) || self.failureMin < self.failureMax",
        message: "failureMin must be less than failureMax",
        fieldPath: ".failureMin",
      },
    ],
  },
);

/** Switches for the fault events that do not come from thresholds. */
export const FaultSettings = Struct(
  {
    vmLifecycle: Type.Optional(
      Type.Boolean({
        description:
          "Raise faults when a VM crashes (CRITICAL), pauses (WARNING) or stops; clear when it runs.",
        default: true,
      }),
    ),
    collectorFailures: Type.Optional(
      Type.Boolean({
        description: "Raise a fault while a collector keeps failing; clear when it recovers.",
        default: true,
      }),
    ),
  },
  { title: "FaultSettings", default: {}, description: "Which fault events are raised besides thresholds." },
);

const collectorsProduce =
  "self.thresholds.all(t, t.metric.startsWith('vm.') ? self.collectors.exists(c, c.name == 'virt') : t.metric.startsWith('cgroup.') ? self.collectors.exists(c, c.name == 'cgroups') : self.collectors.exists(c, t.metric.startsWith('host.' + c.name + '.')))";

/** The fields every resolved profile carries; MonitoringProfile adds the node selector. */
const profileFields = {
  collectors: ListMap(CollectorSpec, ["name"], {
    description: "Collectors to run, each at most once (keyed by name).",
    minItems: 1,
    maxItems: 16,
  }),
  events: Type.Optional(EventSettings),
  thresholds: Type.Optional(
    ListMap(ThresholdSpec, ["metric"], {
      description: "Thresholds that raise faults, one per metric.",
      maxItems: 64,
    }),
  ),
  faults: Type.Optional(FaultSettings),
  sinks: ListMap(SinkSpec, ["name"], {
    description: "Where this profile's events go; at least one.",
    minItems: 1,
    maxItems: 8,
  }),
  applyPolicy: Type.Optional(
    StringEnum(["BestEffort", "Atomic"] as const, {
      description:
        "BestEffort: run what starts and retry what fails; Atomic: refuse the whole new configuration when any part fails to start, keeping the previous one.",
      default: "BestEffort",
    }),
  ),
};

const profileRules = [
  {
    rule: "self.collectors.all(c, duration(c.interval) <= duration(self.events.measurementInterval))",
    message: "every collector interval must be at most events.measurementInterval",
    fieldPath: ".collectors",
  },
  {
    rule: "self.sinks.all(s, !has(s.ves) || duration(s.ves.timeout) < duration(self.events.heartbeatInterval))",
    message: "a VES sink's timeout must be shorter than events.heartbeatInterval",
    fieldPath: ".sinks",
  },
  {
    rule: "self.sinks.filter(s, has(s.prometheus)).size() <= 1 && self.sinks.filter(s, has(s.stdout)).size() <= 1",
    message: "at most one prometheus sink and one stdout sink per profile",
    fieldPath: ".sinks",
  },
  {
    rule: `!has(self.thresholds) || ${collectorsProduce}`,
    message:
      "each threshold's metric needs the collector that produces it (vm.* needs virt, cgroup.* needs cgroups, host.<name>.* needs <name>)",
    fieldPath: ".thresholds",
  },
];

/** The desired state of a MonitoringProfile. */
export const MonitoringProfileSpec = Struct(
  {
    nodeSelector: Type.Optional(LabelSelector),
    ...profileFields,
  },
  {
    title: "MonitoringProfileSpec",
    description:
      "What to monitor on the selected nodes, how to turn it into VES events and where to send them.",
    rules: profileRules,
  },
);

/** A profile as resolved for one node (the NodeMonitor carries it): the spec without the node selector. */
export const ResolvedProfileSpec = Struct(profileFields, {
  title: "ResolvedProfileSpec",
  description: "A MonitoringProfile spec, defaults applied, as the agent runs it.",
  rules: profileRules,
});

/** A node the profile could not be applied on, with why. */
export const NodeFailure = Struct(
  {
    node: DnsSubdomain({ description: "Node name." }),
    reason: Type.String({ description: "CamelCase cause.", maxLength: 128 }),
    message: Type.String({ description: "What failed there.", maxLength: 1024 }),
  },
  { title: "NodeFailure", description: "Why the profile is not applied on one node." },
);

/** The observed state of a MonitoringProfile, written by the operator. */
export const MonitoringProfileStatus = Struct(
  {
    observedGeneration: Type.Optional(Count({ description: "The generation the operator last acted on." })),
    selectedNodes: Type.Optional(Count({ description: "Nodes the selector matches." })),
    appliedNodes: Type.Optional(
      Count({ description: "Selected nodes whose agent runs the current generation." }),
    ),
    degradedNodes: Type.Optional(Count({ description: "Selected nodes reporting a failed job or sink." })),
    conditions: Type.Optional(Conditions("Accepted, Ready, Progressing and Degraded.")),
    failures: Type.Optional(
      ListMap(NodeFailure, ["node"], { description: "Failing nodes, at most 20 listed.", maxItems: 20 }),
    ),
  },
  {
    title: "MonitoringProfileStatus",
    description: "Roll-up of the NodeMonitor statuses of the selected nodes.",
  },
);

/** The MonitoringProfile kind: the whole object. */
export const MonitoringProfileSchema = Struct(
  {
    apiVersion: Type.Literal(API_VERSION, { description: "Always `vesmon.io/v1alpha1`." }),
    kind: Type.Literal("MonitoringProfile", { description: "Always `MonitoringProfile`." }),
    metadata: ObjectMeta,
    spec: MonitoringProfileSpec,
    status: Type.Optional(MonitoringProfileStatus),
  },
  {
    title: "MonitoringProfile",
    description:
      "A cluster-scoped monitoring profile: collectors, events, thresholds and sinks, applied to the nodes its selector picks.",
  },
);
