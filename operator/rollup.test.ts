import { describe, expect, it } from "vitest";
import type {
  MonitoringProfile,
  MonitoringProfileStatus,
  NodeMonitor,
  NodeMonitorStatus,
} from "../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import { findCondition } from "../kube/conditions.ts";
import { nodeMonitorForCache } from "./cache-transforms.ts";
import { renderNodeMonitor } from "./render.ts";
import { type RollUpContext, rollUpStatus } from "./rollup.ts";

const t0 = new Date("2026-11-22T10:00:00Z");
const t1 = new Date("2026-11-22T10:05:00Z");

function makeProfile(name: string, generation: number): MonitoringProfile {
  const checked = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name, generation },
    spec: {
      collectors: [{ name: "cpu", interval: "10s" }],
      events: { naming: { eventNamePublisher: "Vesmon-Test" } },
      sinks: [{ name: "console", stdout: {} }],
    },
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.value;
}

const nfvi = makeProfile("nfvi", 2);
const other = makeProfile("other", 1);

type Report = {
  /** Generation of `nfvi` the agent runs; undefined: none. */
  gen?: number;
  state?: "Pending" | "Applied" | "Refused";
  message?: string;
  /** The agent has not caught up with the NodeMonitor spec (old configHash). */
  stale?: boolean;
  extra?: Partial<NodeMonitorStatus>;
};

/** A NodeMonitor asking for nfvi at `asked` (and `other`), with the agent's report. */
function nodeMonitor(node: string, report: Report | undefined, asked = 2): NodeMonitor {
  const nm = renderNodeMonitor({ name: node, uid: `uid-${node}` }, [
    { name: "nfvi", generation: asked, spec: nfvi.spec },
    { name: "other", generation: 1, spec: other.spec },
  ]);
  if (!report) return nm;
  nm.status = {
    configHash: report.stale ? "sha256:00000000" : nm.spec.configHash,
    profiles: [
      {
        name: "nfvi",
        state: report.state ?? "Applied",
        ...(report.gen === undefined ? {} : { appliedGeneration: report.gen }),
        // The generation the agent was asked to run (and refused, if it did).
        observedGeneration: asked,
        ...(report.message ? { message: report.message } : {}),
      },
      { name: "other", state: "Applied", appliedGeneration: 1 },
    ],
    ...report.extra,
  };
  return nm;
}

function ctx(monitors: NodeMonitor[], extra: Partial<RollUpContext> = {}): RollUpContext {
  return {
    selectedNodes: monitors.map((m) => m.metadata.name),
    nodeMonitors: new Map(monitors.map((m) => [m.metadata.name, m])),
    accepted: { ok: true },
    now: t0,
    ...extra,
  };
}

function cond(status: MonitoringProfileStatus, type: string) {
  const c = findCondition(status.conditions, type);
  return c && { status: c.status, reason: c.reason, message: c.message };
}

function expectValid(status: MonitoringProfileStatus): void {
  const checked = validateMonitoringProfile({ ...nfvi, status });
  expect(checked.ok ? [] : checked.errors).toEqual([]);
}

const degradedBy = (message: string, extra: Partial<NodeMonitorStatus> = {}): Partial<NodeMonitorStatus> => ({
  conditions: [
    {
      type: "Degraded",
      status: "True",
      reason: "JobsFailing",
      message,
      lastTransitionTime: "2026-11-22T09:00:00Z",
    },
  ],
  ...extra,
});

describe("rollUpStatus", () => {
  it("all nodes applied: Ready, not Progressing, not Degraded", () => {
    const s = rollUpStatus(
      nfvi,
      ctx([nodeMonitor("worker-1", { gen: 2 }), nodeMonitor("worker-2", { gen: 2 })]),
    );
    expect(s).toMatchObject({
      observedGeneration: 2,
      selectedNodes: 2,
      appliedNodes: 2,
      degradedNodes: 0,
      failures: [],
    });
    expect(cond(s, "Accepted")).toEqual({ status: "True", reason: "Valid", message: "profile accepted" });
    expect(cond(s, "Ready")).toEqual({
      status: "True",
      reason: "AllNodesApplied",
      message: "2/2 nodes applied",
    });
    expect(cond(s, "Progressing")).toMatchObject({ status: "False", reason: "AllNodesApplied" });
    expect(cond(s, "Degraded")).toEqual({
      status: "False",
      reason: "AsExpected",
      message: "no failing nodes",
    });
    expect(s.conditions?.map((c) => c.type)).toEqual(["Accepted", "Degraded", "Progressing", "Ready"]);
    for (const c of s.conditions ?? []) {
      expect(c.observedGeneration).toBe(2);
      expect(c.lastTransitionTime).toBe("2026-11-22T10:00:00Z");
    }
    expectValid(s);
  });

  it("rollout in progress: old generation, old configHash or no NodeMonitor yet are pending", () => {
    const s = rollUpStatus(
      nfvi,
      ctx(
        [
          nodeMonitor("worker-1", { gen: 2 }),
          nodeMonitor("worker-2", { gen: 1 }),
          nodeMonitor("worker-3", { gen: 2, stale: true }),
          nodeMonitor("worker-4", undefined),
        ],
        { selectedNodes: ["worker-1", "worker-2", "worker-3", "worker-4", "worker-5"] },
      ),
    );
    expect(s).toMatchObject({ selectedNodes: 5, appliedNodes: 1, degradedNodes: 0 });
    expect(cond(s, "Ready")).toEqual({
      status: "False",
      reason: "NodesPending",
      message: "1/5 nodes applied, 4 pending",
    });
    expect(cond(s, "Progressing")).toEqual({
      status: "True",
      reason: "NodesPending",
      message: "1/5 nodes applied, 4 pending",
    });
    expect(cond(s, "Degraded")?.status).toBe("False");
    expectValid(s);
  });

  it("a node refusing the current spec is degraded, not pending", () => {
    const s = rollUpStatus(
      nfvi,
      ctx([
        nodeMonitor("worker-1", { gen: 2 }),
        nodeMonitor("worker-2", {
          gen: 1,
          state: "Refused",
          message: "spec.collectors[0]: virt: cannot connect",
        }),
      ]),
    );
    expect(s).toMatchObject({
      appliedNodes: 1,
      degradedNodes: 1,
      failures: [
        { node: "worker-2", reason: "ConfigRefused", message: "spec.collectors[0]: virt: cannot connect" },
      ],
    });
    expect(cond(s, "Ready")).toEqual({
      status: "False",
      reason: "NodesFailing",
      message: "1/2 nodes applied, 1 refused",
    });
    expect(cond(s, "Progressing")).toMatchObject({ status: "False", reason: "NodesFailing" });
    expect(cond(s, "Degraded")).toEqual({
      status: "True",
      reason: "NodesFailing",
      message: "1/2 nodes failing: worker-2: spec.collectors[0]: virt: cannot connect",
    });
    expectValid(s);
  });

  it("a refusal of an older spec still counts as failing while the node catches up", () => {
    const s = rollUpStatus(nfvi, ctx([nodeMonitor("worker-1", { gen: 1, state: "Refused", stale: true })]));
    expect(s).toMatchObject({ appliedNodes: 0, degradedNodes: 1 });
    expect(s.failures?.[0]?.message).toBe("the agent refused the profile");
    expect(cond(s, "Progressing")?.status).toBe("True");
  });

  it("Degraded from the NodeMonitor's condition, with the node's failing jobs and sinks of this profile", () => {
    const s = rollUpStatus(
      nfvi,
      ctx([
        nodeMonitor("worker-1", {
          gen: 2,
          extra: degradedBy("job virt-5e6f: cannot connect", {
            jobs: [
              {
                id: "virt-5e6f",
                collector: "virt",
                interval: "10s",
                profiles: ["nfvi"],
                state: "Failed",
                lastError: "cannot connect to libvirt",
              },
              { id: "cpu-1a2b", collector: "cpu", interval: "10s", profiles: ["nfvi"], state: "Running" },
            ],
            sinks: [{ profile: "nfvi", name: "ves", kind: "ves", state: "Failing", lastError: "HTTP 401" }],
          }),
        }),
        nodeMonitor("worker-2", { gen: 2, extra: degradedBy("job cpu-1: /proc/stat unreadable") }),
        nodeMonitor("worker-3", {
          gen: 2,
          extra: degradedBy("sink other/ves: HTTP 503", {
            sinks: [{ profile: "other", name: "ves", kind: "ves", state: "Failing", lastError: "HTTP 503" }],
          }),
        }),
      ]),
    );
    expect(s).toMatchObject({ appliedNodes: 3, degradedNodes: 2 });
    expect(s.failures).toEqual([
      {
        node: "worker-1",
        reason: "JobsFailing",
        message: "job virt-5e6f: cannot connect to libvirt; sink ves: HTTP 401",
      },
      // No job or sink listed: the condition speaks for the node.
      { node: "worker-2", reason: "JobsFailing", message: "job cpu-1: /proc/stat unreadable" },
    ]);
    // worker-3 fails only for the other profile.
    expect(cond(s, "Ready")?.status).toBe("True");
    expect(cond(s, "Degraded")).toEqual({
      status: "True",
      reason: "NodesFailing",
      message:
        "2/3 nodes failing: worker-1: job virt-5e6f: cannot connect to libvirt; sink ves: HTTP 401; worker-2: job cpu-1: /proc/stat unreadable",
    });
    expectValid(s);
  });

  it("0 nodes selected: Ready with NoNodesSelected", () => {
    const s = rollUpStatus(nfvi, ctx([]));
    expect(s).toMatchObject({ selectedNodes: 0, appliedNodes: 0, degradedNodes: 0, failures: [] });
    expect(cond(s, "Ready")).toEqual({
      status: "True",
      reason: "NoNodesSelected",
      message: "0 nodes selected",
    });
    expect(cond(s, "Progressing")).toEqual({
      status: "False",
      reason: "NoNodesSelected",
      message: "0 nodes selected",
    });
    expectValid(s);
  });

  it("not accepted: Accepted False with the check's reason, Ready False", () => {
    const accepted = {
      ok: false as const,
      reason: "SecretMissing",
      message: 'spec.sinks[0].ves.credentialsSecretRef.name: Secret "x" not found',
    };
    const s = rollUpStatus(nfvi, ctx([nodeMonitor("worker-1", { gen: 1 })], { accepted }));
    expect(cond(s, "Accepted")).toEqual({
      status: "False",
      reason: "SecretMissing",
      message: accepted.message,
    });
    expect(cond(s, "Ready")).toMatchObject({ status: "False", reason: "SecretMissing" });
    expect(cond(s, "Progressing")).toMatchObject({ status: "False", reason: "SecretMissing" });
    expectValid(s);
  });

  it("keeps transition times while statuses stay, and moves them when a status changes", () => {
    const monitors = [nodeMonitor("worker-1", { gen: 2 }), nodeMonitor("worker-2", { gen: 1 })];
    const first = rollUpStatus(nfvi, ctx(monitors));
    const again = rollUpStatus(nfvi, ctx(monitors, { previous: first, now: t1 }));
    expect(again).toEqual(first);

    const done = [nodeMonitor("worker-1", { gen: 2 }), nodeMonitor("worker-2", { gen: 2 })];
    const after = rollUpStatus(nfvi, ctx(done, { previous: first, now: t1 }));
    const times = Object.fromEntries((after.conditions ?? []).map((c) => [c.type, c.lastTransitionTime]));
    expect(times).toEqual({
      Accepted: "2026-11-22T10:00:00Z",
      Degraded: "2026-11-22T10:00:00Z",
      Progressing: "2026-11-22T10:05:00Z",
      Ready: "2026-11-22T10:05:00Z",
    });
  });

  it("takes previous conditions from profile.status when none are passed", () => {
    const first = rollUpStatus(nfvi, ctx([nodeMonitor("worker-1", { gen: 2 })]));
    const s = rollUpStatus(
      { ...nfvi, status: first },
      ctx([nodeMonitor("worker-1", { gen: 2 })], { now: t1 }),
    );
    expect(s).toEqual(first);
  });

  it("bounds failures at 20 sorted by node, and names 5 nodes in the message", () => {
    const monitors = Array.from({ length: 25 }, (_, i) =>
      nodeMonitor(`worker-${String(i).padStart(2, "0")}`, {
        gen: 2,
        extra: degradedBy(`job virt-${i}: ${"x".repeat(2000)}`),
      }),
    ).reverse();
    const s = rollUpStatus(nfvi, ctx(monitors));
    expect(s.degradedNodes).toBe(25);
    expect(s.failures).toHaveLength(20);
    expect(s.failures?.map((f) => f.node)).toEqual(
      monitors
        .map((m) => m.metadata.name)
        .reverse()
        .slice(0, 20),
    );
    for (const f of s.failures ?? []) expect(f.message.length).toBeLessThanOrEqual(1024);
    const message = cond(s, "Degraded")?.message ?? "";
    expect(message).toMatch(/^25\/25 nodes failing: worker-00: job virt-0: x+…; worker-01: /);
    expect(message).toMatch(/; …and 20 more$/);
    expect(message).not.toContain("worker-05");
    expectValid(s);
  });

  it("is deterministic: node order and duplicates in the input do not matter", () => {
    const monitors = [nodeMonitor("b", { gen: 2 }), nodeMonitor("a", { gen: 1, state: "Refused" })];
    const s1 = rollUpStatus(nfvi, ctx(monitors, { selectedNodes: ["b", "a", "b"] }));
    const s2 = rollUpStatus(nfvi, ctx([...monitors].reverse(), { selectedNodes: ["a", "b"] }));
    expect(s1).toEqual(s2);
    expect(s1.selectedNodes).toBe(2);
  });

  it("rolls up the same from the operator's cached NodeMonitors, which keep only failing jobs and sinks", () => {
    const job = (id: string, state: "Running" | "Failed" | "Pending", profiles = ["nfvi"]) => ({
      id,
      collector: "cpu" as const,
      interval: "10s",
      profiles,
      state,
      ...(state === "Failed" ? { lastError: `${id} broke` } : {}),
      lastSuccessTime: "2026-11-22T09:00:00Z",
    });
    const sink = (profile: string, state: "Ready" | "Retrying" | "Failing") => ({
      profile,
      name: `ves-${state}`,
      kind: "ves" as const,
      state,
      queued: 10,
      delivered: 1000,
      ...(state === "Ready" ? {} : { lastError: `HTTP ${state}` }),
    });
    const monitors = [
      nodeMonitor("a", {
        gen: 2,
        extra: degradedBy("x", {
          jobs: [job("j1", "Running"), job("j2", "Failed"), job("j3", "Failed", ["other"])],
          sinks: [sink("nfvi", "Ready"), sink("nfvi", "Retrying"), sink("nfvi", "Failing")],
        }),
      }),
      nodeMonitor("b", { gen: 2, extra: { jobs: [job("j1", "Running")], sinks: [sink("nfvi", "Ready")] } }),
      nodeMonitor("c", { gen: 2, extra: degradedBy("y", { jobs: [job("j4", "Pending")] }) }),
      nodeMonitor("d", {
        gen: 2,
        extra: degradedBy("z", { jobs: [job("j5", "Failed", ["other"])], sinks: [sink("other", "Failing")] }),
      }),
      nodeMonitor("e", { gen: 1, state: "Refused", message: "no" }),
    ];
    const cached = monitors.map((m) => nodeMonitorForCache(m));
    expect(cached[1]?.status?.jobs).toBeUndefined();
    for (const profile of [nfvi, other])
      expect(rollUpStatus(profile, ctx(cached))).toEqual(rollUpStatus(profile, ctx(monitors)));
  });
});
