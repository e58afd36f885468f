import type { Agent, AgentStatus } from "./agent.ts";
import { registerLibvirtMetrics } from "./libvirt/metrics.ts";
import { Counter, Gauge, Histogram, Registry } from "./prom-client.ts";
import { prometheusLabels, prometheusSeries } from "./prometheus-names.ts";

type JobStatus = AgentStatus["jobs"][number];
type SinkStatus = AgentStatus["sinks"][number];
type Kind = "gauge" | "counter";

/**
 * The agent's own metrics, collected from its status at scrape time, on a registry of their own. Collector
 * series are labelled by `profile` and `collector` (a job shared by two profiles shows under each), never by
 * the job's config hash, so a profile edit keeps its series. Counters restart from zero when a job or sink is
 * restarted, which `rate()` and `increase()` handle as a reset.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly applies: Counter;
  readonly applyDuration: Histogram;

  constructor(agent: Pick<Agent, "status" | "readiness">) {
    const r = this.registry;
    this.applies = new Counter({
      name: "vesmon_agent_applies_total",
      help: "Configurations applied, by result (applied, refused).",
      labelNames: ["result"],
      registers: [r],
    });
    this.applyDuration = new Histogram({
      name: "vesmon_agent_apply_duration_seconds",
      help: "Time to apply a configuration.",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [r],
    });
    new Gauge({
      name: "vesmon_agent_ready",
      help: "1 while /readyz answers 200: every profile that should run is running.",
      registers: [r],
      collect() {
        this.set(agent.readiness().ready ? 1 : 0);
      },
    });
    type Row = [labels: Record<string, string>, value: number | undefined];
    // One family read from the agent's status at scrape time; a counter is set to its total by inc() after a reset.
    const family = (type: Kind, name: string, help: string, labelNames: string[], rows: () => Row[]) => {
      const config = {
        name,
        help,
        labelNames,
        registers: [r],
        collect(this: Gauge | Counter) {
          this.reset();
          for (const [labels, v] of rows())
            if (v === undefined) continue;
            else if (this instanceof Gauge) this.set(labels, v);
            else this.inc(labels, v);
        },
      };
      return type === "gauge" ? new Gauge(config) : new Counter(config);
    };
    const jobs = (value: (j: JobStatus) => number | undefined) => (): Row[] =>
      agent
        .status()
        .jobs.flatMap((j) =>
          j.profiles.map((profile): Row => [{ profile, collector: j.collector }, value(j)]),
        );
    const job = (type: Kind, name: string, help: string, value: (j: JobStatus) => number | undefined) =>
      family(type, name, help, ["profile", "collector"], jobs(value));
    const sink = (type: Kind, name: string, help: string, value: (s: SinkStatus) => number | undefined) =>
      family(type, name, help, ["profile", "sink", "kind"], () =>
        agent.status().sinks.map((s): Row => [{ profile: s.profile, sink: s.name, kind: s.kind }, value(s)]),
      );
    const JOB_FAMILIES: [
      type: Kind,
      name: string,
      help: string,
      value: (j: JobStatus) => number | undefined,
    ][] = [
      [
        "gauge",
        "success",
        "1 when the collector's last collection succeeded.",
        (j) => (j.state === "Running" ? 1 : 0),
      ],
      [
        "gauge",
        "duration_seconds",
        "Duration of the collector's last collection.",
        (j) => (j.lastDurationMs === undefined ? undefined : j.lastDurationMs / 1000),
      ],
      ["gauge", "interval_seconds", "The collector's interval.", (j) => j.intervalMs / 1000],
      [
        "gauge",
        "first_tick_timestamp_seconds",
        "When the collector's job first ran, seconds since the epoch; it moves when an edit restarts the job.",
        (j) => (j.firstTick === undefined ? undefined : j.firstTick / 1000),
      ],
      [
        "counter",
        "skipped_total",
        "Ticks skipped because the previous collection still ran.",
        (j) => j.skipped,
      ],
      [
        "counter",
        "collections_total",
        "Collections started since the collector's job started.",
        (j) => j.collections,
      ],
      [
        "counter",
        "missed_total",
        "Ticks of the collector's schedule with no collection: skipped, or lost to a timer fired an interval late.",
        (j) => j.missed,
      ],
      [
        "gauge",
        "distinct_partial_errors",
        "Distinct partial errors (parts that could not be read while the rest was) in the collector's last successful collection.",
        (j) => j.partialErrors,
      ],
      [
        "counter",
        "partial_errors_total",
        "Partial errors reported since the collector's job started, each error of each collection.",
        (j) => j.partialErrorsTotal,
      ],
    ];
    for (const [type, name, help, value] of JOB_FAMILIES)
      job(type, `vesmon_scrape_collector_${name}`, help, value);
    new Counter({
      name: "vesmon_scrape_collector_incomplete_windows_total",
      help: "Measurement windows published with the collector's reads incomplete (values suspect), by reason: first (its first read), missing (a read failed or was skipped), late (the read at its end not in by the grace).",
      labelNames: ["profile", "collector", "reason"],
      registers: [r],
      collect() {
        this.reset();
        for (const c of agent.status().incompleteWindows ?? [])
          this.inc({ profile: c.profile, collector: c.collector, reason: c.reason }, c.count);
      },
    });
    const SINK_FAMILIES: [
      type: Kind,
      name: string,
      help: string,
      value: (s: SinkStatus) => number | undefined,
    ][] = [
      ["gauge", "queued_events", "Events waiting in the sink's spool.", (s) => s.queued],
      ["gauge", "queued_bytes", "Bytes waiting in the sink's spool.", (s) => s.queuedBytes],
      [
        "gauge",
        "last_delivery_timestamp_seconds",
        "When the sink last delivered, seconds since the epoch.",
        (s) => (s.lastDeliveryTime ? Date.parse(s.lastDeliveryTime) / 1000 : undefined),
      ],
      ["counter", "delivered_events_total", "Events delivered since the sink opened.", (s) => s.delivered],
      ["counter", "retries_total", "Delivery attempts retried since the sink opened.", (s) => s.retries],
    ];
    for (const [type, name, help, value] of SINK_FAMILIES) sink(type, `vesmon_sink_${name}`, help, value);
    sinkDropMetrics(agent, r);
    registerLibvirtMetrics(r);
  }
}

/**
 * Per sink with a spool: events dropped by reason and damaged bytes skipped (counters read from the sink's
 * own counts at scrape time), and whether the spool can write (0 while it refuses new events, e.g. a full disk).
 */
function sinkDropMetrics(agent: Pick<Agent, "status">, registry: Registry): void {
  new Counter({
    name: "vesmon_sink_dropped_events_total",
    help: "Events dropped since start, by reason: full, expired, refused_4xx, corrupt, disk_full, write_error.",
    labelNames: ["profile", "sink", "kind", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of agent.status().sinks)
        for (const [reason, n] of Object.entries(s.droppedByReason ?? {}))
          this.inc({ profile: s.profile, sink: s.name, kind: s.kind, reason }, n);
    },
  });
  new Counter({
    name: "vesmon_sink_spool_skipped_bytes_total",
    help: "Bytes of damaged spool files skipped since start, by where: checksum (inside a segment), torn (at its end).",
    labelNames: ["profile", "sink", "kind", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of agent.status().sinks)
        for (const [reason, n] of Object.entries(s.spool?.skippedBytes ?? {}))
          this.inc({ profile: s.profile, sink: s.name, kind: s.kind, reason }, n);
    },
  });
  new Gauge({
    name: "vesmon_sink_spool_writable",
    help: "1 when the sink's spool takes new events, 0 while it refuses them (full disk, I/O error).",
    labelNames: ["profile", "sink", "kind"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of agent.status().sinks)
        if (s.spool) this.set({ profile: s.profile, sink: s.name, kind: s.kind }, s.spool.writable ? 1 : 0);
    },
  });
}

/**
 * The measurements of every profile with a `prometheus` sink, in the exposition format: one family per
 * catalogue metric (named by `prometheusSeries`, in base units, counters typed counter), labelled with the
 * profile. Series of one family with different label sets (VMs with different metadata) get the union of
 * the label names, absent ones empty, which Prometheus treats as unset.
 */
export async function measurementMetrics(agent: Agent): Promise<string> {
  const families = new Map<
    string,
    { type: "counter" | "gauge"; help: string; rows: { labels: Record<string, string>; value: number }[] }
  >();
  for (const sink of agent.prometheusSinks())
    for (const s of sink.samples()) {
      const series = prometheusSeries(s.metric, s.unit);
      if (!series) continue;
      let f = families.get(series.name);
      if (!f) {
        f = { type: series.type, help: series.help, rows: [] };
        families.set(series.name, f);
      }
      f.rows.push({
        labels: { ...prometheusLabels(s), profile: sink.profile },
        value: s.value * series.scale,
      });
    }
  const r = new Registry();
  for (const [name, f] of families) {
    const labelNames = [...new Set(f.rows.flatMap((row) => Object.keys(row.labels)))];
    const full = (labels: Record<string, string>) =>
      Object.fromEntries(labelNames.map((k) => [k, labels[k] ?? ""]));
    if (f.type === "counter") {
      const c = new Counter({ name, help: f.help, labelNames, registers: [r] });
      for (const row of f.rows) c.inc(full(row.labels), row.value);
    } else {
      const g = new Gauge({ name, help: f.help, labelNames, registers: [r] });
      for (const row of f.rows) g.set(full(row.labels), row.value);
    }
  }
  return r.metrics();
}
