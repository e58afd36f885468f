import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { promtool } from "../helpers/promtool.ts";
import { type Manifest, renderChart } from "./render.ts";

// The chart's PrometheusRule, rendered, checked by promtool and unit-tested with `promtool test rules`: each
// alert fires on the series that mean trouble, with its labels and annotations, and stays quiet on healthy ones.
const RUNBOOK = "https://github.com/vesmon/vesmon/blob/main/docs/operations.md";
const AGENT = { job: "vesmon-agent-metrics", instance: "10.0.0.1:9464", node: "n1" };
const OPERATOR = { job: "vesmon-operator-metrics" };
let dir: string;
let rule: Manifest;

const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`,
  values,
});
const alert = (
  alertname: string,
  evalTime: string,
  input: ReturnType<typeof series>[],
  expected: { labels: Record<string, string>; summary: string; description: string }[],
) => ({
  interval: "1m",
  input_series: input,
  alert_rule_test: [
    {
      eval_time: evalTime,
      alertname,
      exp_alerts: expected.map((e) => ({
        exp_labels: e.labels,
        exp_annotations: {
          summary: e.summary,
          description: e.description,
          runbook_url: `${RUNBOOK}#${alertname.toLowerCase()}`,
        },
      })),
    },
  ],
});

const SINK = { ...AGENT, profile: "p", sink: "ves", kind: "ves" };
const TESTS = [
  alert(
    "VesmonAgentDown",
    "7m",
    [
      series("up", AGENT, "1 0x10"),
      series("up", { ...AGENT, node: "n2", instance: "10.0.0.2:9464" }, "1x10"),
    ],
    [
      {
        labels: { severity: "critical", ...AGENT },
        summary: "The vesmon agent on n1 cannot be scraped",
        description: "10.0.0.1:9464 has been down for 5m: no VES events leave that node.",
      },
    ],
  ),
  alert(
    "VesmonAgentNotReady",
    "12m",
    [
      series("vesmon_agent_ready", AGENT, "0x15"),
      series("vesmon_agent_ready", { ...AGENT, node: "n2" }, "1x15"),
    ],
    [
      {
        labels: { severity: "warning", ...AGENT },
        summary: "The vesmon agent on n1 runs none of a profile it was given",
        description: "GET /readyz on 10.0.0.1:9464 names the profiles not running and why.",
      },
    ],
  ),
  alert(
    "VesmonSinkNotDelivering",
    "25m",
    [
      series("vesmon_sink_queued_events", SINK, "5x30"),
      series("vesmon_sink_delivered_events_total", SINK, "100x30"),
      series("vesmon_sink_queued_events", { ...SINK, sink: "ok" }, "5x30"),
      series("vesmon_sink_delivered_events_total", { ...SINK, sink: "ok" }, "100+10x30"),
    ],
    [
      {
        labels: { severity: "critical", ...SINK },
        summary: "Sink p/ves on n1 delivers nothing",
        description:
          "5 events wait in the spool and none was delivered; they are kept until the spool is full or too old.",
      },
    ],
  ),
  alert(
    "VesmonSpoolDropping",
    "10m",
    [
      series("vesmon_sink_dropped_events_total", { ...SINK, reason: "full" }, "0x5 10x10"),
      series("vesmon_sink_dropped_events_total", { ...SINK, sink: "ok", reason: "full" }, "3x15"),
    ],
    [
      {
        labels: { severity: "warning", ...SINK },
        summary: "Sink p/ves on n1 drops events",
        description:
          "10 events were dropped in the last 10 minutes (spool full or too old, or refused by the collector).",
      },
    ],
  ),
  alert(
    "VesmonCollectorFailing",
    "12m",
    [
      series("vesmon_scrape_collector_success", { ...AGENT, profile: "p", collector: "virt" }, "0x15"),
      series("vesmon_scrape_collector_success", { ...AGENT, profile: "p", collector: "cpu" }, "1x15"),
    ],
    [
      {
        labels: { severity: "warning", ...AGENT, profile: "p", collector: "virt" },
        summary: "Collector virt of profile p fails on n1",
        description: "Its figures are missing from the VES events; NodeMonitor status names the error.",
      },
    ],
  ),
  alert(
    "VesmonProfileDegraded",
    "20m",
    [
      series(
        "vesmon_operator_profile_condition",
        { ...OPERATOR, instance: "a", profile: "p", condition: "Degraded" },
        "1x20",
      ),
      series(
        "vesmon_operator_profile_condition",
        { ...OPERATOR, instance: "b", profile: "p", condition: "Degraded" },
        "1x20",
      ),
      series(
        "vesmon_operator_profile_condition",
        { ...OPERATOR, instance: "a", profile: "q", condition: "Degraded" },
        "0x20",
      ),
    ],
    [
      {
        labels: { severity: "warning", profile: "p" },
        summary: "MonitoringProfile p is Degraded",
        description: "Some selected nodes report a failed job or sink: kubectl get mp p -o yaml lists them.",
      },
    ],
  ),
  alert(
    "VesmonOperatorNotLeader",
    "10m",
    [
      series("vesmon_operator_leader", { ...OPERATOR, instance: "a" }, "1 1 0x10"),
      series("vesmon_operator_leader", { ...OPERATOR, instance: "b" }, "0x12"),
    ],
    [
      {
        labels: { severity: "critical" },
        summary: "No vesmon operator replica leads",
        description: "Profile changes are not rendered to the nodes and profile status is not updated.",
      },
    ],
  ),
  // Quiet while one replica leads; firing when no operator reports at all.
  alert(
    "VesmonOperatorNotLeader",
    "10m",
    [series("vesmon_operator_leader", { ...OPERATOR, instance: "a" }, "0 1x12")],
    [],
  ),
  alert(
    "VesmonOperatorNotLeader",
    "10m",
    [series("up", AGENT, "1x12")],
    [
      {
        labels: { severity: "critical" },
        summary: "No vesmon operator replica leads",
        description: "Profile changes are not rendered to the nodes and profile status is not updated.",
      },
    ],
  ),
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vesmon-rules-"));
  const r = renderChart({ metrics: { prometheusRule: { enabled: true } } });
  const found = r.manifests.filter((m) => m.kind === "PrometheusRule");
  expect(found).toHaveLength(1);
  rule = found[0]!;
  await writeFile(join(dir, "rules.yaml"), stringify({ groups: rule.spec.groups }));
  await writeFile(
    join(dir, "tests.yaml"),
    stringify({ rule_files: ["rules.yaml"], evaluation_interval: "1m", tests: TESTS }),
  );
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("chart PrometheusRule", () => {
  it("is off by default (the monitoring.coreos.com CRDs may be absent)", () => {
    expect(renderChart().manifests.filter((m) => m.kind === "PrometheusRule")).toEqual([]);
  });

  it("has every alert, each with a runbook", () => {
    const alerts = rule.spec.groups.flatMap((g: { rules: { alert: string }[] }) =>
      g.rules.map((r) => r.alert),
    );
    expect(alerts).toEqual([
      "VesmonAgentDown",
      "VesmonAgentNotReady",
      "VesmonSinkNotDelivering",
      "VesmonSpoolDropping",
      "VesmonCollectorFailing",
      "VesmonProfileDegraded",
      "VesmonOperatorNotLeader",
    ]);
  });

  it("passes promtool check rules", async () => {
    const r = await promtool(["check", "rules", join(dir, "rules.yaml")]);
    expect(r.output).toMatch(/SUCCESS: 7 rules found/);
    expect(r.code).toBe(0);
  });

  it("passes promtool test rules for every alert", async () => {
    const r = await promtool(["test", "rules", join(dir, "tests.yaml")]);
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });
});
