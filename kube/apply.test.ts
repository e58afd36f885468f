import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../test/fake-apiserver/index.ts";
import { apiErrorCode, isConflict, isNotFound, patchStatus, serverSideApply } from "./apply.ts";

const nm = (interval: string) => ({
  apiVersion: "vesmon.io/v1alpha1",
  kind: "NodeMonitor",
  metadata: { name: "node-1", labels: { "vesmon.io/node": "node-1" } },
  spec: {
    nodeName: "node-1",
    configHash: "sha256:0123456789abcdef",
    profiles: [
      {
        name: "p",
        generation: 1,
        spec: { collectors: [{ name: "cpu", interval }], sinks: [{ name: "o", stdout: {} }] },
      },
    ],
  },
});

const PATH = "/apis/vesmon.io/v1alpha1/nodemonitors/node-1";
const REF = { group: "vesmon.io", version: "v1alpha1", plural: "nodemonitors", name: "node-1" };

let api: FakeApiServer;
beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
});
afterEach(async () => {
  await api.close();
});

const patches = (path: string) => api.requests.filter((r) => r.method === "PATCH" && r.path === path);

describe("serverSideApply", () => {
  it("creates and then updates a NodeMonitor as its field manager", async () => {
    const kc = api.kubeConfig();
    const created = await serverSideApply(kc, nm("10s"), { fieldManager: "vesmon-operator", force: true });
    expect(created.metadata?.uid).toBeTruthy();
    expect(created.metadata?.generation).toBe(1);

    const updated = await serverSideApply(kc, nm("5s"), { fieldManager: "vesmon-operator", force: true });
    expect(updated.metadata?.generation).toBe(2);
    expect(updated.spec.profiles[0]?.spec.collectors[0]?.interval).toBe("5s");
    const stored = api.get("vesmon.io/v1alpha1", "NodeMonitor", "node-1")!;
    expect(stored.metadata.managedFields?.map((m) => [m.manager, m.operation])).toEqual([
      ["vesmon-operator", "Apply"],
    ]);

    const sent = patches(PATH);
    expect(sent).toHaveLength(2);
    for (const r of sent) {
      expect(r.contentType).toBe("application/apply-patch+yaml");
      const q = new URLSearchParams(r.query);
      expect(q.get("fieldManager")).toBe("vesmon-operator");
      expect(q.get("force")).toBe("true");
    }
  });

  it("fails with a 409 conflict without force when another manager owns the field", async () => {
    const kc = api.kubeConfig();
    await serverSideApply(kc, nm("10s"), { fieldManager: "someone-else" });
    const err = await serverSideApply(kc, nm("5s"), { fieldManager: "vesmon-operator" }).catch((e) => e);
    expect(isConflict(err)).toBe(true);
    expect(apiErrorCode(err)).toBe(409);
    expect(new URLSearchParams(patches(PATH).at(-1)!.query).get("force")).toBe("false");
    const forced = await serverSideApply(kc, nm("5s"), { fieldManager: "vesmon-operator", force: true });
    expect(forced.spec.profiles[0]?.spec.collectors[0]?.interval).toBe("5s");
  });

  it("drops resourceVersion and managedFields from the applied object", async () => {
    const kc = api.kubeConfig();
    const created = await serverSideApply(kc, nm("10s"), { fieldManager: "vesmon-operator" });
    await serverSideApply(
      kc,
      { ...nm("5s"), metadata: { ...created.metadata!, resourceVersion: "1" } },
      {
        fieldManager: "vesmon-operator",
      },
    );
    const body = patches(PATH).at(-1)!.body as { metadata: Record<string, unknown> };
    expect(body.metadata.resourceVersion).toBeUndefined();
    expect(body.metadata.managedFields).toBeUndefined();
  });
});

describe("patchStatus", () => {
  it("replaces the whole status through the /status subresource, so keys left out are removed", async () => {
    const kc = api.kubeConfig();
    await serverSideApply(kc, nm("10s"), { fieldManager: "vesmon-operator" });
    const out = await patchStatus(
      kc,
      REF,
      { observedGeneration: 1, agentVersion: "0.1.0" },
      { fieldManager: "vesmon-agent" },
    );
    expect(out.status).toMatchObject({ observedGeneration: 1, agentVersion: "0.1.0" });
    await patchStatus(kc, REF, { configHash: "sha256:0123456789abcdef", agentVersion: "0.1.0" });
    const stored = api.get("vesmon.io/v1alpha1", "NodeMonitor", "node-1")!;
    // observedGeneration was left out of the second write: it is gone, not kept as a merge patch keeps it.
    expect(stored.status).toEqual({ agentVersion: "0.1.0", configHash: "sha256:0123456789abcdef" });
    expect(stored.metadata.generation).toBe(1);
    const sent = patches(`${PATH}/status`);
    expect(sent).toHaveLength(2);
    expect(sent.map((r) => r.contentType)).toEqual([
      "application/json-patch+json",
      "application/json-patch+json",
    ]);
    expect(new URLSearchParams(sent[0]!.query).get("fieldManager")).toBe("vesmon-agent");
    expect(sent[0]!.body).toEqual([
      { op: "add", path: "/status", value: { observedGeneration: 1, agentVersion: "0.1.0" } },
    ]);
  });

  it("reports a missing object as not found", async () => {
    const err = await patchStatus(api.kubeConfig(), REF, { agentVersion: "x" }).catch((e) => e);
    expect(isNotFound(err)).toBe(true);
    expect(isConflict(err)).toBe(false);
  });
});

describe("error helpers", () => {
  it("read client-node ApiException codes and ignore anything else", async () => {
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const missing = await core.readNamespacedSecret({ name: "nope", namespace: "default" }).catch((e) => e);
    expect(isNotFound(missing)).toBe(true);
    const body = { apiVersion: "v1", kind: "Secret", metadata: { name: "s" } };
    await core.createNamespacedSecret({ namespace: "default", body });
    const dup = await core.createNamespacedSecret({ namespace: "default", body }).catch((e) => e);
    expect(isConflict(dup)).toBe(true);
    expect(apiErrorCode(new Error("x"))).toBeUndefined();
    expect(apiErrorCode(undefined)).toBeUndefined();
    expect(isNotFound({ code: "404" })).toBe(false);
    // The custom objects client goes through the same exception type.
    const custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
    const gone = await custom.getClusterCustomObject({ ...REF }).catch((e) => e);
    expect(apiErrorCode(gone)).toBe(404);
  });
});
