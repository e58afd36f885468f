import { Counter, Gauge, Registry } from "prom-client";
import type { Controller } from "./controller.ts";

/** What the operator's metrics read at scrape time. */
export interface OperatorMetricsSource {
  controller: Pick<Controller, "stats" | "profileStatuses" | "listWatchFailures"> & {
    queue: { readonly depth: number };
  };
  isLeader: () => boolean;
}

/**
 * The operator's metrics on a registry of their own, read from the controller at scrape time. Counters count
 * since the process started. Profile series come from the profiles' stored status, which every replica's
 * informer holds, so a follower reports them too; alert on `max by (profile)`.
 */
export function operatorMetrics(source: OperatorMetricsSource): Registry {
  const r = new Registry();
  const { controller } = source;
  new Counter({
    name: "vesmon_operator_reconciles_total",
    help: "Reconciles by kind (nodemonitors, profile) and result (ok, error).",
    labelNames: ["kind", "result"],
    registers: [r],
    collect() {
      this.reset();
      for (const [key, n] of Object.entries(controller.stats.reconciles)) {
        const [kind, result] = key.split("/") as [string, string];
        this.inc({ kind, result }, n);
      }
    },
  });
  new Counter({
    name: "vesmon_operator_reconcile_errors_total",
    help: "Reconciles that failed and were requeued.",
    registers: [r],
    collect() {
      this.reset();
      this.inc(controller.stats.errors);
    },
  });
  new Counter({
    name: "vesmon_operator_reconcile_seconds_total",
    help: "Time spent reconciling, by kind; divided by vesmon_operator_reconciles_total it gives the mean.",
    labelNames: ["kind"],
    registers: [r],
    collect() {
      this.reset();
      for (const [kind, s] of Object.entries(controller.stats.seconds)) this.inc({ kind }, s);
    },
  });
  new Counter({
    name: "vesmon_operator_writes_total",
    help: "Writes made to the API server (applies, status patches, deletes).",
    registers: [r],
    collect() {
      this.reset();
      this.inc(controller.stats.writes);
    },
  });
  new Counter({
    name: "vesmon_operator_nodemonitors_rendered_total",
    help: "NodeMonitors rendered (one node's desired object computed), whether or not a write followed.",
    registers: [r],
    collect() {
      this.reset();
      this.inc(controller.stats.rendered);
    },
  });
  new Counter({
    name: "vesmon_operator_list_watch_failures_total",
    help: "Failed lists and watches of the operator's informers (each followed by a backoff), by resource.",
    labelNames: ["resource"],
    registers: [r],
    collect() {
      this.reset();
      for (const [resource, n] of Object.entries(controller.listWatchFailures)) this.inc({ resource }, n);
    },
  });
  new Gauge({
    name: "vesmon_operator_queue_depth",
    help: "Keys waiting in the work queue.",
    registers: [r],
    collect() {
      this.set(controller.queue.depth);
    },
  });
  new Gauge({
    name: "vesmon_operator_leader",
    help: "1 while this replica leads.",
    registers: [r],
    collect() {
      this.set(source.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: "vesmon_operator_profile_condition",
    help: "1 when the profile's condition (Accepted, Ready, Progressing, Degraded) is True, else 0.",
    labelNames: ["profile", "condition"],
    registers: [r],
    collect() {
      this.reset();
      for (const p of controller.profileStatuses())
        for (const c of p.status?.conditions ?? [])
          this.set({ profile: p.name, condition: c.type }, c.status === "True" ? 1 : 0);
    },
  });
  new Gauge({
    name: "vesmon_operator_profile_nodes",
    help: "The profile's nodes: selected, applied (running the current generation) and degraded.",
    labelNames: ["profile", "state"],
    registers: [r],
    collect() {
      this.reset();
      for (const p of controller.profileStatuses()) {
        const s = p.status;
        if (!s) continue;
        this.set({ profile: p.name, state: "selected" }, s.selectedNodes ?? 0);
        this.set({ profile: p.name, state: "applied" }, s.appliedNodes ?? 0);
        this.set({ profile: p.name, state: "degraded" }, s.degradedNodes ?? 0);
      }
    },
  });
  return r;
}
