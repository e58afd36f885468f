import type { SchemaNode } from "../cel.ts";
import { createValidator, type Validator } from "../validate.ts";
import { MonitoringProfileSchema } from "./monitoring-profile.ts";
import { NodeMonitorSchema } from "./node-monitor.ts";
import type { MonitoringProfile, NodeMonitor } from "./types.ts";

/** Validates a MonitoringProfile (schema, list-map keys, CEL rules) and returns it with defaults applied. */
export const validateMonitoringProfile: Validator<MonitoringProfile> = createValidator(
  MonitoringProfileSchema as unknown as SchemaNode,
);

/** Validates a NodeMonitor and returns it with defaults applied. */
export const validateNodeMonitor: Validator<NodeMonitor> = createValidator(
  NodeMonitorSchema as unknown as SchemaNode,
);
