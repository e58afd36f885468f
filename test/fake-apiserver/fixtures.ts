import type { K8sObject } from "./types.ts";

/** Group, version and plurals of the vesmon kinds, as CustomObjectsApi wants them. */
export const MP = { group: "vesmon.io", version: "v1alpha1", plural: "monitoringprofiles" } as const;
export const NM = { group: "vesmon.io", version: "v1alpha1", plural: "nodemonitors" } as const;

/** A valid MonitoringProfile (one collector, one stdout sink). */
export function profile(name: string, labels?: Record<string, string>): K8sObject {
  return {
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name, ...(labels ? { labels } : {}) },
    spec: {
      collectors: [{ name: "cpu", interval: "10s" }],
      sinks: [{ name: "console", stdout: {} }],
    },
  };
}

/** A valid NodeMonitor for a node. */
export function nodeMonitor(node: string): K8sObject {
  return {
    apiVersion: "vesmon.io/v1alpha1",
    kind: "NodeMonitor",
    metadata: { name: node },
    spec: {
      nodeName: node,
      configHash: "sha256:3f2a9c0d4b5e6f708192a3b4c5d6e7f8",
      profiles: [
        {
          name: "local",
          generation: 1,
          spec: { collectors: [{ name: "cpu" }], sinks: [{ name: "console", stdout: {} }] },
        },
      ],
    },
  };
}

/** A Node. */
export function node(name: string, labels?: Record<string, string>): K8sObject {
  return { apiVersion: "v1", kind: "Node", metadata: { name, ...(labels ? { labels } : {}) } };
}

/** Resolves when `cond` holds, polling every 5 ms; rejects after `ms`. */
export async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
