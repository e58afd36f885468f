import { describe, expect, it } from "vitest";
import type { ResolvedProfileSpec } from "../../api/v1alpha1/types.ts";
import type { SpecResult } from "./cluster-validation.ts";
import { combine, type RunningProfile, specKey } from "./combine.ts";
import type { AgentProfile } from "./profile-view.ts";

// Which profiles an agent runs, from its NodeMonitor's names and the profiles' specs and Accepted verdicts.
const spec = (interval: string) =>
  ({ collectors: [{ name: "cpu", interval }], sinks: [{ name: "out", stdout: {} }] }) as ResolvedProfileSpec;

function mp(generation: number, accepted?: { status: string; observedGeneration: number }): AgentProfile {
  return {
    metadata: { name: "p", uid: "u1", generation },
    spec: spec(`${generation}s`),
    ...(accepted ? { accepted } : {}),
  };
}
const ok = (p: AgentProfile): [string, SpecResult] => [
  specKey(p),
  { ok: true, spec: spec(`${p.metadata.generation}s`) },
];
const run = (generation: number): RunningProfile => ({
  name: "p",
  uid: "u1",
  generation,
  spec: spec(`${generation}s`),
});
const entries = [{ name: "p", uid: "u1" }];

describe("combine", () => {
  it("runs the current generation once the operator accepted it and it validates", () => {
    const p = mp(2, { status: "True", observedGeneration: 2 });
    const r = combine({
      entries,
      profiles: new Map([["p", p]]),
      specs: new Map([ok(p)]),
      running: new Map([["p", run(1)]]),
    });
    expect(r).toEqual({ profiles: [run(2)], notes: [] });
  });

  it("keeps the running generation while the operator has not judged the edit", () => {
    const p = mp(2, { status: "True", observedGeneration: 1 });
    const r = combine({
      entries,
      profiles: new Map([["p", p]]),
      specs: new Map(),
      running: new Map([["p", run(1)]]),
    });
    expect(r).toEqual({ profiles: [run(1)], notes: [] });
    const fresh = combine({ entries, profiles: new Map([["p", p]]), specs: new Map(), running: new Map() });
    expect(fresh.profiles).toEqual([]);
    expect(fresh.notes).toEqual([
      {
        name: "p",
        state: "Pending",
        observedGeneration: 2,
        message: "waiting for the operator to accept generation 2",
      },
    ]);
  });

  it("stops a profile whose current generation the operator refused, as when it left the NodeMonitor", () => {
    const p = mp(2, { status: "False", observedGeneration: 2 });
    const r = combine({
      entries,
      profiles: new Map([["p", p]]),
      specs: new Map(),
      running: new Map([["p", run(1)]]),
    });
    expect(r).toEqual({ profiles: [], notes: [] });
  });

  it("refuses a generation its own validation refuses, naming the field, and keeps the previous one", () => {
    const p = mp(2, { status: "True", observedGeneration: 2 });
    const r = combine({
      entries,
      profiles: new Map([["p", p]]),
      specs: new Map([[specKey(p), { ok: false, message: "spec.collectors[0].interval: bad" }]]),
      running: new Map([["p", run(1)]]),
    });
    expect(r).toEqual({
      profiles: [run(1)],
      notes: [
        { name: "p", state: "Refused", observedGeneration: 2, message: "spec.collectors[0].interval: bad" },
      ],
    });
  });

  it("does not run a missing profile, nor one re-created under the same name (another uid)", () => {
    const p = mp(1, { status: "True", observedGeneration: 1 });
    const other = { ...p, metadata: { ...p.metadata, uid: "u2" } };
    const running = new Map([["p", run(1)]]);
    const missing = combine({ entries, profiles: new Map(), specs: new Map(), running });
    expect(missing.profiles).toEqual([]);
    expect(missing.notes[0]?.message).toBe('MonitoringProfile "p" not found');
    const recreated = combine({
      entries,
      profiles: new Map([["p", other]]),
      specs: new Map([ok(other)]),
      running,
    });
    expect(recreated.profiles).toEqual([]);
    expect(recreated.notes[0]?.message).toMatch(/uid u2, not u1/);
  });

  it("runs the spec an older operator embedded in the NodeMonitor", () => {
    const r = combine({
      entries: [{ name: "old", generation: 7, spec: spec("7s") }],
      profiles: new Map(),
      specs: new Map(),
      running: new Map(),
    });
    expect(r).toEqual({ profiles: [{ name: "old", generation: 7, spec: spec("7s") }], notes: [] });
  });
});
