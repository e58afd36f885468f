import { describe, expect, it } from "vitest";
import {
  type KubevirtDaemonsResult,
  type KubevirtDaemonsRun,
  kubevirtDaemonsMarkdown,
  type Scenario,
} from "./kubevirt-daemons-report.ts";
import { MACHINE } from "./testdata.ts";

const run = (
  vms: number,
  daemons: number,
  repetition: number,
  agentCpuMs: number,
  median: number,
  fds: number,
): KubevirtDaemonsRun => ({
  vms,
  daemons,
  repetition,
  wallMs: { median, p95: median * 3, max: median * 5 },
  agentCpuMs,
  simCpuMs: agentCpuMs / 2,
  fds,
});

const SCENARIOS: Scenario[] = [
  { vms: 10, daemons: 1 },
  { vms: 10, daemons: 10 },
  { vms: 40, daemons: 1 },
  { vms: 40, daemons: 40 },
];

const result = (
  runs: KubevirtDaemonsRun[],
  over: Partial<KubevirtDaemonsResult> = {},
): KubevirtDaemonsResult => ({
  mode: "full",
  plan: { scenarios: SCENARIOS, repetitions: 2, collections: 60, warmup: 5, pauseMs: 50 },
  concurrency: 8,
  machine: MACHINE,
  load: { start: 2.5, end: 3.125 },
  runs,
  ...over,
});

// Two runs, the second listed first: the cells must still read "run 1 / run 2".
const twoRuns = [
  run(10, 1, 2, 1.5, 2.0, 27),
  run(10, 10, 2, 5.4, 8.2, 36),
  run(40, 1, 2, 3.8, 7.0, 27),
  run(40, 40, 2, 12.2, 27.8, 66),
  run(10, 1, 1, 1.9, 2.9, 27),
  run(10, 10, 1, 4.6, 7.0, 36),
  run(40, 1, 1, 2.6, 3.6, 27),
  run(40, 40, 1, 8.1, 9.7, 66),
];

describe("kubevirt-daemons report", () => {
  it("renders the section's structure with one row per scenario, the runs side by side", () => {
    const md = kubevirtDaemonsMarkdown(result(twoRuns));
    expect(md).toMatch(/^## KubeVirt: one daemon per VM \(simulated libvirt\)\n/);
    for (const part of ["**What.**", "**Setup.**", "**Method.**", "### Findings", "¹ For information"])
      expect(md).toContain(part);
    expect(md).toContain("each, 8 at a time.");
    expect(md).toContain("full mode: 60 collections per row, 50 ms apart, after\n5 warm-up ones");
    expect(md).toContain(
      "2 runs on AMD EPYC 7B13, 2 cores, kernel\n6.18.44; the 1-minute load was 2.50 at the start and 3.13 at the end.",
    );
    expect(md).toContain("| VMs | daemons | collection wall ms, median; p95; max (run 1 / run 2) |");
    const rows = md.split("\n").filter((l) => /^\| (10|40) \|/.test(l));
    expect(rows).toEqual([
      "| 10 | 1 (all guests) | 2.9; 8.7; 14.5 / 2.0; 6.0; 10.0 | **1.9 / 1.5** | 0.9 / 0.8 | 27 |",
      "| 10 | 10 (one guest each) | 7.0; 21.0; 35.0 / 8.2; 24.6; 41.0 | **4.6 / 5.4** | 2.3 / 2.7 | 36 |",
      "| 40 | 1 (all guests) | 3.6; 10.8; 18.0 / 7.0; 21.0; 35.0 | **2.6 / 3.8** | 1.3 / 1.9 | 27 |",
      "| 40 | 40 (one guest each) | 9.7; 29.1; 48.5 / 27.8; 83.4; 139.0 | **8.1 / 12.2** | 4.0 / 6.1 | 66 |",
    ]);
  });

  it("computes the findings from the largest VM count measured both ways, run by run", () => {
    const md = kubevirtDaemonsMarkdown(result(twoRuns));
    // (8.1 − 2.6) / 39 and (12.2 − 3.8) / 39 ms per extra daemon; 8.1 and 12.2 ms of a 1000 ms interval.
    expect(md).toContain(
      "each extra daemon costs the agent about 0.14–0.22 ms of CPU per collection\n  (40 daemons: 8.1–12.2 ms against 2.6–3.8 ms for one daemon with the same 40 guests), that is\n  0.8–1.2 % of one core at a 1 s interval for 40 VMs.",
    );
    expect(md).toContain(
      "the calls run 8 at a time, so 40 daemons take 9.7–27.8 ms per\n  collection (median); the worst p95, 83.4 ms, is 8.3 % of a 1 s interval.",
    );
    expect(md).toContain("one socket per daemon (66 − 27 = 39 more for 40 daemons than for one)");
  });

  it("renders one run without run labels, and says how many descriptors a daemon costs when not one", () => {
    const one = [run(10, 1, 1, 1.2, 2.0, 27), run(10, 10, 1, 3.0, 6.0, 45)];
    const md = kubevirtDaemonsMarkdown(
      result(one, {
        mode: "quick",
        plan: { scenarios: SCENARIOS.slice(0, 2), repetitions: 1, collections: 15, warmup: 5, pauseMs: 50 },
      }),
    );
    expect(md).toContain("quick mode: 15 collections per row");
    expect(md).toContain("1 run on AMD EPYC");
    expect(md).not.toContain("run 1");
    expect(md).toContain("| 10 | 10 (one guest each) | 6.0; 18.0; 30.0 | **3.0** | 1.5 | 45 |");
    expect(md).toContain("about 0.20 ms of CPU per collection\n  (10 daemons: 3.0 ms against 1.2 ms");
    expect(md).toContain("2.0 per extra daemon (45 − 27 = 18 more for 10 daemons than for one)");
  });

  it("keeps only the unmeasured caveat when no VM count was measured both ways", () => {
    const md = kubevirtDaemonsMarkdown(
      result([run(10, 1, 1, 1.2, 2.0, 27)], {
        plan: { scenarios: SCENARIOS.slice(0, 1), repetitions: 1, collections: 15, warmup: 5, pauseMs: 50 },
      }),
    );
    const findings = md.slice(md.indexOf("### Findings"));
    expect(findings).toContain("**Not measured here:**");
    expect(findings).not.toContain("**Per daemon:**");
  });
});
