import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Agent } from "./agent.ts";
import { registerLibvirtMetrics } from "./libvirt/metrics.ts";
import { prometheusLabels, prometheusName } from "./prometheus-names.ts";

/** The agent's own metrics, collected from its status at scrape time, on a registry of their own. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly applies: Counter;
  readonly applyDuration: Histogram;

  constructor(agent: Agent) {
    const r = this.registry;
    this.applies = new Counter({
      name: "vesmon_agent_applies_total",
      help: "Configurations applied.",
      labelNames: ["result"],
      registers: [r],
    });
    this.applyDuration = new Histogram({
      name: "vesmon_agent_apply_duration_seconds",
      help: "Time to apply a configuration.",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [r],
    });
    const jobGauge = (
      name: string,
      help: string,
      value: (j: ReturnType<Agent["status"]>["jobs"][number]) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ["job", "collector"],
        registers: [r],
        collect() {
          this.reset();
          for (const j of agent.status().jobs) {
            const v = value(j);
            if (v !== undefined) this.set({ job: j.id, collector: j.collector }, v);
          }
        },
      });
    jobGauge("vesmon_scrape_collector_success", "1 when the job's last collection succeeded.", (j) =>
      j.state === "Running" ? 1 : 0,
    );
    jobGauge("vesmon_scrape_collector_duration_seconds", "Duration of the job's last collection.", (j) =>
      j.lastDurationMs === undefined ? undefined : j.lastDurationMs / 1000,
    );
    jobGauge(
      "vesmon_scrape_collector_skipped_total",
      "Ticks skipped because the previous collection still ran.",
      (j) => j.skipped,
    );
    jobGauge(
      "vesmon_scrape_collector_collections_total",
      "Collections the job started since it started.",
      (j) => j.collections,
    );
    jobGauge(
      "vesmon_scrape_collector_missed_total",
      "Ticks of the job's schedule with no collection: skipped, or lost to a timer fired an interval late.",
      (j) => j.missed,
    );
    const sinkGauge = (name: string, help: string, key: "queued" | "queuedBytes" | "delivered" | "retries") =>
      new Gauge({
        name,
        help,
        labelNames: ["profile", "sink", "kind"],
        registers: [r],
        collect() {
          this.reset();
          for (const s of agent.status().sinks)
            this.set({ profile: s.profile, sink: s.name, kind: s.kind }, s[key]);
        },
      });
    sinkGauge("vesmon_sink_queued_events", "Events waiting in the sink's spool.", "queued");
    sinkGauge("vesmon_sink_queued_bytes", "Bytes waiting in the sink's spool.", "queuedBytes");
    sinkGauge("vesmon_sink_delivered_events_total", "Events delivered since start.", "delivered");
    sinkDropMetrics(agent, r);
    sinkGauge("vesmon_sink_retries_total", "Delivery attempts retried since start.", "retries");
    registerLibvirtMetrics(r);
  }
}

/**
 * Per sink with a spool: events dropped by reason and damaged bytes skipped (counters read from the sink's
 * own counts at scrape time), and whether the spool can write (0 while it refuses new events, e.g. a full disk).
 */
function sinkDropMetrics(agent: Agent, registry: Registry): void {
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

/** The measurements of every profile with a `prometheus` sink, in the exposition format. */
export async function measurementMetrics(agent: Agent): Promise<string> {
  const r = new Registry();
  const gauges = new Map<string, Gauge>();
  for (const sink of agent.prometheusSinks())
    for (const s of sink.samples()) {
      const name = prometheusName(s);
      const labels = { ...prometheusLabels(s), profile: sink.profile };
      let g = gauges.get(name);
      if (!g) {
        g = new Gauge({
          name,
          help: `${s.metric} (${s.unit})`,
          labelNames: Object.keys(labels),
          registers: [r],
        });
        gauges.set(name, g);
      }
      try {
        g.set(labels, s.value);
      } catch {
        // A series with labels this gauge was not declared with (another VM's metadata): skip it.
      }
    }
  return r.metrics();
}
