import {
  ApiException,
  CoordinationV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
  V1MicroTime,
} from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MP, NM, node, nodeMonitor, profile } from "./fixtures.ts";
import { FakeApiServer } from "./index.ts";
import type { K8sObject } from "./types.ts";

let server: FakeApiServer;
let api: CustomObjectsApi;

beforeEach(async () => {
  server = new FakeApiServer();
  await server.start();
  api = server.kubeConfig().makeApiClient(CustomObjectsApi);
});
afterEach(() => server.close());

const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

async function refusal(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = typeof err.body === "string" ? JSON.parse(err.body) : err.body;
    return { code: err.code, body };
  }
  throw new Error("expected a refusal");
}

describe("objects", () => {
  it("creates, gets, lists, replaces and deletes a MonitoringProfile with client-node", async () => {
    const created = (await api.createClusterCustomObject({ ...MP, body: profile("a") })) as K8sObject;
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.creationTimestamp).toMatch(/Z$/);
    expect(created.metadata.generation).toBe(1);
    // Defaults applied as the API server does.
    expect((created.spec as { applyPolicy: string }).applyPolicy).toBe("BestEffort");

    const got = (await api.getClusterCustomObject({ ...MP, name: "a" })) as K8sObject;
    expect(got.metadata.resourceVersion).toBe(created.metadata.resourceVersion);

    await api.createClusterCustomObject({ ...MP, body: profile("b", { tier: "edge" }) });
    const list = (await api.listClusterCustomObject({ ...MP })) as {
      items: K8sObject[];
      metadata: { resourceVersion: string };
    };
    expect(list.items.map((i) => i.metadata.name)).toEqual(["a", "b"]);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      Number(created.metadata.resourceVersion),
    );
    const edge = (await api.listClusterCustomObject({ ...MP, labelSelector: "tier in (edge,core)" })) as {
      items: K8sObject[];
    };
    expect(edge.items.map((i) => i.metadata.name)).toEqual(["b"]);
    const byName = (await api.listClusterCustomObject({ ...MP, fieldSelector: "metadata.name=a" })) as {
      items: K8sObject[];
    };
    expect(byName.items.map((i) => i.metadata.name)).toEqual(["a"]);

    const changed = structuredClone(got);
    (changed.spec as { collectors: { name: string; interval: string }[] }).collectors[0]!.interval = "20s";
    const replaced = (await api.replaceClusterCustomObject({ ...MP, name: "a", body: changed })) as K8sObject;
    expect(replaced.metadata.generation).toBe(2);

    await api.deleteClusterCustomObject({ ...MP, name: "a" });
    expect(server.get("vesmon.io/v1alpha1", "MonitoringProfile", "a")).toBeUndefined();
    expect((await refusal(api.getClusterCustomObject({ ...MP, name: "a" }))).code).toBe(404);
  });

  it("refuses a duplicate create with 409 AlreadyExists", async () => {
    server.create(profile("a"));
    const r = await refusal(api.createClusterCustomObject({ ...MP, body: profile("a") }));
    expect(r.code).toBe(409);
    expect(r.body.reason).toBe("AlreadyExists");
  });

  it("refuses a replace with a stale resourceVersion with 409 Conflict, allows an unset one", async () => {
    const first = server.create(profile("a"));
    server.update({ ...first, metadata: { ...first.metadata, labels: { x: "1" } } });
    const r = await refusal(api.replaceClusterCustomObject({ ...MP, name: "a", body: first }));
    expect(r.code).toBe(409);
    expect(r.body.reason).toBe("Conflict");
    expect(r.body.message).toContain("the object has been modified");
    const unconditional = structuredClone(first);
    delete unconditional.metadata.resourceVersion;
    await expect(
      api.replaceClusterCustomObject({ ...MP, name: "a", body: unconditional }),
    ).resolves.toBeTruthy();
  });

  it("refuses a merge patch carrying a stale resourceVersion", async () => {
    const first = server.create(profile("a"));
    server.update({ ...first, metadata: { ...first.metadata, labels: { x: "1" } } });
    const patch = { metadata: { resourceVersion: first.metadata.resourceVersion, labels: { y: "2" } } };
    expect((await refusal(api.patchClusterCustomObject({ ...MP, name: "a", body: patch }, merge))).code).toBe(
      409,
    );
  });

  it("answers 422 naming the field for an invalid MonitoringProfile", async () => {
    const bad = profile("bad");
    (bad.spec as { collectors: { name: string; interval: string }[] }).collectors[0]!.interval = "500ms";
    const r = await refusal(api.createClusterCustomObject({ ...MP, body: bad }));
    expect(r.code).toBe(422);
    expect(r.body).toMatchObject({ kind: "Status", status: "Failure", reason: "Invalid", code: 422 });
    const causes = (r.body.details as { causes: { field: string; message: string }[] }).causes;
    expect(causes.map((c) => c.field)).toContain("spec.collectors[0].interval");
    expect(r.body.message).toContain('MonitoringProfile.vesmon.io "bad" is invalid');

    server.create(profile("good"));
    const p = await refusal(
      api.patchClusterCustomObject({ ...MP, name: "good", body: { spec: { sinks: null } } }, merge),
    );
    expect(p.code).toBe(422);
    expect(server.get("vesmon.io/v1alpha1", "MonitoringProfile", "good")?.metadata.generation).toBe(1);
  });
});

describe("generation and the status subresource", () => {
  it("bumps generation only for changes outside metadata and status", async () => {
    server.create(profile("a"));
    const label = (await api.patchClusterCustomObject(
      { ...MP, name: "a", body: { metadata: { labels: { a: "b" } } } },
      merge,
    )) as K8sObject;
    expect(label.metadata.generation).toBe(1);
    const spec = (await api.patchClusterCustomObject(
      { ...MP, name: "a", body: { spec: { applyPolicy: "Atomic" } } },
      merge,
    )) as K8sObject;
    expect(spec.metadata.generation).toBe(2);
    expect(Number(spec.metadata.resourceVersion)).toBeGreaterThan(Number(label.metadata.resourceVersion));
    // A no-op write is not a write: same RV, same generation.
    const same = (await api.patchClusterCustomObject(
      { ...MP, name: "a", body: { spec: { applyPolicy: "Atomic" } } },
      merge,
    )) as K8sObject;
    expect(same.metadata.resourceVersion).toBe(spec.metadata.resourceVersion);
  });

  it("changes only status through /status, and main-resource writes keep the stored status", async () => {
    server.create(nodeMonitor("w1"));
    const status = { observedGeneration: 1, configHash: "sha256:0123456789abcdef", agentVersion: "0.1.0" };
    const patched = (await api.patchClusterCustomObjectStatus(
      { ...NM, name: "w1", body: { status, spec: { nodeName: "other" } } },
      merge,
    )) as K8sObject;
    expect(patched.status).toMatchObject(status);
    expect((patched.spec as { nodeName: string }).nodeName).toBe("w1");
    expect(patched.metadata.generation).toBe(1);

    const withStatus = (await api.getClusterCustomObjectStatus({ ...NM, name: "w1" })) as K8sObject;
    expect(withStatus.status).toMatchObject(status);

    // A PUT of the main resource with a different status keeps the stored one, but changes spec.
    const put = structuredClone(withStatus);
    put.status = { observedGeneration: 9 };
    (put.spec as { configHash: string }).configHash = "sha256:0123456789abcdef";
    const replaced = (await api.replaceClusterCustomObject({ ...NM, name: "w1", body: put })) as K8sObject;
    expect(replaced.status).toMatchObject(status);
    expect(replaced.metadata.generation).toBe(2);

    // Status PUT (replaceClusterCustomObjectStatus) ignores spec.
    const statusPut = structuredClone(replaced);
    statusPut.status = { observedGeneration: 2 };
    (statusPut.spec as { configHash: string }).configHash = "sha256:fedcba9876543210";
    const st = (await api.replaceClusterCustomObjectStatus({
      ...NM,
      name: "w1",
      body: statusPut,
    })) as K8sObject;
    expect(st.status).toEqual({ observedGeneration: 2 });
    expect((st.spec as { configHash: string }).configHash).toBe("sha256:0123456789abcdef");
    expect(st.metadata.generation).toBe(2);
  });

  it("drops status on create of a custom resource, as the API server does", () => {
    const created = server.create({ ...nodeMonitor("w2"), status: { observedGeneration: 5 } });
    expect(created.status).toBeUndefined();
    const seeded = server.updateStatus({ ...created, status: { observedGeneration: 1 } });
    expect(seeded.status).toEqual({ observedGeneration: 1 });
  });
});

describe("patch types", () => {
  it("applies a JSON patch (add, replace, remove, test) and refuses a failed test with 422", async () => {
    server.create(profile("a", { keep: "1", drop: "1" }));
    const ops = [
      { op: "test", path: "/spec/collectors/0/name", value: "cpu" },
      { op: "add", path: "/spec/collectors/-", value: { name: "memory", interval: "10s" } },
      { op: "replace", path: "/spec/applyPolicy", value: "Atomic" },
      { op: "remove", path: "/metadata/labels/drop" },
    ];
    const out = (await api.patchClusterCustomObject({ ...MP, name: "a", body: ops })) as K8sObject;
    expect((out.spec as { collectors: unknown[] }).collectors).toHaveLength(2);
    expect(out.metadata.labels).toEqual({ keep: "1" });
    expect(server.requests.at(-1)?.contentType).toBe("application/json-patch+json");
    const r = await refusal(
      api.patchClusterCustomObject({
        ...MP,
        name: "a",
        body: [{ op: "test", path: "/spec/applyPolicy", value: "x" }],
      }),
    );
    expect(r.code).toBe(422);
  });

  it("refuses strategic merge patch on a custom resource (415) but merges it on built-in kinds", async () => {
    server.create(profile("a"));
    const smp = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
    expect((await refusal(api.patchClusterCustomObject({ ...MP, name: "a", body: {} }, smp))).code).toBe(415);
    server.create(node("n1"));
    const res = await fetch(`${server.url}/api/v1/nodes/n1`, {
      method: "PATCH",
      headers: { "Content-Type": PatchStrategy.StrategicMergePatch },
      body: JSON.stringify({ metadata: { labels: { zone: "a" } } }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as K8sObject).metadata.labels).toEqual({ zone: "a" });
  });
});

describe("discovery", () => {
  it("serves /api, /apis and the resource lists with the status subresources", async () => {
    const api = (await (await fetch(`${server.url}/api`)).json()) as { versions: string[] };
    expect(api.versions).toEqual(["v1"]);
    const apis = (await (await fetch(`${server.url}/apis`)).json()) as { groups: { name: string }[] };
    expect(apis.groups.map((g) => g.name)).toEqual(
      expect.arrayContaining(["vesmon.io", "coordination.k8s.io", "events.k8s.io"]),
    );
    const v = (await (await fetch(`${server.url}/apis/vesmon.io/v1alpha1`)).json()) as {
      groupVersion: string;
      resources: { name: string; namespaced: boolean; kind: string; verbs: string[] }[];
    };
    expect(v.groupVersion).toBe("vesmon.io/v1alpha1");
    expect(v.resources).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "monitoringprofiles", namespaced: false, kind: "MonitoringProfile" }),
        expect.objectContaining({ name: "monitoringprofiles/status", verbs: ["get", "patch", "update"] }),
        expect.objectContaining({ name: "nodemonitors", namespaced: false, kind: "NodeMonitor" }),
        expect.objectContaining({ name: "nodemonitors/status" }),
      ]),
    );
    const core = (await (await fetch(`${server.url}/api/v1`)).json()) as {
      resources: { name: string; namespaced: boolean }[];
    };
    expect(core.resources).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "nodes", namespaced: false }),
        expect.objectContaining({ name: "secrets", namespaced: true }),
        expect.objectContaining({ name: "configmaps", namespaced: true }),
      ]),
    );
    expect((await fetch(`${server.url}/apis/nope.io/v1`)).status).toBe(404);
  });
});

describe("namespaced kinds and leases", () => {
  it("keeps namespaces apart and lists across them", async () => {
    const secret = (ns: string) => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", namespace: ns },
      data: {},
    });
    server.create(secret("a"));
    server.create(secret("b"));
    const one = (await (await fetch(`${server.url}/api/v1/namespaces/a/secrets`)).json()) as {
      items: K8sObject[];
    };
    expect(one.items.map((i) => i.metadata.namespace)).toEqual(["a"]);
    const all = (await (await fetch(`${server.url}/api/v1/secrets`)).json()) as { items: K8sObject[] };
    expect(all.items.map((i) => i.metadata.namespace)).toEqual(["a", "b"]);
    expect(all.items[0]?.metadata.generation).toBeUndefined();
  });

  it("supports leader-election style Lease create and replace with resourceVersion", async () => {
    const leases = server.kubeConfig().makeApiClient(CoordinationV1Api);
    const lease: V1Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "vesmon-operator", namespace: "vesmon" },
      spec: { holderIdentity: "pod-a", leaseDurationSeconds: 15, renewTime: new V1MicroTime() },
    };
    const created = await leases.createNamespacedLease({ namespace: "vesmon", body: lease });
    expect(created.spec?.holderIdentity).toBe("pod-a");
    const read = await leases.readNamespacedLease({ name: "vesmon-operator", namespace: "vesmon" });
    // Two candidates race from the same read: the first wins, the second gets 409.
    const a = structuredClone(read);
    a.spec = { ...a.spec, holderIdentity: "pod-a", renewTime: new V1MicroTime() };
    const b = structuredClone(read);
    b.spec = { ...b.spec, holderIdentity: "pod-b" };
    await leases.replaceNamespacedLease({ name: "vesmon-operator", namespace: "vesmon", body: a });
    const r = await refusal(
      leases.replaceNamespacedLease({ name: "vesmon-operator", namespace: "vesmon", body: b }),
    );
    expect(r.code).toBe(409);
    expect(server.get("coordination.k8s.io/v1", "Lease", "vesmon-operator", "vesmon")?.spec).toMatchObject({
      holderIdentity: "pod-a",
    });
  });
});
