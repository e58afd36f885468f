import {
  ApiException,
  CustomObjectsApi,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MP, NM, node, nodeMonitor, profile, until } from "./fixtures.ts";
import { FakeApiServer } from "./index.ts";
import type { K8sObject } from "./types.ts";

let server: FakeApiServer;
let objects: KubernetesObjectApi;
let api: CustomObjectsApi;

beforeEach(async () => {
  server = new FakeApiServer();
  await server.start();
  objects = KubernetesObjectApi.makeApiClient(server.kubeConfig());
  api = server.kubeConfig().makeApiClient(CustomObjectsApi);
});
afterEach(() => server.close());

const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const SSA = PatchStrategy.ServerSideApply;

function applyAs(obj: K8sObject, manager: string, force?: boolean): Promise<KubernetesObject> {
  return objects.patch(obj as KubernetesObject, undefined, undefined, manager, force, SSA);
}

async function code(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    return { code: err.code, body: typeof err.body === "string" ? JSON.parse(err.body) : err.body };
  }
  throw new Error("expected a refusal");
}

type Collector = { name: string; interval?: string };
const collectors = (o: unknown) => ((o as K8sObject).spec as { collectors: Collector[] }).collectors;

describe("server-side apply", () => {
  it("creates when absent, records managedFields and sends what client-node sends", async () => {
    const created = (await applyAs(profile("a"), "vesmon-operator", true)) as K8sObject;
    expect(created.metadata.generation).toBe(1);
    const patch = server.requests.find((r) => r.method === "PATCH");
    expect(patch?.contentType).toBe("application/apply-patch+yaml");
    expect(patch?.query).toContain("fieldManager=vesmon-operator");
    expect(patch?.query).toContain("force=true");
    expect(server.requests.some((r) => r.method === "GET" && r.path === "/apis/vesmon.io/v1alpha1")).toBe(
      true,
    );
    const mf = created.metadata.managedFields ?? [];
    expect(mf).toHaveLength(1);
    expect(mf[0]).toMatchObject({ manager: "vesmon-operator", operation: "Apply", fieldsType: "FieldsV1" });
    expect(mf[0]?.fieldsV1).toMatchObject({
      "f:spec": { "f:collectors": { 'k:{"name":"cpu"}': { ".": {}, "f:name": {}, "f:interval": {} } } },
    });
  });

  it("conflicts (409) when another manager owns a field with a different value, and succeeds with force", async () => {
    await applyAs(profile("a"), "operator");
    const other = profile("a");
    collectors(other)[0]!.interval = "30s";
    (other.spec as { events: unknown }).events = { measurementInterval: "60s" };
    const r = await code(applyAs(other, "agent"));
    expect(r.code).toBe(409);
    expect(r.body.reason).toBe("Conflict");
    expect(r.body.message).toContain('conflict with "operator"');
    const causes = (r.body.details as { causes: { field: string }[] }).causes;
    expect(causes.map((c) => c.field)).toEqual(['.spec.collectors[name="cpu"].interval']);

    const forced = (await applyAs(other, "agent", true)) as K8sObject;
    expect(collectors(forced)[0]?.interval).toBe("30s");
    const managers = (forced.metadata.managedFields ?? []).map((m) => m.manager).sort();
    expect(managers).toEqual(["agent", "operator"]);
    // The same value from two managers is shared ownership, not a conflict.
    await expect(applyAs(profile("a"), "third")).rejects.toBeInstanceOf(ApiException);
    const shared = profile("a");
    collectors(shared)[0]!.interval = "30s";
    await expect(applyAs(shared, "third")).resolves.toBeTruthy();
  });

  it("merges list-maps by key and removes what the manager stopped applying", async () => {
    const two = profile("a");
    collectors(two).push({ name: "memory", interval: "10s" });
    await applyAs(two, "operator");
    // Another manager adds its own collector.
    const mine = profile("a");
    (mine.spec as { collectors: Collector[] }).collectors = [{ name: "load", interval: "10s" }];
    (mine.spec as { sinks: unknown[] }).sinks = [{ name: "console", stdout: {} }];
    const merged = (await applyAs(mine, "agent")) as K8sObject;
    expect(collectors(merged).map((c) => c.name)).toEqual(["cpu", "memory", "load"]);
    // The operator drops memory: it goes; load (the agent's) stays.
    const after = (await applyAs(profile("a"), "operator")) as K8sObject;
    expect(collectors(after).map((c) => c.name)).toEqual(["cpu", "load"]);
    expect(after.metadata.generation).toBe(3);
  });

  it("takes ownership on merge-patch updates, so a later apply of another value conflicts", async () => {
    await applyAs(profile("a"), "operator");
    await api.patchClusterCustomObject(
      { ...MP, name: "a", fieldManager: "kubectl-edit", body: { spec: { applyPolicy: "Atomic" } } },
      merge,
    );
    const mine = profile("a");
    (mine.spec as { applyPolicy: string }).applyPolicy = "BestEffort";
    const r = await code(applyAs(mine, "operator"));
    expect(r.code).toBe(409);
    expect(r.body.message).toContain('conflict with "kubectl-edit"');
  });

  it("applies status through /status without touching spec or generation, merging conditions by type", async () => {
    server.create(nodeMonitor("w1"));
    const cond = (type: string, status: string) => ({
      type,
      status,
      reason: "Test",
      message: "",
      lastTransitionTime: "2026-01-01T00:00:00Z",
    });
    const apply = async (manager: string, conditions: unknown[]) => {
      const res = await fetch(
        `${server.url}/apis/vesmon.io/v1alpha1/nodemonitors/w1/status?fieldManager=${manager}`,
        {
          method: "PATCH",
          headers: { "Content-Type": SSA },
          body: `apiVersion: vesmon.io/v1alpha1\nkind: NodeMonitor\nmetadata:\n  name: w1\nstatus:\n  conditions: ${JSON.stringify(conditions)}\n`,
        },
      );
      return { status: res.status, body: (await res.json()) as K8sObject };
    };
    expect((await apply("agent", [cond("Applied", "True")])).status).toBe(200);
    const both = await apply("operator", [cond("Degraded", "False")]);
    const types = (both.body.status as { conditions: { type: string }[] }).conditions.map((c) => c.type);
    expect(types).toEqual(["Applied", "Degraded"]);
    expect(both.body.metadata.generation).toBe(1);
    expect(
      both.body.metadata.managedFields?.every((m) => m.subresource === "status" || m.operation === "Update"),
    ).toBe(true);
    expect((await apply("operator", [cond("Applied", "False")])).status).toBe(409);
  });

  it("requires a fieldManager for apply", async () => {
    server.create(profile("a"));
    const res = await fetch(`${server.url}/apis/vesmon.io/v1alpha1/monitoringprofiles/a`, {
      method: "PATCH",
      headers: { "Content-Type": SSA },
      body: JSON.stringify(profile("a")),
    });
    expect(res.status).toBe(422);
  });
});

describe("finalizers", () => {
  it("sets deletionTimestamp and keeps the object until the last finalizer goes", async () => {
    const mp = profile("a");
    mp.metadata.finalizers = ["vesmon.io/cleanup", "other/x"];
    server.create(mp);
    const pending = (await api.deleteClusterCustomObject({ ...MP, name: "a" })) as K8sObject;
    expect(pending.metadata.deletionTimestamp).toBeTruthy();
    const stored = server.get("vesmon.io/v1alpha1", "MonitoringProfile", "a");
    expect(stored?.metadata.deletionTimestamp).toBeTruthy();
    expect(stored?.metadata.generation).toBe(2);
    // deletionTimestamp cannot be cleared by a write; new finalizers are refused while deleting.
    const cleared = (await api.patchClusterCustomObject(
      { ...MP, name: "a", body: { metadata: { deletionTimestamp: null, finalizers: ["other/x"] } } },
      merge,
    )) as K8sObject;
    expect(cleared.metadata.deletionTimestamp).toBe(stored?.metadata.deletionTimestamp);
    expect(
      (
        await code(
          api.patchClusterCustomObject(
            { ...MP, name: "a", body: { metadata: { finalizers: ["other/x", "new/y"] } } },
            merge,
          ),
        )
      ).code,
    ).toBe(422);
    await api.patchClusterCustomObject({ ...MP, name: "a", body: { metadata: { finalizers: null } } }, merge);
    expect(server.get("vesmon.io/v1alpha1", "MonitoringProfile", "a")).toBeUndefined();
  });
});

describe("owner-reference garbage collection", () => {
  it("deletes a NodeMonitor owned by a deleted Node, and keeps one with a live owner", async () => {
    const n1 = server.create(node("n1"));
    const n2 = server.create(node("n2"));
    const ref = (n: K8sObject) => ({
      apiVersion: "v1",
      kind: "Node",
      name: n.metadata.name,
      uid: n.metadata.uid!,
    });
    server.create({ ...nodeMonitor("n1"), metadata: { name: "n1", ownerReferences: [ref(n1)] } });
    server.create({
      ...nodeMonitor("both"),
      metadata: { name: "both", ownerReferences: [ref(n1), ref(n2)] },
    });
    const res = await fetch(`${server.url}/api/v1/nodes/n1`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { kind: string; status: string }).status).toBe("Success");
    // Asynchronous, as the real garbage collector: the dependent is still there right after the delete.
    expect(server.get("vesmon.io/v1alpha1", "NodeMonitor", "n1")).toBeDefined();
    await until(() => server.get("vesmon.io/v1alpha1", "NodeMonitor", "n1") === undefined);
    expect(server.get("vesmon.io/v1alpha1", "NodeMonitor", "both")).toBeDefined();
    server.delete("v1", "Node", "n2");
    await until(() => server.list("vesmon.io/v1alpha1", "NodeMonitor").length === 0);
  });

  it("compares owners by uid: an owner re-created under the same name does not keep the old dependent", () => {
    const old = server.create(node("n1"));
    const ref = { apiVersion: "v1", kind: "Node", name: "n1", uid: old.metadata.uid! };
    server.create({ ...nodeMonitor("n1"), metadata: { name: "n1", ownerReferences: [ref] } });
    server.delete("v1", "Node", "n1");
    const fresh = server.create(node("n1"));
    expect(server.collectGarbage()).toBe(1);
    expect(server.get("vesmon.io/v1alpha1", "NodeMonitor", "n1")).toBeUndefined();
    server.create({
      ...nodeMonitor("n1"),
      metadata: { name: "n1", ownerReferences: [{ ...ref, uid: fresh.metadata.uid! }] },
    });
    expect(server.collectGarbage()).toBe(0);
    // An owner that never existed does not keep a dependent either.
    server.create({
      ...nodeMonitor("x"),
      metadata: { name: "x", ownerReferences: [{ ...ref, uid: "nope" }] },
    });
    expect(server.collectGarbage()).toBe(1);
  });

  it("leaves a dependent whose owner's kind is not served, as the real collector cannot resolve it", () => {
    // A virt-launcher pod owned by its VirtualMachineInstance, on a server without KubeVirt's CRDs.
    server.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "virt-launcher-a",
        namespace: "default",
        ownerReferences: [
          { apiVersion: "kubevirt.io/v1", kind: "VirtualMachineInstance", name: "a", uid: "u1" },
        ],
      },
      spec: { nodeName: "n1" },
    });
    expect(server.collectGarbage()).toBe(0);
    expect(server.get("v1", "Pod", "virt-launcher-a", "default")).toBeDefined();
  });

  it("orphans dependents with propagationPolicy=Orphan", async () => {
    const n1 = server.create(node("n1"));
    const ref = { apiVersion: "v1", kind: "Node", name: "n1", uid: n1.metadata.uid! };
    server.create({ ...nodeMonitor("n1"), metadata: { name: "n1", ownerReferences: [ref] } });
    await fetch(`${server.url}/api/v1/nodes/n1?propagationPolicy=Orphan`, { method: "DELETE" });
    expect(server.get("vesmon.io/v1alpha1", "NodeMonitor", "n1")?.metadata.ownerReferences).toBeUndefined();
  });
});

describe("knobs", () => {
  it("injects failures a given number of times and records every request", async () => {
    server.create(profile("a"));
    server.failNext("get", /monitoringprofiles\/a$/, 503, 2);
    expect((await code(api.getClusterCustomObject({ ...MP, name: "a" }))).code).toBe(503);
    expect((await code(api.getClusterCustomObject({ ...MP, name: "a" }))).code).toBe(503);
    await expect(api.getClusterCustomObject({ ...MP, name: "a" })).resolves.toBeTruthy();
    expect(server.requests.filter((r) => r.path.endsWith("/a"))).toHaveLength(3);
  });

  it("delays responses by the configured latency", async () => {
    server.setLatency(120);
    const t = Date.now();
    await api.listClusterCustomObject({ ...NM });
    expect(Date.now() - t).toBeGreaterThanOrEqual(100);
  });
});
