import { describe, expect, it } from "vitest";
import { validateNodeMonitorView, validateProfileSpec, validateRequest } from "./cluster-validation.ts";
import { profileForAgent, verdictOf } from "./profile-view.ts";

// What the agent checks of what the API server hands it, before running anything.
describe("validateProfileSpec", () => {
  it("applies the profile's defaults and leaves the nodeSelector out", () => {
    const r = validateProfileSpec("p", {
      collectors: [{ name: "cpu" }],
      sinks: [{ name: "out", stdout: {} }],
    });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.spec.events.measurementInterval).toBe("60s");
      expect(r.spec).not.toHaveProperty("nodeSelector");
    }
  });

  it("refuses a corrupt or hostile spec with a message naming the field", () => {
    const bad = [
      { collectors: [{ name: "cpu", interval: "soon" }], sinks: [{ name: "out", stdout: {} }] },
      { collectors: "all", sinks: [] },
      null,
      { collectors: [{ name: "cpu" }], sinks: [{ name: "out", stdout: {} }], __proto__: { x: 1 }, extra: 1 },
    ];
    const messages = bad.map((s) => {
      const r = validateProfileSpec("p", s);
      return r.ok ? "" : r.message;
    });
    expect(messages[0]).toMatch(/spec\.collectors\[0\]\.interval/);
    expect(messages[1]).toMatch(/spec\.collectors/);
    expect(messages[2]).toMatch(/spec/);
    expect(messages[3]).toMatch(/extra/);
  });
});

describe("validateNodeMonitorView", () => {
  const nm = (profiles: unknown) => ({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "NodeMonitor",
    metadata: { name: "n1" },
    spec: { nodeName: "n1", configHash: "sha256:0123456789abcdef", profiles },
  });

  it("reads the names (and uids) a current operator writes", () => {
    expect(validateNodeMonitorView(nm([{ name: "a", uid: "u" }, { name: "b" }]))).toEqual({
      ok: true,
      configHash: "sha256:0123456789abcdef",
      entries: [{ name: "a", uid: "u" }, { name: "b" }],
    });
  });

  it("reads the embedded specs an older operator wrote, defaults applied", () => {
    const v = validateNodeMonitorView(
      nm([
        {
          name: "a",
          generation: 3,
          spec: { collectors: [{ name: "cpu" }], sinks: [{ name: "o", stdout: {} }] },
        },
      ]),
    );
    expect(v.ok && v.entries[0]?.generation).toBe(3);
    expect(v.ok && v.entries[0]?.spec?.collectors[0]?.interval).toBe("10s");
  });

  it("refuses a NodeMonitor that does not validate, naming the field", () => {
    const v = validateNodeMonitorView(nm([{ name: 42 }]));
    expect(v.ok).toBe(false);
    expect(!v.ok && v.message).toMatch(/spec\.profiles\[0\]\.name/);
  });

  it("answers a request: the NodeMonitor only when asked, each spec under its key", () => {
    const r = validateRequest({ profiles: [{ key: "u/1", name: "p", spec: { collectors: [] } }] });
    expect(r.nodeMonitor).toBeUndefined();
    expect(r.profiles["u/1"]?.ok).toBe(false);
  });
});

describe("profileForAgent and verdictOf", () => {
  const stored = {
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name: "p", uid: "u", generation: 3, resourceVersion: "9", managedFields: [{ manager: "x" }] },
    spec: { nodeSelector: { matchLabels: { a: "b" } }, collectors: [{ name: "cpu" }] },
    status: {
      observedGeneration: 3,
      selectedNodes: 5000,
      failures: [{ node: "n", reason: "r", message: "m" }],
      conditions: [
        { type: "Ready", status: "False", observedGeneration: 3 },
        { type: "Accepted", status: "True", observedGeneration: 3, reason: "Valid", message: "ok" },
      ],
    },
  };

  it("keeps the identity, the spec without nodeSelector, and the Accepted condition only", () => {
    expect(profileForAgent(stored)).toEqual({
      metadata: { name: "p", uid: "u", generation: 3, resourceVersion: "9" },
      spec: { collectors: [{ name: "cpu" }] },
      accepted: { status: "True", observedGeneration: 3, message: "ok" },
    });
  });

  it("takes Accepted at exactly the current generation as the verdict, anything else as pending", () => {
    const p = profileForAgent(stored);
    expect(verdictOf(p)).toBe("accepted");
    expect(verdictOf({ ...p, metadata: { ...p.metadata, generation: 4 } })).toBe("pending");
    expect(verdictOf({ ...p, accepted: { status: "False", observedGeneration: 3 } })).toBe("refused");
    expect(verdictOf({ metadata: { name: "p", generation: 1 } })).toBe("pending");
  });

  it("survives hostile shapes: a status that is not an object, conditions that are not a list", () => {
    for (const status of [null, "x", { conditions: "x" }, { conditions: [null, 1, { type: "Accepted" }] }]) {
      const p = profileForAgent({ ...stored, status } as never);
      expect(verdictOf(p)).toBe("pending");
    }
  });
});
