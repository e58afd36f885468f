import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClusterConfig, ClusterConfigSource } from "../../agent/config/cluster-config.ts";
import { IsolatedValidator } from "../../agent/config/isolated-validator.ts";
import { realTimers } from "../../kube/timers.ts";
import { Controller } from "../../operator/controller.ts";
import { node, profile, until } from "../fake-apiserver/fixtures.ts";
import { FakeApiServer, type K8sObject } from "../fake-apiserver/index.ts";

// The carrier end to end: the operator (its real controller) and an agent's configuration source (its real
// code, validating in its worker) against the fake API server. NodeMonitors name the profiles; a profile edit
// travels in the profile itself, and an agent runs a generation only once the operator has accepted it.
const NODES = 6;
const AGENT_NODE = "n1";
let api: FakeApiServer;
let controller: Controller;
let source: ClusterConfigSource;
let validator: IsolatedValidator;
const configs: ClusterConfig[] = [];
const log = pino({ level: "silent" });

const latest = () => configs.at(-1);
/** The profiles the agent is handed, as name@generation. */
const running = () => {
  const c = latest();
  return c?.ok ? c.profiles.map((p) => `${p.name}@${p.generation}`) : [];
};
const fleet = () => api.get("vesmon.io/v1alpha1", "MonitoringProfile", "fleet") as K8sObject;
const nodeMonitorWrites = (since: number) =>
  api.requests.slice(since).filter((r) => r.method !== "GET" && r.path.includes("/nodemonitors"));
function editFleet(edit: (spec: Record<string, unknown>) => void): void {
  const spec = structuredClone(fleet().spec) as Record<string, unknown>;
  edit(spec);
  api.update({ ...fleet(), spec });
}

beforeAll(async () => {
  api = new FakeApiServer();
  await api.start();
  api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "vesmon-system" } });
  for (let i = 0; i < NODES; i++) api.create(node(`n${i}`));
  api.create(profile("fleet"));
  controller = new Controller({
    kubeConfig: api.kubeConfig(),
    namespace: "vesmon-system",
    timers: realTimers,
    log,
  });
  await controller.start();
  void controller.run();
  validator = new IsolatedValidator({ idleMs: 60_000 });
  source = new ClusterConfigSource({
    api: api.restClient(),
    nodeName: AGENT_NODE,
    timers: realTimers,
    log,
    validate: (r) => validator.validate(r),
  });
  source.start((c) => configs.push(c));
  await until(() => running().join() === "fleet@1", 20_000);
}, 30_000);

afterAll(async () => {
  source?.stop();
  await controller?.stop();
  await validator?.close();
  await api?.close();
});

describe("profiles carried by reference", () => {
  it("names the profiles in each NodeMonitor, without their specs", () => {
    const nm = api.get("vesmon.io/v1alpha1", "NodeMonitor", AGENT_NODE) as K8sObject;
    expect((nm.spec as { profiles: unknown[] }).profiles).toEqual([
      { name: "fleet", uid: fleet().metadata.uid },
    ]);
  });

  it("brings a profile spec edit to the agent with no NodeMonitor write", async () => {
    const since = api.requests.length;
    editFleet((spec) => {
      (spec.collectors as { interval: string }[])[0]!.interval = "5s";
    });
    await until(() => running().join() === "fleet@2", 10_000);
    const c = latest();
    expect(c?.ok && c.profiles[0]?.spec.collectors[0]).toMatchObject({ name: "cpu", interval: "5s" });
    // The profile's defaults are applied, as the operator's validation does.
    expect(c?.ok && c.profiles[0]?.spec.events.measurementInterval).toBe("60s");
    expect(nodeMonitorWrites(since)).toEqual([]);
  });

  it("does not run an edit the operator refuses, and drops the profile as the operator does", async () => {
    const since = api.requests.length;
    editFleet((spec) => {
      spec.sinks = [
        { name: "ves", ves: { url: "https://ves.example:8443", credentialsSecretRef: { name: "absent" } } },
      ];
    });
    await until(() => {
      const a = (
        fleet().status as { conditions?: { type: string; status: string; observedGeneration?: number }[] }
      )?.conditions?.find((x) => x.type === "Accepted");
      return a?.observedGeneration === 3 && a.status === "False";
    }, 10_000);
    // A refused profile is taken out of the NodeMonitors (the only one here: they go) and out of the agent.
    await until(() => running().length === 0, 10_000);
    expect(configs.some((x) => x.ok && x.profiles.some((p) => p.generation === 3))).toBe(false);
    expect(api.get("vesmon.io/v1alpha1", "NodeMonitor", AGENT_NODE)).toBeUndefined();
    expect(nodeMonitorWrites(since).every((r) => r.method === "DELETE")).toBe(true);

    // Fixed: accepted again, it runs at the new generation.
    editFleet((spec) => {
      spec.sinks = [{ name: "console", stdout: {} }];
    });
    await until(() => running().join() === "fleet@4", 10_000);
  });

  it("re-renders only the node whose labels change, and nothing for a Node status update", async () => {
    const gold = profile("gold");
    (gold.spec as { nodeSelector?: unknown }).nodeSelector = { matchLabels: { tier: "gold" } };
    api.create(gold);
    await new Promise((r) => setTimeout(r, 1000));
    let since = api.requests.length;
    for (let i = 0; i < NODES; i++) {
      const n = api.get("v1", "Node", `n${i}`) as K8sObject;
      api.updateStatus({
        ...n,
        status: { conditions: [{ type: "Ready", status: "True", reason: `b${i}` }] },
      });
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(nodeMonitorWrites(since)).toEqual([]);

    since = api.requests.length;
    const n1 = api.get("v1", "Node", AGENT_NODE) as K8sObject;
    api.update({ ...n1, metadata: { ...n1.metadata, labels: { tier: "gold" } } });
    await until(() => running().includes("gold@1"), 10_000);
    expect(running()).toEqual(["fleet@4", "gold@1"]);
    await new Promise((r) => setTimeout(r, 500));
    expect(nodeMonitorWrites(since).map((r) => `${r.method} ${r.path}`)).toEqual([
      `PATCH /apis/vesmon.io/v1alpha1/nodemonitors/${AGENT_NODE}`,
    ]);
  });
});
