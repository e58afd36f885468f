import { createHash } from "node:crypto";
import { API_VERSION } from "../api/v1alpha1/monitoring-profile.ts";
import { MAX_PROFILES_PER_NODE } from "../api/v1alpha1/node-monitor.ts";
import type { MonitoringProfileSpec, NodeMonitor, NodeProfile } from "../api/v1alpha1/types.ts";
import { matchesSelector } from "./selector.ts";

/** Label on every object the operator manages (`app.kubernetes.io/managed-by`). */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
/** Value of the managed-by label. */
export const MANAGED_BY = "vesmon-operator";
/** Label naming the node a NodeMonitor is for. */
export const NODE_LABEL = "vesmon.io/node";

/**
 * What rendering needs of a MonitoringProfile: its name and uid (what a NodeMonitor names), and its generation
 * and (validated, defaulted) spec, which decide the nodes it selects and when it changed.
 */
export interface ProfileInput {
  name: string;
  uid?: string;
  generation: number;
  spec: MonitoringProfileSpec;
  /** metadata.creationTimestamp: when more profiles select a node than fit, the oldest are kept. */
  created?: string;
}

/** What rendering needs of a Node. */
export interface NodeInput {
  name: string;
  uid: string;
  labels?: Record<string, string>;
}

/**
 * JSON with object keys sorted at every level and `undefined` members left out, so equal values always
 * give equal text whatever order their keys were built in. Array order is kept: it is meaningful.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** `sha256:` and the hex SHA-256 of the canonical JSON of a value. */
export function contentHash(value: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  // Code-point order, not localeCompare: the hash must not depend on the process locale.
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// Label values are at most 63 characters; node names may be DNS subdomains up to 253.
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * The NodeMonitor the operator applies (server-side apply, its own field manager) for one node: the names
 * (and uids) of the profiles selecting it, sorted by name, and `configHash` over exactly that list
 * (`sha256:<hex>` of its canonical JSON). No spec is embedded: the agent reads each profile at the generation
 * the operator accepted, so a profile edit leaves every NodeMonitor as it is, and the hash changes only with
 * the set of profiles (a selection change, or a profile deleted and created again). The owner reference to the Node lets the garbage collector delete the
 * NodeMonitor with its node; blockOwnerDeletion is false so the operator needs no rights on Node
 * finalizers. The `vesmon.io/node` label is left out for node names that are not valid label values
 * (longer than 63 characters); the object's name is the node name anyway.
 */
export function renderNodeMonitor(node: NodeInput, profiles: readonly ProfileInput[]): NodeMonitor {
  // At most MAX_PROFILES_PER_NODE fit (the CRD's bound): the oldest are kept, and the rest are named in
  // omittedProfiles, so the apply succeeds and the agent and the profiles' status report the omission.
  const byAge = [...profiles].sort(
    (a, b) => (a.created ?? "").localeCompare(b.created ?? "") || byName(a, b),
  );
  const kept = byAge.slice(0, MAX_PROFILES_PER_NODE);
  const omitted = byAge
    .slice(MAX_PROFILES_PER_NODE)
    .map((p) => p.name)
    .sort();
  const list: NodeProfile[] = kept
    .sort(byName)
    .map((p) => (p.uid ? { name: p.name, uid: p.uid } : { name: p.name }));
  const labels: Record<string, string> = { [MANAGED_BY_LABEL]: MANAGED_BY };
  if (node.name.length <= 63 && LABEL_VALUE.test(node.name)) labels[NODE_LABEL] = node.name;
  return {
    apiVersion: API_VERSION,
    kind: "NodeMonitor",
    metadata: {
      name: node.name,
      labels,
      ownerReferences: [
        {
          apiVersion: "v1",
          kind: "Node",
          name: node.name,
          uid: node.uid,
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      nodeName: node.name,
      configHash: contentHash(omitted.length > 0 ? { profiles: list, omittedProfiles: omitted } : list),
      profiles: list,
      ...(omitted.length > 0 ? { omittedProfiles: omitted } : {}),
    },
  };
}

/**
 * Which profiles select which node: node name to the sorted names of the profiles whose nodeSelector
 * matches its labels. Nodes no profile selects are left out. Entries are in node-name order.
 */
export function selectNodes(
  profiles: readonly ProfileInput[],
  nodes: readonly NodeInput[],
): Map<string, string[]> {
  const sortedProfiles = [...profiles].sort(byName);
  const out = new Map<string, string[]>();
  for (const node of [...nodes].sort(byName)) {
    const names = sortedProfiles
      .filter((p) => matchesSelector(p.spec.nodeSelector, node.labels ?? {}))
      .map((p) => p.name);
    if (names.length > 0) out.set(node.name, names);
  }
  return out;
}

/** The NodeMonitor one node should have, or undefined when no profile selects it. */
export function desiredNodeMonitor(
  profiles: readonly ProfileInput[],
  node: NodeInput,
): NodeMonitor | undefined {
  const selecting = profiles.filter((p) => matchesSelector(p.spec.nodeSelector, node.labels ?? {}));
  return selecting.length > 0 ? renderNodeMonitor(node, selecting) : undefined;
}

/** What of a profile its NodeMonitors depend on: which nodes it selects, its uid and its age (for the bound). */
function renderKey(p: ProfileInput): string {
  return canonicalJson({ uid: p.uid, created: p.created, selector: p.spec.nodeSelector });
}

/**
 * The profiles whose NodeMonitors may differ between two sets (added, removed, or with another selector, uid
 * or creation time), each in every version it has in either set: its nodes are those either version selects.
 * A change to the rest of the spec is left out: NodeMonitors name profiles and do not carry their specs.
 */
export function changedProfiles(
  before: ReadonlyMap<string, ProfileInput>,
  after: ReadonlyMap<string, ProfileInput>,
): ProfileInput[] {
  const out: ProfileInput[] = [];
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(name);
    const b = after.get(name);
    if (a && b && renderKey(a) === renderKey(b)) continue;
    if (a) out.push(a);
    if (b) out.push(b);
  }
  return out;
}

/**
 * The NodeMonitors that should exist: one per node selected by at least one profile, in node-name order.
 * A node no profile selects gets none; the caller deletes the stale ones it finds.
 */
export function desiredNodeMonitors(
  profiles: readonly ProfileInput[],
  nodes: readonly NodeInput[],
): NodeMonitor[] {
  const byProfileName = new Map(profiles.map((p) => [p.name, p]));
  const byNodeName = new Map(nodes.map((n) => [n.name, n]));
  const out: NodeMonitor[] = [];
  for (const [nodeName, names] of selectNodes(profiles, nodes)) {
    const node = byNodeName.get(nodeName) as NodeInput;
    out.push(
      renderNodeMonitor(
        node,
        names.map((n) => byProfileName.get(n) as ProfileInput),
      ),
    );
  }
  return out;
}
