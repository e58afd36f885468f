import { describe, expect, it } from "vitest";
import { findCondition, setCondition } from "./conditions.ts";

describe("setCondition", () => {
  const t0 = new Date("2026-11-22T10:00:00.123Z");
  const t1 = new Date("2026-11-22T10:05:00.000Z");

  it("adds a condition with the transition time, to the second", () => {
    const c = setCondition(
      [],
      { type: "Ready", status: "False", reason: "NodesPending", message: "0/3", observedGeneration: 1 },
      t0,
    );
    expect(c).toEqual([
      {
        type: "Ready",
        status: "False",
        reason: "NodesPending",
        message: "0/3",
        observedGeneration: 1,
        lastTransitionTime: "2026-11-22T10:00:00Z",
      },
    ]);
  });

  it("keeps lastTransitionTime while the status stays, updating reason, message and generation", () => {
    const a = setCondition(
      [],
      { type: "Ready", status: "False", reason: "NodesPending", message: "0/3", observedGeneration: 1 },
      t0,
    );
    const b = setCondition(
      a,
      { type: "Ready", status: "False", reason: "NodesPending", message: "2/3", observedGeneration: 2 },
      t1,
    );
    expect(findCondition(b, "Ready")).toMatchObject({
      message: "2/3",
      observedGeneration: 2,
      lastTransitionTime: "2026-11-22T10:00:00Z",
    });
    const c = setCondition(
      b,
      { type: "Ready", status: "True", reason: "AllNodesApplied", message: "3/3", observedGeneration: 2 },
      t1,
    );
    expect(findCondition(c, "Ready")?.lastTransitionTime).toBe("2026-11-22T10:05:00Z");
  });

  it("keeps other conditions and orders by type", () => {
    const a = setCondition([], { type: "Degraded", status: "False", reason: "AsExpected", message: "" }, t0);
    const b = setCondition(a, { type: "Applied", status: "True", reason: "ConfigApplied", message: "" }, t0);
    expect(b.map((c) => c.type)).toEqual(["Applied", "Degraded"]);
    expect(a.map((c) => c.type)).toEqual(["Degraded"]);
  });
});
