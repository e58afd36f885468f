import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListenerProcess } from "../../agent/listener/process.ts";
import { schemaValidator } from "../../agent/listener/ves-validator.ts";
import { renderChart } from "../chart/render.ts";
import { FakeApiServer, serviceAccountUser } from "../fake-apiserver/index.ts";

// The whole system on one machine: the fake API server, two operator replicas (leader-elected), three agent
// processes standing in for three nodes (this host's /proc), and vesmon-listener validating every event.
// The fake enforces the chart's RBAC and its ValidatingAdmissionPolicy: the operators and each agent use
// their service account's token (an agent's bound to its node), kubectl the admin's.
// Profiles are applied and awaited with kubectl, as a user would.
const NS = "vesmon-system";
const NODES = ["worker-1", "worker-2", "worker-3"];
let api: FakeApiServer;
let listener: ListenerProcess;
let dir: string;
let kubeconfig: string;
/** Each process's kubeconfig, by process name. */
const kubeconfigs = new Map<string, string>();
const procs: { name: string; proc: ChildProcess; stderr: string }[] = [];

function run(name: string, script: string, args: string[], env: Record<string, string> = {}) {
  const entry = {
    name,
    proc: spawn(process.execPath, [join(import.meta.dirname, "../..", script), ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    }),
    stderr: "",
  };
  entry.proc.stderr?.on("data", (c: Buffer) => {
    entry.stderr += c.toString();
  });
  procs.push(entry);
  return entry;
}

type ProfileStatus = {
  observedGeneration?: number;
  selectedNodes?: number;
  appliedNodes?: number;
  degradedNodes?: number;
  conditions?: { type: string; status: string; reason: string; message: string }[];
};
const profileStatus = (name: string) =>
  (api.get("vesmon.io/v1alpha1", "MonitoringProfile", name) as { status?: ProfileStatus } | undefined)
    ?.status;
const condition = (name: string, type: string) =>
  profileStatus(name)?.conditions?.find((c) => c.type === type);

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 45_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}\nfleet: ${JSON.stringify(profileStatus("fleet"))}\n${procs.map((p) => `--- ${p.name}\n${p.stderr.slice(-1500)}`).join("\n")}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

const profile = (name: string, spec: object) => ({
  apiVersion: "vesmon.io/v1alpha1",
  kind: "MonitoringProfile",
  metadata: { name },
  spec,
});
const kubectl = async (...args: string[]) =>
  (await promisify(execFile)("kubectl", ["--kubeconfig", kubeconfig, ...args], { timeout: 90_000 })).stdout;
const nodeMonitorProfiles = (node: string) =>
  (
    (
      api.get("vesmon.io/v1alpha1", "NodeMonitor", node) as
        | { spec?: { profiles?: { name: string }[] } }
        | undefined
    )?.spec?.profiles ?? []
  ).map((p) => p.name);
const applyRequests = () =>
  api.requests.filter((r) => r.method === "PATCH" && /\/nodemonitors\/[^/]+$/.test(r.path)).length;
const fleetSpec = (collectors: object[]) => ({
  nodeSelector: { matchExpressions: [{ key: "vesmon.io/monitoring", operator: "NotIn", values: ["off"] }] },
  collectors,
  events: { measurementInterval: "5s", heartbeatInterval: "5s" },
  sinks: [
    {
      name: "ves",
      ves: { url: listener.url, timeout: "2s", retry: { initialBackoff: "100ms", maxBackoff: "1s" } },
    },
  ],
});

beforeAll(async () => {
  // The garbage collector lags a few seconds, as kube-controller-manager's can.
  api = new FakeApiServer({ gcDelayMs: 3000 });
  await api.start();
  const chart = renderChart(
    {},
    { namespace: NS, apiVersions: ["admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"] },
  );
  const rbac = ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
  const admission = ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"];
  for (const m of chart.manifests.filter((x) => [...rbac, ...admission].includes(x.kind)))
    api.create(m as never);
  listener = new ListenerProcess({ port: 0, validate: schemaValidator() });
  await listener.start();
  dir = await mkdtemp(join(tmpdir(), "vesmon-system-"));
  kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, api.kubeConfig().exportConfig());
  const tokens: [string, ReturnType<typeof serviceAccountUser>][] = [
    ["operator", serviceAccountUser(NS, "vesmon-operator")],
    ...NODES.map(
      (n) =>
        [n, serviceAccountUser(NS, "vesmon-agent", { "authentication.kubernetes.io/node-name": [n] })] as [
          string,
          ReturnType<typeof serviceAccountUser>,
        ],
    ),
  ];
  for (const [who, user] of tokens) {
    api.addUser(`token-${who}`, user);
    const file = join(dir, `kubeconfig-${who}`);
    await writeFile(file, api.kubeConfig(`token-${who}`).exportConfig());
    kubeconfigs.set(who, file);
  }
  api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  for (const [i, n] of NODES.entries())
    api.create({
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: n,
        labels: { "kubernetes.io/hostname": n, ...(i === 2 ? { "vesmon.io/libvirt": "yes" } : {}) },
      },
    });
  const operator = (id: string) =>
    run(id, "operator/main.ts", [
      "--kubeconfig",
      kubeconfigs.get("operator")!,
      "--namespace",
      NS,
      "--identity",
      id,
      "--listen",
      "127.0.0.1:0",
    ]);
  operator("op-a");
  // The second replica starts once the first leads, so which one leads is known.
  const holder = () =>
    (
      api.get("coordination.k8s.io/v1", "Lease", "vesmon-operator", NS) as
        | { spec?: { holderIdentity?: string } }
        | undefined
    )?.spec?.holderIdentity;
  await until(() => holder() === "op-a", "op-a leading");
  operator("op-b");
  for (const n of NODES)
    run(
      n,
      "agent/main.ts",
      ["--kubeconfig", kubeconfigs.get(n)!, "--state-dir", join(dir, n), "--listen", ""],
      {
        NODE_NAME: n,
      },
    );
}, 60_000);

afterAll(async () => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill("SIGKILL");
  await listener?.close();
  await api?.close();
});

describe("operator, three agents and a VES collector", () => {
  it("makes a profile Ready on every selected node, with events from each node", async () => {
    const file = join(dir, "fleet.yaml");
    await writeFile(
      file,
      JSON.stringify(
        profile(
          "fleet",
          fleetSpec([
            { name: "load", interval: "1s" },
            { name: "cpu", interval: "1s" },
          ]),
        ),
      ),
    );
    expect(await kubectl("apply", "--server-side", "--validate=false", "-f", file)).toMatch(
      /monitoringprofile.vesmon.io\/fleet serverside-applied/,
    );
    expect(await kubectl("wait", "--for=condition=Ready", "mp/fleet", "--timeout=60s")).toMatch(
      /condition met/,
    );
    expect(
      await kubectl("get", "mp", "fleet", "-o", "jsonpath={.status.appliedNodes}/{.status.selectedNodes}"),
    ).toBe("3/3");
    expect(profileStatus("fleet")).toMatchObject({
      observedGeneration: 1,
      selectedNodes: 3,
      appliedNodes: 3,
      degradedNodes: 0,
    });
    expect(condition("fleet", "Accepted")).toMatchObject({ status: "True" });
    expect(
      api
        .list("vesmon.io/v1alpha1", "NodeMonitor")
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(NODES);
    const lease = api.get("coordination.k8s.io/v1", "Lease", "vesmon-operator", NS) as
      | { spec?: { holderIdentity?: string } }
      | undefined;
    expect(lease?.spec?.holderIdentity).toBe("op-a");
    await until(async () => {
      const events = (
        (await (await fetch(`${listener.url}/control/events`)).json()) as {
          events: { event: { commonEventHeader: { domain: string; sourceName: string } } }[];
        }
      ).events;
      const sources = new Set(
        events
          .filter((e) => e.event.commonEventHeader.domain === "measurement")
          .map((e) => e.event.commonEventHeader.sourceName),
      );
      return NODES.every((n) => sources.has(n));
    }, "measurement events from all three nodes");
  }, 90_000);

  it("rolls a change out and reports the new generation Ready, the agents hot-applying without a restart", async () => {
    const agentPids = procs.filter((p) => p.name.startsWith("worker")).map((p) => p.proc.pid);
    const applies = applyRequests();
    const current = api.get("vesmon.io/v1alpha1", "MonitoringProfile", "fleet")!;
    api.update({
      ...current,
      spec: fleetSpec([
        { name: "load", interval: "1s" },
        { name: "cpu", interval: "1s" },
        { name: "memory", interval: "1s" },
      ]),
    });
    await until(
      () =>
        profileStatus("fleet")?.observedGeneration === 2 &&
        condition("fleet", "Ready")?.status === "True" &&
        profileStatus("fleet")?.appliedNodes === 3,
      "generation 2 Ready",
    );
    const nm = api.get("vesmon.io/v1alpha1", "NodeMonitor", "worker-1") as {
      status?: { jobs?: { collector: string }[] };
    };
    expect(nm.status?.jobs?.map((j) => j.collector).sort()).toEqual(["cpu", "load", "memory"]);
    // The edit reached the agents through the profile itself: no NodeMonitor was written for it.
    expect(applyRequests()).toBe(applies);
    expect(
      procs.filter((p) => p.name.startsWith("worker") && p.proc.exitCode === null).map((p) => p.proc.pid),
    ).toEqual(agentPids);
  }, 90_000);

  it("takes a node labelled out of the selector out of the profile", async () => {
    // Unconditional updates (no resourceVersion), as `kubectl label --overwrite` would make.
    const { resourceVersion: _rv, ...meta } = api.get("v1", "Node", "worker-2")!.metadata as {
      resourceVersion?: string;
      name: string;
      labels: Record<string, string>;
    };
    const node = (labels: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "Node",
      metadata: { ...meta, labels },
    });
    api.update(node({ ...meta.labels, "vesmon.io/monitoring": "off" }));
    await until(() => !nodeMonitorProfiles("worker-2").includes("fleet"), "fleet gone from worker-2");
    await until(
      () => profileStatus("fleet")?.selectedNodes === 2 && condition("fleet", "Ready")?.status === "True",
      "fleet Ready on two nodes",
    );
    api.update(node(meta.labels));
    await until(
      () => nodeMonitorProfiles("worker-2").includes("fleet") && profileStatus("fleet")?.appliedNodes === 3,
      "worker-2 back",
    );
  }, 90_000);

  it("names the failing node in Degraded when its agent cannot run a job", async () => {
    api.create(
      profile("vms", {
        nodeSelector: { matchLabels: { "vesmon.io/libvirt": "yes" } },
        collectors: [
          {
            name: "virt",
            interval: "1s",
            libvirt: { socket: "/nonexistent/libvirt-sock-ro", timeout: "1s" },
          },
        ],
        events: { measurementInterval: "5s", heartbeatInterval: "5s" },
        sinks: [{ name: "out", stdout: {} }],
      }),
    );
    await until(() => condition("vms", "Degraded")?.status === "True", "vms Degraded");
    expect(profileStatus("vms")).toMatchObject({ selectedNodes: 1, degradedNodes: 1 });
    expect(condition("vms", "Degraded")?.message).toMatch(/worker-3/);
  }, 90_000);

  it("empties a deleted profile from every NodeMonitor", async () => {
    expect(nodeMonitorProfiles("worker-3")).toContain("vms");
    api.delete("vesmon.io/v1alpha1", "MonitoringProfile", "vms");
    await until(
      () => NODES.every((n) => !nodeMonitorProfiles(n).includes("vms")),
      "vms gone from every NodeMonitor",
    );
  }, 60_000);

  it("converges after cut watches and forced 410s", async () => {
    api.failNext("GET", /^\/apis\/vesmon\.io\/v1alpha1\/monitoringprofiles$/, 410, 2);
    api.cutWatches();
    const current = api.get("vesmon.io/v1alpha1", "MonitoringProfile", "fleet")!;
    api.update({
      ...current,
      spec: fleetSpec([
        { name: "load", interval: "2s" },
        { name: "memory", interval: "1s" },
      ]),
    });
    await until(
      () => profileStatus("fleet")?.observedGeneration === 3 && profileStatus("fleet")?.appliedNodes === 3,
      "generation 3 applied everywhere",
      60_000,
    );
  }, 90_000);

  it("hands over to the other replica when the leader is killed, without writing again what is applied", async () => {
    const before = applyRequests();
    procs.find((p) => p.name === "op-a")!.proc.kill("SIGKILL");
    const lease = () =>
      (
        api.get("coordination.k8s.io/v1", "Lease", "vesmon-operator", NS) as {
          spec?: { holderIdentity?: string };
        }
      ).spec?.holderIdentity;
    await until(() => lease() === "op-b", "op-b leading", 40_000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(applyRequests()).toBe(before);
    const current = api.get("vesmon.io/v1alpha1", "MonitoringProfile", "fleet")!;
    api.update({ ...current, spec: fleetSpec([{ name: "load", interval: "1s" }]) });
    await until(
      () => profileStatus("fleet")?.observedGeneration === 4 && profileStatus("fleet")?.appliedNodes === 3,
      "generation 4 applied by op-b",
      60_000,
    );
  }, 90_000);

  it("refuses an agent that patches another node's NodeMonitor", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigs.get("worker-1")!);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const target = { group: "vesmon.io", version: "v1alpha1", plural: "nodemonitors" };
    const err = (await custom
      .patchClusterCustomObjectStatus({
        ...target,
        name: "worker-2",
        body: [{ op: "add", path: "/status/agentVersion", value: "forged" }],
      })
      .catch((e: unknown) => e)) as { code?: number; body?: string };
    expect(err.code).toBe(403);
    expect(err.body).toMatch(/may write only the NodeMonitor of its own node, not \\"worker-2\\"/);
    expect(
      (api.get("vesmon.io/v1alpha1", "NodeMonitor", "worker-2")?.status as { agentVersion?: string })
        ?.agentVersion,
    ).not.toBe("forged");
  }, 30_000);

  it("shows the profiles' Events in default", async () => {
    const out = await kubectl(
      "get",
      "events",
      "-n",
      "default",
      "--field-selector",
      "involvedObject.kind=MonitoringProfile",
      "-o",
      'jsonpath={range .items[*]}{.involvedObject.name}/{.reason}{"\\n"}{end}',
    );
    expect(out).toMatch(/^fleet\/AllNodesApplied$/m);
    expect(api.list("v1", "Event", NS)).toEqual([]);
  }, 30_000);

  it("refuses, in Accepted, a referenced Secret without the opt-in label", async () => {
    api.create({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "not-for-agents", namespace: NS },
      data: { username: "dQ==", password: "cA==" },
    });
    const spec = fleetSpec([{ name: "load", interval: "1s" }]) as { sinks: { ves: object }[] };
    spec.sinks[0]!.ves = { ...spec.sinks[0]!.ves, credentialsSecretRef: { name: "not-for-agents" } };
    api.create(profile("leaky", spec));
    await until(() => condition("leaky", "Accepted")?.reason === "SecretNotLabelled", "leaky refused");
    expect(condition("leaky", "Accepted")?.message).toMatch(/not-for-agents.*vesmon\.io\/credentials/);
    expect(NODES.some((n) => nodeMonitorProfiles(n).includes("leaky"))).toBe(false);
    api.delete("vesmon.io/v1alpha1", "MonitoringProfile", "leaky");
  }, 60_000);

  it("answers a storm of watch ERROR events with backoff, then converges", async () => {
    const watches = () =>
      api.requests.filter((r) => r.path === "/apis/vesmon.io/v1alpha1/nodemonitors" && /watch=/.test(r.query))
        .length;
    api.failWatches(/^\/apis\/vesmon\.io\/v1alpha1\/nodemonitors$/, 100_000);
    api.errorWatches(500, "etcdserver: request timed out", /nodemonitors/);
    const before = watches();
    await new Promise((r) => setTimeout(r, 4000));
    // Five clients watch NodeMonitors (two operators, three agents). Each waits at least 0.8, 1.6 and 3.2 s
    // before its first three retries: at most three watch requests each in 4 s (without backoff: thousands).
    const during = watches() - before;
    expect(during).toBeGreaterThanOrEqual(5);
    expect(during).toBeLessThanOrEqual(15);
    api.stopFailingWatches();
    const current = api.get("vesmon.io/v1alpha1", "MonitoringProfile", "fleet")!;
    api.update({ ...current, spec: fleetSpec([{ name: "load", interval: "2s" }]) });
    const generation = (current.metadata.generation ?? 0) + 1;
    await until(
      () =>
        profileStatus("fleet")?.observedGeneration === generation &&
        profileStatus("fleet")?.appliedNodes === 3,
      "the change applied everywhere after the storm",
      90_000,
    );
  }, 120_000);

  it("keeps the NodeMonitor of a node deleted and re-created under the same name", async () => {
    const before = api.get("vesmon.io/v1alpha1", "NodeMonitor", "worker-1")!;
    const node = api.get("v1", "Node", "worker-1")!;
    api.delete("v1", "Node", "worker-1");
    const { uid: _u, resourceVersion: _rv, creationTimestamp: _c, ...meta } = node.metadata;
    const fresh = api.create({ ...node, metadata: meta });
    await until(
      () =>
        api.get("vesmon.io/v1alpha1", "NodeMonitor", "worker-1")?.metadata.ownerReferences?.[0]?.uid ===
        fresh.metadata.uid,
      "the NodeMonitor following the new node",
    );
    api.collectGarbage();
    expect(api.get("vesmon.io/v1alpha1", "NodeMonitor", "worker-1")?.metadata.uid).toBe(before.metadata.uid);
  }, 60_000);

  it("drops a node's NodeMonitor when the node goes away", async () => {
    api.delete("v1", "Node", "worker-3");
    await until(
      () => api.get("vesmon.io/v1alpha1", "NodeMonitor", "worker-3") === undefined,
      "worker-3's NodeMonitor gone",
    );
    await until(() => profileStatus("fleet")?.selectedNodes === 2, "fleet down to two nodes");
  }, 60_000);

  it("stops every process cleanly on SIGTERM", async () => {
    const live = procs.filter((p) => p.proc.exitCode === null && p.proc.signalCode === null);
    for (const p of live) p.proc.kill("SIGTERM");
    for (const p of live)
      expect(
        await new Promise((r) =>
          p.proc.exitCode !== null ? r(p.proc.exitCode) : p.proc.once("exit", (c) => r(c)),
        ),
        p.name,
      ).toBe(0);
  }, 60_000);
});
