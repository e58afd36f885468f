import type { NodeMonitor } from "../api/v1alpha1/types.ts";
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
 * A NodeMonitor reduced to what reconciling reads: its metadata (labels, owner reference) without
 * managedFields, its status whole (the roll-ups read it), and of its spec the node, the configHash, the
 * omitted profiles and each profile's name and uid; what older operators embedded (generation, spec) is dropped.
 */
export function nodeMonitorForCache<T extends KubeObject>(o: T): T {
  const nm = withoutManagedFields(o) as unknown as NodeMonitor;
  if (!nm.spec) return nm as unknown as T;
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
  } as unknown as T;
}
