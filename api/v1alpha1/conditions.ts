/** Condition types of MonitoringProfile. */
export const ProfileCondition = {
  /** The profile passed the operator's checks beyond the CRD (Secrets exist, metrics known, sinks usable). */
  Accepted: "Accepted",
  /** Every selected node runs the current generation. */
  Ready: "Ready",
  /** A new generation is rolling out. */
  Progressing: "Progressing",
  /** Some selected nodes report failures; the message names them. */
  Degraded: "Degraded",
} as const;

/** Condition types of NodeMonitor. */
export const NodeMonitorCondition = {
  /** The agent applied spec.configHash. */
  Applied: "Applied",
  /** A job or sink on the node is failing. */
  Degraded: "Degraded",
} as const;

/** Reasons, CamelCase causes shared by both kinds. */
export const Reason = {
  Valid: "Valid",
  Invalid: "Invalid",
  SecretMissing: "SecretMissing",
  AllNodesApplied: "AllNodesApplied",
  NodesPending: "NodesPending",
  NoNodesSelected: "NoNodesSelected",
  NodesFailing: "NodesFailing",
  AsExpected: "AsExpected",
  ConfigApplied: "ConfigApplied",
  ConfigRefused: "ConfigRefused",
  JobsFailing: "JobsFailing",
  SinksFailing: "SinksFailing",
  /** More profiles select the node than one NodeMonitor holds; the newest are left out. */
  TooManyProfiles: "TooManyProfiles",
} as const;
