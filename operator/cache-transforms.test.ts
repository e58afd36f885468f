import { describe, expect, it } from "vitest";
import { nodeForCache, nodeMonitorForCache, withoutManagedFields } from "./cache-transforms.ts";

const managedFields = [
  { manager: "kubelet", operation: "Update", fieldsType: "FieldsV1", fieldsV1: { "f:status": {} } },
];

describe("informer cache transforms", () => {
  it("drops managedFields and keeps the rest", () => {
    const secret = {
      metadata: { name: "s", namespace: "ns", resourceVersion: "7", labels: { a: "b" }, managedFields },
      data: { k: "dg==" },
    };
    expect(withoutManagedFields(secret)).toEqual({
      metadata: { name: "s", namespace: "ns", resourceVersion: "7", labels: { a: "b" } },
      data: { k: "dg==" },
    });
    expect(secret.metadata.managedFields).toBe(managedFields);
  });

  it("keeps of a Node only its name, uid, labels and resourceVersion", () => {
    const node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: "n1",
        uid: "u1",
        resourceVersion: "9",
        labels: { zone: "a" },
        annotations: { "csi.volume.kubernetes.io/nodeid": "{}" },
        managedFields,
      },
      status: { images: [{ names: ["i"], sizeBytes: 1 }] },
    };
    expect(nodeForCache(node)).toEqual({
      metadata: { name: "n1", uid: "u1", resourceVersion: "9", labels: { zone: "a" } },
    });
  });

  it("keeps of a NodeMonitor its status, configHash and the profiles' names and uids (not what older operators embedded)", () => {
    const status = {
      observedGeneration: 2,
      configHash: "sha256:1",
      profiles: [{ name: "p", state: "Applied" }],
    };
    const nm = {
      apiVersion: "vesmon.io/v1alpha1",
      kind: "NodeMonitor",
      metadata: {
        name: "n1",
        resourceVersion: "3",
        ownerReferences: [{ kind: "Node", uid: "u1" }],
        managedFields,
      },
      spec: {
        nodeName: "n1",
        configHash: "sha256:1",
        profiles: [
          { name: "p", uid: "pu", generation: 4, spec: { collectors: [{ name: "cpu" }], sinks: [] } },
        ],
        omittedProfiles: ["q"],
      },
      status,
    };
    expect(nodeMonitorForCache(nm)).toEqual({
      apiVersion: "vesmon.io/v1alpha1",
      kind: "NodeMonitor",
      metadata: { name: "n1", resourceVersion: "3", ownerReferences: [{ kind: "Node", uid: "u1" }] },
      spec: {
        nodeName: "n1",
        configHash: "sha256:1",
        profiles: [{ name: "p", uid: "pu" }],
        omittedProfiles: ["q"],
      },
      status,
    });
  });
});
