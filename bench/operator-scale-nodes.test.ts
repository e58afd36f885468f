import { describe, expect, it } from "vitest";
import { agentNodes } from "./operator-scale.ts";
import {
  benchNode,
  benchNodes,
  benchProfiles,
  CHANGED_PROFILE,
  expectedSelection,
  nodeLabels,
} from "./operator-scale-fixture.ts";
import { heartbeatStatus, IMAGES_PER_NODE } from "./operator-scale-nodes.ts";

const AT = "2026-12-02T10:00:00Z";
const bytes = (o: unknown) => Buffer.byteLength(JSON.stringify(o));

describe("realistic bench Nodes", () => {
  it("are about 15 KB of valid JSON, mostly status", () => {
    for (const i of [0, 1, 7, 1234, 4999]) {
      const node = benchNode(i, AT);
      const size = bytes(node);
      expect(size).toBeGreaterThan(14_000);
      expect(size).toBeLessThan(17_000);
      expect(JSON.parse(JSON.stringify(node))).toEqual(node);
      expect(bytes(node.status)).toBeGreaterThan(size * 0.85);
    }
  });

  it("carry 50 images, 10 conditions, addresses, capacity, allocatable and nodeInfo", () => {
    const { metadata, status } = benchNode(42, AT) as unknown as {
      metadata: { name: string; labels: Record<string, string> };
      status: {
        images: { names: string[]; sizeBytes: number }[];
        conditions: { type: string; lastHeartbeatTime: string }[];
        addresses: { type: string; address: string }[];
        capacity: Record<string, string>;
        allocatable: Record<string, string>;
        nodeInfo: { kubeletVersion: string };
      };
    };
    expect(metadata.labels).toEqual(nodeLabels(42));
    expect(status.images).toHaveLength(IMAGES_PER_NODE);
    expect(new Set(status.images.map((im) => im.names[0])).size).toBe(IMAGES_PER_NODE);
    expect(status.images.every((im) => /@sha256:[0-9a-f]{64}$/.test(im.names[0]!))).toBe(true);
    expect(status.conditions).toHaveLength(10);
    expect(status.conditions.map((c) => c.type)).toContain("Ready");
    expect(status.addresses.find((a) => a.type === "Hostname")?.address).toBe(metadata.name);
    expect(Object.keys(status.capacity)).toEqual(Object.keys(status.allocatable));
    expect(status.nodeInfo.kubeletVersion).toMatch(/^v1\./);
  });

  it("are deterministic, and differ between nodes", () => {
    expect(JSON.stringify(benchNode(17, AT))).toBe(JSON.stringify(benchNode(17, AT)));
    expect(JSON.stringify(benchNode(17, AT))).not.toBe(JSON.stringify(benchNode(18, AT)));
  });

  it("change only the heartbeat times on a kubelet's status report", () => {
    const status = benchNode(3, AT).status as Record<string, unknown>;
    const later = heartbeatStatus(status, "2026-12-02T10:05:00Z");
    const conditions = later.conditions as { lastHeartbeatTime: string; lastTransitionTime: string }[];
    expect(conditions.every((c) => c.lastHeartbeatTime === "2026-12-02T10:05:00Z")).toBe(true);
    const strip = (s: Record<string, unknown>) =>
      JSON.stringify({
        ...s,
        conditions: (s.conditions as object[]).map((c) => ({ ...c, lastHeartbeatTime: "" })),
      });
    expect(strip(later)).toBe(strip(status));
    expect(bytes(later)).toBe(bytes(status));
  });
});

describe("agent placement", () => {
  it("spreads the agents over the nodes the changed profile selects", () => {
    const selection = expectedSelection(benchNodes(5000), benchProfiles());
    const nodes = agentNodes(selection, 50);
    expect(new Set(nodes).size).toBe(50);
    for (const n of nodes) expect(selection.get(n)).toContain(CHANGED_PROFILE);
    const selected = [...selection].filter(([, p]) => p.includes(CHANGED_PROFILE)).map(([n]) => n);
    // The last agent sits in the last tenth of the selected nodes, not among the first 50.
    expect(selected.indexOf(nodes.at(-1)!)).toBeGreaterThan(selected.length * 0.9);
  });
});
