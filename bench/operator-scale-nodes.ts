import { createHash } from "node:crypto";

// Node objects as a kubelet leaves them, for the operator-scale benchmark: about 15 KB each, most of it the
// status (50 container images with their digests and sizes, 10 conditions, addresses, capacity, allocatable,
// nodeInfo), and the status-only update a kubelet sends every few minutes (new heartbeat times). Everything
// is derived from the node's index and the given time, so the same call gives the same bytes.

/** Images every node of the fleet may hold; each node holds IMAGES_PER_NODE of them. */
const IMAGE_POOL = 120;
/** Container images in a Node's `status.images`: a kubelet reports at most 50. */
export const IMAGES_PER_NODE = 50;
const REGISTRIES = ["registry.k8s.io", "quay.io/prometheus", "docker.io/library", "ghcr.io/example-org"];
/** The conditions a kubelet reports, then those of node-problem-detector, 10 in all. */
const KUBELET_CONDITIONS = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"] as const;
const NPD_CONDITIONS = [
  "KernelDeadlock",
  "ReadonlyFilesystem",
  "FrequentKubeletRestart",
  "FrequentDockerRestart",
  "FrequentContainerdRestart",
  "CorruptDockerOverlay2",
] as const;
/** When the fleet was created: every node's creation and condition transition times derive from it. */
const EPOCH = Date.parse("2026-01-05T08:00:00Z");

const hex = (s: string) => createHash("sha256").update(s).digest("hex");
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Image `k` of the pool: a repository, its tag and digest (the same on every node), and a size in bytes. */
function image(k: number): { names: string[]; sizeBytes: number } {
  const repo = `${REGISTRIES[k % REGISTRIES.length]}/platform-team/workload-component-${String(k).padStart(3, "0")}`;
  const tag = `v1.${k % 30}.${k % 7}`;
  return {
    names: [`${repo}@sha256:${hex(repo + tag)}`, `${repo}:${tag}`],
    sizeBytes: 5_000_000 + ((k * 7_919_993) % 900_000_000),
  };
}

/** The 10 conditions of node `i`, with `heartbeat` as every lastHeartbeatTime. */
export function nodeConditions(i: number, heartbeat: string) {
  const transition = rfc3339(EPOCH + (i % 97) * 60_000);
  const kubelet = KUBELET_CONDITIONS.map((type) =>
    type === "Ready"
      ? {
          type,
          status: "True",
          lastHeartbeatTime: heartbeat,
          lastTransitionTime: transition,
          reason: "KubeletReady",
          message: "kubelet is posting ready status",
        }
      : {
          type,
          status: "False",
          lastHeartbeatTime: heartbeat,
          lastTransitionTime: transition,
          reason: `KubeletHasNo${type}`,
          message: `kubelet has no ${type.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase()}`,
        },
  );
  const npd = NPD_CONDITIONS.map((type) => ({
    type,
    status: "False",
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: transition,
    reason: `No${type}`,
    message: `node-problem-detector reports no ${type}`,
  }));
  return [...npd, ...kubelet];
}

/** The status of node `name` (index `i`) as its kubelet last wrote it at `heartbeat`. */
export function nodeStatus(i: number, name: string, heartbeat: string): Record<string, unknown> {
  const big = i % 4 === 3;
  const capacity = {
    cpu: big ? "64" : "32",
    "ephemeral-storage": "488364012Ki",
    "hugepages-1Gi": "0",
    "hugepages-2Mi": big ? "8Gi" : "0",
    memory: big ? "263842452Ki" : "131921228Ki",
    pods: "110",
  };
  const allocatable = {
    ...capacity,
    cpu: big ? "63500m" : "31500m",
    "ephemeral-storage": "450071297533",
    memory: big ? "261642452Ki" : "129721228Ki",
  };
  const first = (i * 13) % IMAGE_POOL;
  const octets = `${(i >> 8) & 255}.${i & 255}`;
  return {
    capacity,
    allocatable,
    conditions: nodeConditions(i, heartbeat),
    addresses: [
      { type: "InternalIP", address: `10.20.${octets}` },
      { type: "InternalIP", address: `fd00:10:20::${i.toString(16)}` },
      { type: "Hostname", address: name },
      { type: "InternalDNS", address: `${name}.region-1.compute.internal` },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: hex(`machine-${i}`).slice(0, 32),
      systemUUID: hex(`system-${i}`)
        .slice(0, 32)
        .replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-"),
      bootID: hex(`boot-${i}`)
        .slice(0, 32)
        .replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-"),
      kernelVersion: "6.1.0-28-amd64",
      osImage: "Debian GNU/Linux 12 (bookworm)",
      containerRuntimeVersion: "containerd://1.7.24",
      kubeletVersion: "v1.31.4",
      kubeProxyVersion: "v1.31.4",
      operatingSystem: "linux",
      architecture: "amd64",
    },
    images: Array.from({ length: IMAGES_PER_NODE }, (_, k) => image((first + k) % IMAGE_POOL)),
  };
}

/** The spec of node `i`: a pod CIDR and a provider ID, as a cloud's nodes carry. */
export function nodeSpec(i: number, name: string): Record<string, unknown> {
  return {
    podCIDR: `10.128.${i % 256}.0/24`,
    podCIDRs: [`10.128.${i % 256}.0/24`],
    providerID: `example://region-1/${name}`,
  };
}

/**
 * The status a kubelet writes on its periodic report: only the heartbeat times move. The rest stays byte for
 * byte, so what reaches a metadata-only watcher is a MODIFIED with a new resourceVersion and nothing else.
 */
export function heartbeatStatus(status: Record<string, unknown>, heartbeat: string): Record<string, unknown> {
  const conditions = (status.conditions as { lastHeartbeatTime?: string }[] | undefined) ?? [];
  return { ...status, conditions: conditions.map((c) => ({ ...c, lastHeartbeatTime: heartbeat })) };
}
