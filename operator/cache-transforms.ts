import type { NodeMonitor, NodeMonitorStatus } from "../api/v1alpha1/types.ts";
import type { KubeObject } from "../kube/reflector.ts";

/*
 * What the operator's informers keep of each object (client-go's SetTransform). At 5000 nodes the caches
 * hold 5000 Nodes and 5000 NodeMonitors; most of their bytes are read by no reconcile: managedFields (one
 * entry per field manager, often as large as the object), and, in NodeMonitors older operators wrote, the
 * embedded profile specs (up to 16 per node), of which reconciling compares only the configHash and names.
 */

/** An object's metadata as the API server sends it; only managedFields is touched. */
interface Meta {
  name: string;
  managedFields?: unknown;
  [key: string]: unknown;
}

/** The object without `metadata.managedFields`; everything else as it came. */
export function withoutManagedFields<T extends KubeObject>(o: T): T {
  const { managedFields: _dropped, ...metadata } = o.metadata as Meta;
  return { ...o, metadata } as unknown as T;
}

/** What rendering reads of a Node: name, uid, labels (and resourceVersion, which the informer tracks). */
export interface CachedNode extends KubeObject {
  metadata: { name: string; uid?: string; labels?: Record<string, string>; resourceVersion?: string };
}

/** A Node reduced to what rendering reads, whatever the server sent (a whole Node or its metadata). */
export function nodeForCache(o: CachedNode): CachedNode {
  const { name, uid, labels, resourceVersion } = o.metadata;
  return {
    metadata: {
      name,
      ...(uid !== undefined ? { uid } : {}),
      ...(labels !== undefined ? { labels } : {}),
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    },
  };
}

/**
 * What the roll-ups read of a NodeMonitor's status (rollup.ts): the configHash, the per-profile reports, the
 * conditions, and of the jobs and sinks only the failing ones (their ids, profiles and last errors). A healthy
 * node's running jobs and ready sinks, with their times and counters, are most of a status and read by nothing.
 */
function statusForCache(status: NodeMonitorStatus): NodeMonitorStatus {
  const { jobs, sinks, ...rest } = status;
  const failedJobs = jobs?.filter((j) => j.state === "Failed");
  const failingSinks = sinks?.filter((x) => x.state === "Failing");
  return {
    ...rest,
    ...(failedJobs?.length ? { jobs: failedJobs } : {}),
    ...(failingSinks?.length ? { sinks: failingSinks } : {}),
  };
}

/**
 * A NodeMonitor reduced to what reconciling reads: its metadata (labels, owner reference) without
 * managedFields, of its status what the roll-ups read (statusForCache), and of its spec the node, the
 * configHash, the omitted profiles and each profile's name and uid; what older operators embedded
 * (generation, spec) is dropped.
 */
export function nodeMonitorForCache<T extends KubeObject>(o: T): T {
  const nm = withoutManagedFields(o) as unknown as NodeMonitor;
  const status = nm.status ? { status: statusForCache(nm.status) } : {};
  if (!nm.spec) return { ...nm, ...status } as unknown as T;
  const { nodeName, configHash, profiles, omittedProfiles } = nm.spec;
  return {
    ...nm,
    spec: {
      nodeName,
      configHash,
      ...(profiles
        ? { profiles: profiles.map((p) => (p.uid ? { name: p.name, uid: p.uid } : { name: p.name })) }
        : {}),
      ...(omittedProfiles ? { omittedProfiles } : {}),
    },
    ...status,
  } as unknown as T;
}
