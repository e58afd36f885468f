import { describe, expect, it } from "vitest";
import type { MonitoringProfileSpec } from "../api/v1alpha1/types.ts";
import { validateNodeMonitor } from "../api/v1alpha1/validators.ts";
import {
  canonicalJson,
  changedProfiles,
  contentHash,
  desiredNodeMonitor,
  desiredNodeMonitors,
  type NodeInput,
  type ProfileInput,
  renderNodeMonitor,
  selectNodes,
} from "./render.ts";

function spec(extra: Partial<MonitoringProfileSpec> = {}): MonitoringProfileSpec {
  return {
    collectors: [{ name: "cpu", interval: "10s" }],
    events: {
      measurementInterval: "60s",
      heartbeatInterval: "60s",
      vesVersion: "7.2.1",
      mode: "host",
      naming: { eventNamePublisher: "Vesmon-Test" },
    },
    faults: { vmLifecycle: true, collectorFailures: true },
    sinks: [{ name: "console", stdout: { pretty: false } }],
    applyPolicy: "BestEffort",
    ...extra,
  };
}

const node = { name: "worker-1", uid: "0b7c1d2e-0000-4000-8000-000000000001" };
const a: ProfileInput = {
  name: "alpha",
  uid: "a1a1a1a1-0000-4000-8000-000000000001",
  generation: 3,
  spec: spec({ nodeSelector: { matchLabels: { zone: "a" } } }),
};
const b: ProfileInput = { name: "beta", generation: 1, spec: spec() };

describe("canonicalJson", () => {
  it("sorts keys at every level, keeps array order and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: undefined, w: null }, 3], c: "s" })).toBe(
      '{"a":[{"w":null,"y":2},3],"b":1,"c":"s"}',
    );
  });
});

describe("renderNodeMonitor", () => {
  it("renders a NodeMonitor that validates, owned by its Node and labelled", () => {
    const nm = renderNodeMonitor(node, [b, a]);
    const checked = validateNodeMonitor(nm);
    expect(checked.ok ? [] : checked.errors).toEqual([]);
    expect(nm.apiVersion).toBe("vesmon.io/v1alpha1");
    expect(nm.kind).toBe("NodeMonitor");
    expect(nm.metadata).toEqual({
      name: "worker-1",
      labels: { "app.kubernetes.io/managed-by": "vesmon-operator", "vesmon.io/node": "worker-1" },
      ownerReferences: [
        {
          apiVersion: "v1",
          kind: "Node",
          name: "worker-1",
          uid: node.uid,
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    });
    expect(nm.spec.nodeName).toBe("worker-1");
    // Names (and uids) only: the agent reads each profile's spec itself.
    expect(nm.spec.profiles).toEqual([{ name: "alpha", uid: a.uid }, { name: "beta" }]);
    expect(nm.spec.configHash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("does not modify the profiles it is given", () => {
    const before = structuredClone(a);
    renderNodeMonitor(node, [a]);
    expect(a).toEqual(before);
  });

  it("hashes the same whatever the profile order or key order", () => {
    const reordered: ProfileInput = {
      spec: Object.fromEntries(Object.entries(b.spec).reverse()) as unknown as MonitoringProfileSpec,
      generation: 1,
      name: "beta",
    };
    const h1 = renderNodeMonitor(node, [a, b]).spec.configHash;
    const h2 = renderNodeMonitor(node, [reordered, a]).spec.configHash;
    expect(h2).toBe(h1);
    expect(renderNodeMonitor(node, [a, b])).toEqual(renderNodeMonitor(node, [b, a]));
  });

  it("changes the hash with the set of profiles (names, uids), not with their generations or specs", () => {
    const base = renderNodeMonitor(node, [a, b]).spec.configHash;
    const variants: ProfileInput[][] = [[a], [{ ...a, name: "alpha2" }, b], [{ ...a, uid: "other" }, b]];
    const hashes = variants.map((v) => renderNodeMonitor(node, v).spec.configHash);
    expect(new Set([base, ...hashes]).size).toBe(variants.length + 1);
    const edits: ProfileInput[][] = [
      [{ ...a, generation: 4 }, b],
      [a, { ...b, spec: spec({ collectors: [{ name: "cpu", interval: "5s" }] }) }],
      [a, { ...b, spec: spec({ applyPolicy: "Atomic" }) }],
    ];
    for (const v of edits) expect(renderNodeMonitor(node, v)).toEqual(renderNodeMonitor(node, [a, b]));
  });

  it("ignores the nodeSelector: it is not part of what the node runs", () => {
    const other = { ...a, spec: { ...a.spec, nodeSelector: { matchLabels: { zone: "b" } } } };
    expect(renderNodeMonitor(node, [other]).spec.configHash).toBe(
      renderNodeMonitor(node, [a]).spec.configHash,
    );
  });

  it("is the hash of the rendered profiles list", () => {
    const nm = renderNodeMonitor(node, [a]);
    expect(nm.spec.configHash).toBe(contentHash(nm.spec.profiles));
  });

  it("leaves out the node label when the node name is not a valid label value", () => {
    const long = `${"n".repeat(60)}.example.com`;
    const nm = renderNodeMonitor({ name: long, uid: "u" }, [b]);
    expect(nm.metadata.labels).toEqual({ "app.kubernetes.io/managed-by": "vesmon-operator" });
    expect(validateNodeMonitor(nm).ok).toBe(true);
  });
});

describe("selectNodes and desiredNodeMonitors", () => {
  const nodes: NodeInput[] = [
    { name: "worker-2", uid: "u2", labels: { zone: "b" } },
    { name: "worker-1", uid: "u1", labels: { zone: "a" } },
    { name: "infra-1", uid: "u3", labels: {} },
  ];
  const onlyA: ProfileInput = {
    ...b,
    name: "only-a",
    spec: spec({ nodeSelector: { matchLabels: { zone: "a" } } }),
  };
  const none: ProfileInput = {
    ...b,
    name: "none",
    spec: spec({ nodeSelector: { matchLabels: { zone: "z" } } }),
  };

  it("maps each selected node to the sorted names of the profiles selecting it", () => {
    expect([...selectNodes([onlyA, b], nodes)]).toEqual([
      ["infra-1", ["beta"]],
      ["worker-1", ["beta", "only-a"]],
      ["worker-2", ["beta"]],
    ]);
  });

  it("leaves out nodes no profile selects", () => {
    expect([...selectNodes([onlyA, none], nodes)]).toEqual([["worker-1", ["only-a"]]]);
    expect(desiredNodeMonitors([onlyA, none], nodes).map((nm) => nm.metadata.name)).toEqual(["worker-1"]);
    expect(desiredNodeMonitors([], nodes)).toEqual([]);
  });

  it("renders one NodeMonitor per selected node with its profiles", () => {
    const out = desiredNodeMonitors([onlyA, b], nodes);
    expect(out.map((nm) => [nm.metadata.name, nm.spec.profiles?.map((p) => p.name)])).toEqual([
      ["infra-1", ["beta"]],
      ["worker-1", ["beta", "only-a"]],
      ["worker-2", ["beta"]],
    ]);
    expect(out[1]).toEqual(renderNodeMonitor({ name: "worker-1", uid: "u1" }, [onlyA, b]));
    // Nodes running the same profiles run the same configuration.
    expect(out[0]?.spec.configHash).toBe(out[2]?.spec.configHash);
    for (const nm of out) expect(validateNodeMonitor(nm).ok).toBe(true);
  });

  it("renders one node as desiredNodeMonitors does, and nothing for a node no profile selects", () => {
    const all = desiredNodeMonitors([onlyA, b], nodes);
    for (const n of nodes)
      expect(desiredNodeMonitor([b, onlyA], n)).toEqual(all.find((nm) => nm.metadata.name === n.name));
    expect(desiredNodeMonitor([onlyA, none], nodes[2]!)).toBeUndefined();
  });

  it("names the profiles whose rendering differs, in both versions when changed", () => {
    const before = new Map([
      [onlyA.name, onlyA],
      [b.name, b],
      [none.name, none],
    ]);
    const moved: ProfileInput = {
      ...onlyA,
      generation: 2,
      spec: spec({ nodeSelector: { matchLabels: { zone: "b" } } }),
    };
    const after = new Map<string, ProfileInput>([
      [onlyA.name, moved],
      [b.name, { ...b, spec: structuredClone(b.spec) }],
      ["new", { ...b, name: "new" }],
    ]);
    expect(changedProfiles(before, after).map((p) => `${p.name}@${p.generation}`)).toEqual([
      "only-a@1",
      "only-a@2",
      "none@1",
      "new@1",
    ]);
    expect(changedProfiles(before, before)).toEqual([]);
  });

  it("leaves out a profile whose edit keeps its selector: its NodeMonitors stay as they are", () => {
    const before = new Map([[b.name, b]]);
    const edited: ProfileInput = {
      ...b,
      generation: 2,
      spec: spec({ collectors: [{ name: "memory", interval: "5s" }], applyPolicy: "Atomic" }),
    };
    expect(changedProfiles(before, new Map([[b.name, edited]]))).toEqual([]);
    const recreated: ProfileInput = { ...b, uid: "new-uid", generation: 1 };
    expect(changedProfiles(before, new Map([[b.name, recreated]])).map((p) => p.uid)).toEqual([
      undefined,
      "new-uid",
    ]);
  });
});
