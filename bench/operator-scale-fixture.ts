import type { LabelSelector, LabelSelectorRequirement } from "../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import type { K8sObject } from "../test/fake-apiserver/index.ts";
import { nodeSpec, nodeStatus } from "./operator-scale-nodes.ts";

// The simulated cluster of the operator-scale benchmark: Nodes with the labels a real fleet carries and 50
// MonitoringProfiles whose selectors overlap the way real ones do (whole fleet, one zone, one rack, one
// instance type, the libvirt hosts), sized so that no node is selected by more than 16 profiles (the
// NodeMonitor's `profiles` maxItems). The expectation is computed here with a plain label match, not with
// the operator's selector code.

/** The operator's namespace in the benchmark. */
export const BENCH_NAMESPACE = "vesmon-system";
const ZONES = ["zone-a", "zone-b", "zone-c"] as const;
const RACKS = 20;
const INSTANCE_TYPES = ["m5.2xlarge", "m5.4xlarge", "c5.9xlarge", "r5.8xlarge"] as const;
const TIERS = ["gold", "silver", "bronze"] as const;
const CONTROL_PLANE = 3;
const ZONE = "topology.kubernetes.io/zone";
const WORKER = "node-role.kubernetes.io/worker";
const LIBVIRT = "vesmon.io/libvirt";

/** The profile the change step edits: it selects one zone, about a third of the nodes. */
export const CHANGED_PROFILE = "zone-a-host";

const nodeName = (i: number) => `node-${String(i).padStart(5, "0")}`;

/** The labels of node `i`; the control plane is the first three nodes, a quarter of the workers run libvirt. */
export function nodeLabels(i: number): Record<string, string> {
  const name = nodeName(i);
  const labels: Record<string, string> = {
    "kubernetes.io/hostname": name,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
    "topology.kubernetes.io/region": "region-1",
    [ZONE]: ZONES[i % ZONES.length]!,
    "node.kubernetes.io/instance-type": INSTANCE_TYPES[Math.floor(i / 3) % INSTANCE_TYPES.length]!,
    "example.com/rack": `rack-${String(Math.floor(i / 7) % RACKS).padStart(2, "0")}`,
    "vesmon.io/tier": TIERS[Math.floor(i / 5) % TIERS.length]!,
  };
  if (i < CONTROL_PLANE) labels["node-role.kubernetes.io/control-plane"] = "";
  else labels[WORKER] = "";
  if (i >= CONTROL_PLANE && i % 4 === 1) labels[LIBVIRT] = "yes";
  if (i % 50 === 7) labels["vesmon.io/monitoring"] = "off";
  return labels;
}

/** Node `i` with only its name and labels: what the expectation needs. */
export function benchNodeMeta(i: number): K8sObject {
  return { apiVersion: "v1", kind: "Node", metadata: { name: nodeName(i), labels: nodeLabels(i) } };
}

/** Node `i` as a kubelet leaves it, about 15 KB (bench/operator-scale-nodes.ts), last reported at `heartbeat`. */
export function benchNode(i: number, heartbeat: string): K8sObject {
  const name = nodeName(i);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: nodeLabels(i),
      annotations: {
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        "csi.volume.kubernetes.io/nodeid": `{"ebs.csi.example.com":"${name}"}`,
      },
    },
    spec: nodeSpec(i, name),
    status: nodeStatus(i, name, heartbeat),
  };
}

/** N Node objects with metadata only (names and labels). */
export function benchNodes(n: number): K8sObject[] {
  return Array.from({ length: n }, (_, i) => benchNodeMeta(i));
}

/** The namespace and the Secrets the profiles' VES sinks reference (so every profile is accepted). */
export function benchSecrets(): K8sObject[] {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const secret = (name: string, data: Record<string, string>): K8sObject => ({
    apiVersion: "v1",
    kind: "Secret",
    // The operator copies only Secrets that opt in with this label (operator/credentials.ts).
    metadata: { name, namespace: BENCH_NAMESPACE, labels: { "vesmon.io/credentials": "true" } },
    type: "Opaque",
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  });
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: BENCH_NAMESPACE } },
    secret("ves-credentials", { username: "vesmon", password: "not-a-secret" }),
    secret("ves-ca", { "ca.crt": "-----BEGIN CERTIFICATE-----\nbench\n-----END CERTIFICATE-----\n" }),
    secret("vesmon-client-tls", { "tls.crt": "bench-cert", "tls.key": "bench-key" }),
  ];
}

type Spec = Record<string, unknown>;
const req = (key: string, operator: LabelSelectorRequirement["operator"], values?: string[]) => ({
  key,
  operator,
  ...(values ? { values } : {}),
});
const ves = (url: string, extra: Spec = {}) => ({ name: "ves", ves: { url, timeout: "5s", ...extra } });
const events = (measurementInterval: string, heartbeatInterval = "60s") => ({
  measurementInterval,
  heartbeatInterval,
});
const host = (interval: string) => [
  { name: "cpu", interval, perCpu: false },
  { name: "memory", interval },
  { name: "load", interval },
];

/** The 50 profiles' specs by name: varied selectors, collectors, thresholds and sinks. */
function profileSpecs(): [string, Spec][] {
  const out: [string, Spec][] = [
    [
      "fleet-baseline",
      {
        collectors: host("10s"),
        events: events("60s"),
        sinks: [ves("https://ves.oam.example:8443", { credentialsSecretRef: { name: "ves-credentials" } })],
      },
    ],
    [
      "fleet-heartbeat",
      {
        nodeSelector: { matchExpressions: [req("vesmon.io/monitoring", "NotIn", ["off"])] },
        collectors: [{ name: "load", interval: "30s" }],
        events: events("5m", "30s"),
        sinks: [{ name: "scrape", prometheus: {} }],
      },
    ],
    [
      "workers-host",
      {
        nodeSelector: { matchExpressions: [req(WORKER, "Exists")] },
        collectors: [
          ...host("15s"),
          { name: "cgroups", interval: "30s", paths: ["kubepods.slice"], discoverVMs: false },
        ],
        events: events("5m"),
        thresholds: [{ metric: "host.load.midterm", warningMax: 8, failureMax: 16 }],
        faults: { vmLifecycle: false },
        sinks: [ves("http://ves-collector.monitoring.svc:8080")],
      },
    ],
    [
      "control-plane",
      {
        nodeSelector: { matchExpressions: [req("node-role.kubernetes.io/control-plane", "Exists")] },
        collectors: host("5s"),
        events: events("30s"),
        thresholds: [{ metric: "host.cpu.usage.percent", warningMax: 70, failureMax: 90 }],
        sinks: [ves("https://ves.oam.example:8443", { tls: { caSecretRef: { name: "ves-ca" } } })],
      },
    ],
    [
      "arm64-host",
      {
        nodeSelector: { matchLabels: { "kubernetes.io/arch": "arm64" } },
        collectors: host("10s"),
        sinks: [{ name: "out", stdout: {} }],
      },
    ],
  ];
  for (const zone of ZONES) {
    const url = `https://ves-${zone}.oam.example:8443`;
    out.push(
      [
        `${zone}-host`,
        {
          nodeSelector: { matchLabels: { [ZONE]: zone } },
          collectors: [
            { name: "cpu", interval: "10s" },
            { name: "memory", interval: "10s" },
            { name: "interface", interval: "10s", devices: { exclude: ["lo", "veth*"] } },
          ],
          events: events("60s"),
          sinks: [ves(url, { tls: { caSecretRef: { name: "ves-ca" } } })],
        },
      ],
      [
        `${zone}-disk`,
        {
          nodeSelector: { matchLabels: { [ZONE]: zone }, matchExpressions: [req(WORKER, "Exists")] },
          collectors: [{ name: "disk", interval: "30s", devices: { include: ["sd*", "nvme*", "vd*"] } }],
          events: events("5m"),
          sinks: [{ name: "scrape", prometheus: {} }],
        },
      ],
      [
        `${zone}-nfvi`,
        {
          nodeSelector: { matchLabels: { [ZONE]: zone, [LIBVIRT]: "yes" } },
          collectors: [
            { name: "virt", interval: "10s", domains: { include: ["*"], exclude: ["test-*"] } },
            { name: "cgroups", interval: "30s", paths: ["machine.slice"], discoverVMs: true },
          ],
          events: events("60s"),
          thresholds: [
            { metric: "vm.cpu.percent", warningMax: 80, failureMax: 95, hysteresis: 5, persist: 3 },
          ],
          sinks: [
            ves(url, {
              tls: { clientCertificateSecretRef: { name: "vesmon-client-tls" } },
              batch: { maxEvents: 200 },
              buffer: { maxBytes: "256Mi", maxAge: "2h" },
            }),
          ],
          applyPolicy: "Atomic",
        },
      ],
    );
  }
  for (let r = 0; r < RACKS; r++) {
    const rack = `rack-${String(r).padStart(2, "0")}`;
    out.push([
      `${rack}-network`,
      {
        nodeSelector: { matchLabels: { "example.com/rack": rack } },
        collectors: [{ name: "interface", interval: `${5 + (r % 4) * 5}s`, devices: { include: ["ens*"] } }],
        events: events("60s"),
        sinks: [{ name: "scrape", prometheus: {} }],
      },
    ]);
  }
  for (const type of INSTANCE_TYPES) {
    out.push([
      `itype-${type.replace(".", "-")}`,
      {
        nodeSelector: { matchExpressions: [req("node.kubernetes.io/instance-type", "In", [type])] },
        collectors: [{ name: "memory", interval: "20s" }],
        events: events("2m"),
        thresholds: [{ metric: "host.memory.free.percent", warningMin: 10, failureMin: 3 }],
        sinks: [ves("https://ves.oam.example:8443", { credentialsSecretRef: { name: "ves-credentials" } })],
      },
    ]);
  }
  const virt = (stats?: string[]) => [{ name: "virt", interval: "10s", ...(stats ? { stats } : {}) }];
  out.push(
    [
      "vms-light-ab",
      {
        nodeSelector: {
          matchLabels: { [LIBVIRT]: "yes" },
          matchExpressions: [req(ZONE, "In", ["zone-a", "zone-b"])],
        },
        collectors: virt(["state", "cpu-total"]),
        events: events("30s"),
        sinks: [{ name: "scrape", prometheus: {} }],
      },
    ],
    [
      "vms-light-c",
      {
        nodeSelector: {
          matchLabels: { [LIBVIRT]: "yes" },
          matchExpressions: [req(ZONE, "NotIn", ["zone-a", "zone-b"])],
        },
        collectors: virt(["state", "cpu-total", "balloon"]),
        events: events("30s"),
        sinks: [{ name: "scrape", prometheus: {} }],
      },
    ],
    [
      "vms-gold-tenant",
      {
        nodeSelector: { matchLabels: { [LIBVIRT]: "yes", "vesmon.io/tier": "gold" } },
        collectors: virt(),
        events: events("60s"),
        thresholds: [{ metric: "vm.memory.used.percent", warningMax: 90, failureMax: 98 }],
        sinks: [
          ves("https://ves-gold.oam.example:8443", { credentialsSecretRef: { name: "ves-credentials" } }),
        ],
      },
    ],
    [
      "no-libvirt-workers",
      {
        nodeSelector: { matchExpressions: [req(WORKER, "Exists"), req(LIBVIRT, "DoesNotExist")] },
        collectors: [{ name: "cgroups", interval: "60s", paths: ["kubepods.slice", "system.slice"] }],
        events: events("5m"),
        sinks: [{ name: "scrape", prometheus: {} }],
      },
    ],
  );
  for (const tier of TIERS) {
    out.push([
      `tier-${tier}`,
      {
        nodeSelector: { matchLabels: { "vesmon.io/tier": tier } },
        collectors: [{ name: "load", interval: tier === "gold" ? "5s" : "15s" }],
        events: events(tier === "gold" ? "10s" : "60s"),
        sinks: [{ name: "scrape", prometheus: {} }],
      },
    ]);
  }
  out.push(
    [
      "canary-racks",
      {
        nodeSelector: { matchExpressions: [req("example.com/rack", "In", ["rack-00", "rack-01"])] },
        collectors: host("5s"),
        events: events("10s", "10s"),
        sinks: [{ name: "out", stdout: {} }],
      },
    ],
    [
      "debug-first-nodes",
      {
        nodeSelector: {
          matchExpressions: [req("kubernetes.io/hostname", "In", [3, 4, 5, 6].map(nodeName))],
        },
        collectors: host("1s"),
        events: events("5s", "5s"),
        sinks: [{ name: "out", stdout: {} }],
      },
    ],
    [
      "zone-ab-load",
      {
        nodeSelector: { matchExpressions: [req(ZONE, "In", ["zone-a", "zone-b"]), req(WORKER, "Exists")] },
        collectors: [{ name: "load", interval: "20s" }],
        events: events("60s"),
        sinks: [{ name: "scrape", prometheus: {} }],
      },
    ],
    [
      "big-memory",
      {
        nodeSelector: { matchExpressions: [req("node.kubernetes.io/instance-type", "In", ["r5.8xlarge"])] },
        collectors: [{ name: "memory", interval: "10s" }],
        events: events("60s"),
        thresholds: [{ metric: "host.memory.free.percent", warningMin: 5, failureMin: 2 }],
        sinks: [{ name: "scrape", prometheus: {} }],
      },
    ],
    [
      "monitoring-off-audit",
      {
        nodeSelector: { matchLabels: { "vesmon.io/monitoring": "off" } },
        collectors: [{ name: "load", interval: "60s" }],
        events: events("5m"),
        sinks: [{ name: "out", stdout: {} }],
      },
    ],
  );
  return out;
}

/** The benchmark's MonitoringProfiles; throws if one does not pass the project's validator. */
export function benchProfiles(): K8sObject[] {
  const profiles = profileSpecs().map(([name, spec]) => ({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name, labels: { "app.kubernetes.io/part-of": "operator-scale-bench" } },
    spec,
  }));
  for (const p of profiles) {
    const r = validateMonitoringProfile(p);
    if (!r.ok) throw new Error(`bench profile ${p.metadata.name} is invalid: ${JSON.stringify(r.errors)}`);
  }
  return profiles;
}

/** Plain metav1.LabelSelector matching, written out here so the expectation does not reuse operator code. */
export function labelsMatch(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok =
      e.operator === "In"
        ? inValues
        : e.operator === "NotIn"
          ? !inValues
          : e.operator === "Exists"
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** Which profiles select which node: node name to profile names, sorted. */
export function expectedSelection(nodes: readonly K8sObject[], profiles: readonly K8sObject[]) {
  const byNode = new Map<string, string[]>();
  for (const node of nodes) {
    const labels = node.metadata.labels ?? {};
    const names = profiles
      .filter((p) => labelsMatch((p.spec as { nodeSelector?: LabelSelector }).nodeSelector, labels))
      .map((p) => p.metadata.name)
      .sort();
    byNode.set(node.metadata.name, names);
  }
  return byNode;
}
