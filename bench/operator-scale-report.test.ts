import { describe, expect, it } from "vitest";
import {
  latencySpread,
  type OperatorScaleResult,
  type OperatorScaleRun,
  operatorScaleMarkdown,
  operatorWrites,
  writesByResource,
} from "./operator-scale-report.ts";

const run = (nodes: number, over: Partial<OperatorScaleRun> = {}): OperatorScaleRun => ({
  nodes,
  profiles: 50,
  repetition: 1,
  profilesPerNode: { mean: 10.4, min: 8, max: 14 },
  nodeMonitors: nodes,
  sizes: {
    nodeMonitors: { count: nodes, meanBytes: 13789, maxBytes: 18767 },
    nodes: { count: nodes, meanBytes: 16_000 },
    embedsSpecs: true,
  },
  syncedSeconds: 1.2,
  leadingSeconds: 1.3,
  convergeSeconds: nodes / 40,
  initial: {
    "POST nodemonitors": nodes,
    "PATCH monitoringprofiles/status": 50,
    "POST events": 127,
    "LIST nodes": 1,
  },
  initialReconciles: { profile: 60, profileSeconds: 1, nodeMonitors: 3 },
  operatorCpuSeconds: nodes / 100,
  apiServerCpuSeconds: nodes / 90,
  apiServerRssMiB: 400,
  rssConvergedPeakMiB: 300,
  rssPeakMiB: 346,
  rssSteadyMiB: 344,
  agents: { count: 50, startSeconds: 6.4, placement: "spread" },
  steady: {
    seconds: 30,
    nodeUpdatesPerSecond: 17.1,
    requests: { "PUT leases": 15, "PATCH nodemonitors/status": 6 },
    operatorCpuPercent: 3.5,
    apiServerCpuPercent: 7,
    agentFleetCpuPercent: 5.4,
  },
  change: {
    profile: "zone-a-host",
    affectedNodes: Math.round(nodes / 3),
    statusSeconds: 0.1,
    agentLatency: { n: 50, medianMs: 4779, maxMs: 8918 },
    agentsMissing: 0,
    windowSeconds: 39,
    requests: {
      "PATCH nodemonitors": 334,
      "BYTES PATCH nodemonitors": 2_000_000,
      "PATCH monitoringprofiles/status": 31,
      "BYTES PATCH monitoringprofiles/status": 181_120,
      "POST events": 2,
      "PUT leases": 20,
      "BYTES PUT leases": 9000,
      "PATCH nodemonitors/status": 141,
      "BYTES PATCH nodemonitors/status": 70_000,
      "WATCH nodes": 1,
    },
    operatorCpuSeconds: 4,
    apiServerCpuSeconds: 11.3,
    reconciles: { profile: 31, profileSeconds: 0.5, nodeMonitors: 1 },
  },
  operatorWarnings: 0,
  warningSamples: [],
  ...over,
});

const result = (runs: OperatorScaleRun[]): OperatorScaleResult => ({
  date: "2026-12-02T18:00:00.000Z",
  mode: "full",
  node: "v24.21.0",
  cores: 2,
  commit: "abc1234",
  loadAverage: 4.9,
  plan: {
    nodeCounts: [1000, 5000],
    repetitions: 1,
    steadySeconds: 30,
    churnPerSecond: 17,
    convergeTimeoutSeconds: 900,
  },
  seconds: 420,
  runs,
});

describe("operator-scale report", () => {
  it("counts writes and their bytes by resource, the operator's apart from Leases and agents' status", () => {
    const c = run(1000).change.requests;
    expect(writesByResource(c).nodemonitors).toEqual({ writes: 334, bytes: 2_000_000 });
    expect(writesByResource(c).nodes).toBeUndefined();
    expect(operatorWrites(c)).toEqual({ writes: 367, bytes: 2_181_120 });
  });

  it("takes the median and maximum of the agents' latencies", () => {
    expect(latencySpread([300, 100, 200, 900])).toEqual({ n: 4, medianMs: 300, maxMs: 900 });
    expect(latencySpread([])).toEqual({ n: 0, medianMs: 0, maxMs: 0 });
  });

  it("renders the tables, the goals at the largest size and the carrier measured", () => {
    const md = operatorScaleMarkdown(result([run(5000, { rssPeakMiB: 716 }), run(1000)]));
    expect(md).toMatch(/^## Operator scale\n/);
    expect(md).toContain("commit `abc1234`");
    expect(md).toContain("load average 4.9");
    expect(md).toContain("**embeds the spec of every profile");
    const rows = md.split("\n").filter((l) => /^\| (1000|5000) \|/.test(l));
    expect(rows.map((l) => l.split(" | ")[0])).toEqual([
      "| 1000",
      "| 5000",
      "| 1000",
      "| 5000",
      "| 1000",
      "| 5000",
    ]);
    expect(md).toContain(
      "| 1000 | 333 | **4.8 / 8.9** | 29.0¹ | 0.1 | **367**: 334 / 31 / 2 / 0 | **2130** | 141 |",
    );
    expect(md).toContain("| goal at 5000 nodes |");
    expect(md).toContain("| operator RSS peak | ≤ 250 MiB | 716 MiB | **no** |");
    expect(md).toContain("| operator CPU under churn | ≤ 5 % of a core | 3.5 % | yes |");
    expect(md).toContain(
      "| NodeMonitor size independent of profile size | state bytes per node | 13789 B mean, 18767 B max | **no** |",
    );
  });

  it("says so when NodeMonitors only name their profiles, and when agents never applied a change", () => {
    const named = run(1000, {
      sizes: { ...run(1000).sizes, embedsSpecs: false },
      change: { ...run(1000).change, agentsMissing: 2, agentLatency: { n: 48, medianMs: 900, maxMs: 1500 } },
    });
    const md = operatorScaleMarkdown(result([named]));
    expect(md).toContain("a NodeMonitor **names** the profiles");
    expect(md).toContain("(2 of 50 never)");
    expect(md).toContain(
      "| one profile's change reaches every selected agent | ≤ 5 s | 1.5 s (max of 48) | **no** |",
    );
  });

  it("judges no latency goal from agents that sat on the first nodes a rollout reaches", () => {
    const first = run(1000, { agents: { count: 50, startSeconds: 5 } });
    const md = operatorScaleMarkdown(result([first]));
    expect(md).toContain("on the first nodes only; the operator's last write came after 29 s) | – |");
    expect(md).toContain("**the first nodes** (in name order)");
  });
});
