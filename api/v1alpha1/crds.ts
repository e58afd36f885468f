import type { SchemaNode } from "../cel.ts";
import { buildCrd, type CrdDescription } from "../crd.ts";
import { GROUP, MonitoringProfileSchema, VERSION } from "./monitoring-profile.ts";
import { NodeMonitorSchema } from "./node-monitor.ts";

const age = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" } as const;
const condition = (type: string) => `.status.conditions[?(@.type=="${type}")].status`;

/** The CRDs of vesmon.io/v1alpha1, as descriptions (the generator writes them to crds/). */
export const CRDS: CrdDescription[] = [
  {
    group: GROUP,
    version: VERSION,
    kind: "MonitoringProfile",
    plural: "monitoringprofiles",
    singular: "monitoringprofile",
    shortNames: ["mp"],
    categories: ["vesmon"],
    schema: MonitoringProfileSchema as unknown as SchemaNode,
    printerColumns: [
      {
        name: "Ready",
        type: "string",
        jsonPath: condition("Ready"),
        description: "Every selected node runs it.",
      },
      {
        name: "Selected",
        type: "integer",
        jsonPath: ".status.selectedNodes",
        description: "Nodes selected.",
      },
      {
        name: "Applied",
        type: "integer",
        jsonPath: ".status.appliedNodes",
        description: "Nodes running it.",
      },
      { name: "Degraded", type: "integer", jsonPath: ".status.degradedNodes", priority: 1 },
      age,
    ],
  },
  {
    group: GROUP,
    version: VERSION,
    kind: "NodeMonitor",
    plural: "nodemonitors",
    singular: "nodemonitor",
    shortNames: ["nm"],
    categories: ["vesmon"],
    schema: NodeMonitorSchema as unknown as SchemaNode,
    printerColumns: [
      {
        name: "Applied",
        type: "string",
        jsonPath: condition("Applied"),
        description: "The agent runs spec.",
      },
      {
        name: "Degraded",
        type: "string",
        jsonPath: condition("Degraded"),
        description: "A job or sink fails.",
      },
      { name: "Hash", type: "string", jsonPath: ".spec.configHash", priority: 1 },
      age,
    ],
  },
];

/** The CRD objects, built. */
export function crdObjects(): Record<string, unknown>[] {
  return CRDS.map(buildCrd);
}
