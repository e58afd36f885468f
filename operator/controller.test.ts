import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { realTimers } from "../kube/timers.ts";
import { node, profile, until } from "../test/fake-apiserver/fixtures.ts";
import { FakeApiServer, type K8sObject } from "../test/fake-apiserver/index.ts";
import { Controller } from "./controller.ts";

// The controller against the in-process fake API server: which events make it render every NodeMonitor, and
// how NodeMonitor events fold into profile roll-ups. Counts come from its own reconcile statistics.
const NODES = 20;
let api: FakeApiServer;
let controller: Controller;
afterEach(async () => {
  await controller?.stop();
  await api?.close();
});

async function setup(opts: { gcDelayMs?: number } = {}) {
  api = new FakeApiServer(opts);
  await api.start();
  api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "vesmon-system" } });
  for (let i = 0; i < NODES; i++) api.create(node(`n${i}`));
  api.create(profile("fleet"));
  controller = new Controller({
    kubeConfig: api.kubeConfig(),
    namespace: "vesmon-system",
    timers: realTimers,
    log: pino({ level: "silent" }),
  });
  await controller.start();
  void controller.run();
  const monitors = () => api.list("vesmon.io/v1alpha1", "NodeMonitor");
  const fleet = () => api.get("vesmon.io/v1alpha1", "MonitoringProfile", "fleet") as K8sObject;
  const observed = () => (fleet().status as { observedGeneration?: number } | undefined)?.observedGeneration;
  await until(() => monitors().length === NODES && observed() === 1, 10_000);
  const count = (kind: "nodemonitors" | "profile") => controller.stats.reconciles[`${kind}/ok`] ?? 0;
  const settle = () => new Promise((r) => setTimeout(r, 1500));
  await settle();
  return { monitors, fleet, observed, count, settle };
}

/** The profiles a node's NodeMonitor names. */
const profilesOf = (node: string) =>
  (
    (
      api.get("vesmon.io/v1alpha1", "NodeMonitor", node)?.spec as
        | { profiles?: { name: string }[] }
        | undefined
    )?.profiles ?? []
  ).map((p) => p.name);
const goldObserved = () =>
  (
    api.get("vesmon.io/v1alpha1", "MonitoringProfile", "gold")?.status as
      | { observedGeneration?: number }
      | undefined
  )?.observedGeneration;

/** A profile selecting the nodes labelled tier=gold. */
function goldProfile(): K8sObject {
  const gold = profile("gold");
  (gold.spec as { nodeSelector?: unknown }).nodeSelector = { matchLabels: { tier: "gold" } };
  return gold;
}
/** Sets a node's tier label. */
function label(node: string, tier: string): void {
  const n = api.get("v1", "Node", node) as K8sObject;
  api.update({ ...n, metadata: { ...n.metadata, labels: { tier } } });
}
/** The fleet set up, and the gold profile (which selects no node yet) accepted. */
async function setupWithGold() {
  const t = await setup();
  api.create(goldProfile());
  await until(() => goldObserved() === 1, 5000);
  await t.settle();
  return t;
}

describe("Controller", () => {
  it("writes no NodeMonitor for a profile spec edit, and accepts the new generation in the profile's status", async () => {
    const t = await setup();
    const renders = t.count("nodemonitors");
    const rollups = t.count("profile");
    api.updateStatus({ ...t.fleet(), status: { ...(t.fleet().status as object), selectedNodes: 0 } });
    await until(() => t.count("profile") > rollups, 5000);
    await t.settle();
    expect(t.count("nodemonitors")).toBe(renders);

    const before = t.monitors().map((nm) => [nm.metadata.name, nm.metadata.resourceVersion]);
    const requests = api.requests.length;
    const spec = structuredClone(t.fleet().spec) as { collectors: { interval: string }[] };
    spec.collectors[0]!.interval = "5s";
    api.update({ ...t.fleet(), spec });
    // Agents run a generation once Accepted names it: that is how the edit reaches them.
    const accepted = () =>
      (
        t.fleet().status as { conditions?: { type: string; status: string; observedGeneration?: number }[] }
      )?.conditions?.find((c) => c.type === "Accepted");
    await until(() => accepted()?.observedGeneration === 2 && accepted()?.status === "True", 5000);
    await t.settle();
    expect(t.count("nodemonitors")).toBeGreaterThan(renders);
    expect(t.monitors().map((nm) => [nm.metadata.name, nm.metadata.resourceVersion])).toEqual(before);
    const writes = api.requests.slice(requests).filter((r) => r.method !== "GET");
    expect(writes.filter((r) => r.path.includes("/nodemonitors"))).toEqual([]);
    expect(writes.map((r) => r.path)).toEqual(["/apis/vesmon.io/v1alpha1/monitoringprofiles/fleet/status"]);
  });

  it("lists and watches Nodes as metadata only", async () => {
    await setup();
    const nodeReads = api.requests.filter((r) => r.method === "GET" && r.path === "/api/v1/nodes");
    const list = nodeReads.find((r) => !/(^|&)watch=/.test(r.query));
    const watch = nodeReads.find((r) => /(^|&)watch=true/.test(r.query));
    expect(list?.accept).toBe("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1");
    expect(watch?.accept).toBe("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1");
  });

  it("neither renders nor writes for a Node status update, as a kubelet makes every few minutes", async () => {
    const t = await setup();
    const renders = t.count("nodemonitors");
    const rendered = controller.stats.rendered;
    const writes = controller.stats.writes;
    const requests = api.requests.length;
    for (let i = 0; i < NODES; i++) {
      const n = api.get("v1", "Node", `n${i}`) as K8sObject;
      api.updateStatus({
        ...n,
        status: { conditions: [{ type: "Ready", status: "True", reason: `beat${i}` }] },
      });
    }
    await t.settle();
    expect(t.count("nodemonitors")).toBe(renders);
    expect(controller.stats.rendered).toBe(rendered);
    expect(controller.stats.writes).toBe(writes);
    expect(api.requests.slice(requests).filter((r) => r.method !== "GET")).toEqual([]);
  });

  it("renders only the node whose labels changed, out of many", async () => {
    const t = await setupWithGold();
    const rendered = controller.stats.rendered;
    const requests = api.requests.length;
    label("n3", "gold");
    await until(() => profilesOf("n3").includes("gold"), 5000);
    await t.settle();
    expect(controller.stats.rendered - rendered).toBe(1);
    const applies = api.requests
      .slice(requests)
      .filter((r) => r.method === "PATCH" && r.path.includes("/nodemonitors/"));
    expect(applies.map((r) => r.path)).toEqual(["/apis/vesmon.io/v1alpha1/nodemonitors/n3"]);
  });

  it("counts in the roll-up the nodes a profile selects now, after labels and its selector change", async () => {
    await setupWithGold();
    const selected = () =>
      (
        api.get("vesmon.io/v1alpha1", "MonitoringProfile", "gold")?.status as
          | { selectedNodes?: number }
          | undefined
      )?.selectedNodes;
    await until(() => selected() === 0, 5000);
    label("n3", "gold");
    await until(() => selected() === 1, 5000);
    label("n1", "gold");
    await until(() => selected() === 2, 5000);
    label("n3", "silver");
    await until(() => selected() === 1, 5000);
    const stored = api.get("vesmon.io/v1alpha1", "MonitoringProfile", "gold") as K8sObject;
    api.update({
      ...stored,
      spec: { ...(stored.spec as object), nodeSelector: { matchLabels: { tier: "silver" } } },
    });
    await until(() => selected() === 1 && profilesOf("n3").includes("gold"), 5000);
    api.delete("v1", "Node", "n3");
    await until(() => selected() === 0, 5000);
  });

  it("renders a node again after its NodeMonitor write failed", async () => {
    await setupWithGold();
    const errors = controller.stats.errors;
    api.failNext("PATCH", /\/nodemonitors\/n3$/, 500, 2);
    label("n3", "gold");
    await until(() => profilesOf("n3").includes("gold"), 10_000);
    expect(controller.stats.errors - errors).toBe(2);
  });

  it("renders for a profile change the nodes it selected and the nodes it now selects, and no others", async () => {
    const t = await setup();
    label("n1", "gold");
    label("n2", "gold");
    label("n3", "silver");
    api.create(goldProfile());
    await until(() => profilesOf("n1").includes("gold") && profilesOf("n2").includes("gold"), 5000);
    await t.settle();
    const rendered = controller.stats.rendered;
    const stored = api.get("vesmon.io/v1alpha1", "MonitoringProfile", "gold") as K8sObject;
    api.update({
      ...stored,
      spec: { ...(stored.spec as object), nodeSelector: { matchLabels: { tier: "silver" } } },
    });
    await until(() => profilesOf("n3").includes("gold") && !profilesOf("n1").includes("gold"), 5000);
    await until(() => !profilesOf("n2").includes("gold"), 5000);
    await t.settle();
    expect(controller.stats.rendered - rendered).toBe(3);
    expect(
      t
        .monitors()
        .filter((nm) => profilesOf(nm.metadata.name).includes("gold"))
        .map((nm) => nm.metadata.name),
    ).toEqual(["n3"]);
  });

  it("folds a burst of NodeMonitor events into a few roll-ups of the profiles they name", async () => {
    const t = await setup();
    const rollups = t.count("profile");
    // Every agent reports within a moment, as after a rollout: one status every 15 ms.
    for (const nm of t.monitors()) {
      api.updateStatus({
        ...nm,
        status: {
          observedGeneration: 1,
          profiles: [{ name: "fleet", appliedGeneration: 1, state: "Applied" }],
        },
      });
      await new Promise((r) => setTimeout(r, 15));
    }
    await t.settle();
    const after = t.count("profile") - rollups;
    expect(after).toBeGreaterThanOrEqual(1);
    expect(after).toBeLessThanOrEqual(5);
  });

  it("keeps the NodeMonitor of a node deleted and re-created under the same name", async () => {
    // The garbage collector runs a while after the delete, as kube-controller-manager's does.
    const t = await setup({ gcDelayMs: 1500 });
    const nm = () => api.get("vesmon.io/v1alpha1", "NodeMonitor", "n0");
    const owner = () => nm()?.metadata.ownerReferences?.[0]?.uid;
    const before = nm()!;
    api.delete("v1", "Node", "n0");
    const fresh = api.create(node("n0"));
    expect(fresh.metadata.uid).not.toBe(before.metadata.ownerReferences?.[0]?.uid);
    await until(() => owner() === fresh.metadata.uid, 5000);
    expect(api.collectGarbage()).toBe(0);
    await t.settle();
    expect(nm()?.metadata.uid).toBe(before.metadata.uid);
    expect(t.monitors()).toHaveLength(NODES);
  });

  it("does not repeat its own writes when it reconciles again before the watch delivers them", async () => {
    const t = await setup();
    const applies = () =>
      api.requests.filter((r) => r.method === "PATCH" && /\/nodemonitors\/[^/]+$/.test(r.path)).length;
    const statusWrites = () =>
      api.requests.filter((r) => r.path.endsWith("/monitoringprofiles/fleet/status")).length;
    const before = applies();
    api.setWatchDelay(3000);
    // A second profile on every node: each NodeMonitor names one more.
    api.create(profile("extra"));
    await until(() => applies() === before + NODES, 10_000);
    const statuses = statusWrites();
    // Another event (here a direct requeue) before the watch shows the writes: nothing is written again.
    controller.queue.add("nodemonitors");
    controller.queue.add("profile/fleet");
    await t.settle();
    expect(applies()).toBe(before + NODES);
    expect(statusWrites()).toBe(statuses);
  });
});

describe("Controller with more profiles on a node than a NodeMonitor holds", () => {
  it("keeps the oldest 16, names the rest in the NodeMonitor and in their Degraded condition, and does not retry", async () => {
    api = new FakeApiServer();
    await api.start();
    api.create(node("only"));
    for (let i = 0; i < 18; i++) api.create(profile(`p${String(i).padStart(2, "0")}`));
    controller = new Controller({
      kubeConfig: api.kubeConfig(),
      namespace: "vesmon-system",
      timers: realTimers,
      log: pino({ level: "silent" }),
    });
    await controller.start();
    void controller.run();
    const nm = () =>
      api.get("vesmon.io/v1alpha1", "NodeMonitor", "only") as
        | (K8sObject & { spec: { profiles: { name: string }[]; omittedProfiles?: string[] } })
        | undefined;
    const degraded = (p: string) =>
      (
        api.get("vesmon.io/v1alpha1", "MonitoringProfile", p) as {
          status?: { conditions?: { type: string; status: string; message: string }[]; failures?: unknown[] };
        }
      ).status;
    await until(() => nm() !== undefined, 10_000);
    expect(nm()!.spec.profiles).toHaveLength(16);
    expect(nm()!.spec.omittedProfiles).toEqual(["p16", "p17"]);
    await until(
      () => degraded("p17")?.conditions?.some((c) => c.type === "Degraded" && c.status === "True") ?? false,
      10_000,
    );
    expect(degraded("p17")?.failures).toEqual([
      { node: "only", reason: "TooManyProfiles", message: expect.stringContaining("left out") },
    ]);
    expect(degraded("p17")?.conditions?.find((c) => c.type === "Degraded")?.message).toContain("only");
    await new Promise((r) => setTimeout(r, 1500));
    expect(controller.stats.errors).toBe(0);
    const applies = api.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/nodemonitors/only"));
    expect(applies).toHaveLength(1);
  });
});
