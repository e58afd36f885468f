import Fastify, { type FastifyInstance } from "fastify";
import { Counter, Gauge, Registry } from "prom-client";
import type { Controller } from "./controller.ts";

/** What the operator's server reports on. */
export interface OperatorState {
  controller: Controller;
  /** True once the informers have listed. */
  synced: () => boolean;
  isLeader: () => boolean;
}

/** The operator's metrics, read from the controller at scrape time. */
export function operatorMetrics(state: OperatorState): Registry {
  const r = new Registry();
  const { controller } = state;
  new Gauge({
    name: "vesmon_operator_reconciles_total",
    help: "Reconciles by kind and result.",
    labelNames: ["kind", "result"],
    registers: [r],
    collect() {
      this.reset();
      for (const [key, n] of Object.entries(controller.stats.reconciles)) {
        const [kind, result] = key.split("/") as [string, string];
        this.set({ kind, result }, n);
      }
    },
  });
  new Gauge({
    name: "vesmon_operator_reconcile_errors_total",
    help: "Reconciles that failed and were requeued.",
    registers: [r],
    collect() {
      this.set(controller.stats.errors);
    },
  });
  new Gauge({
    name: "vesmon_operator_reconcile_seconds_total",
    help: "Time spent reconciling, by kind.",
    labelNames: ["kind"],
    registers: [r],
    collect() {
      this.reset();
      for (const [kind, s] of Object.entries(controller.stats.seconds)) this.set({ kind }, s);
    },
  });
  new Gauge({
    name: "vesmon_operator_writes_total",
    help: "Writes made to the API server (applies, status patches, deletes).",
    registers: [r],
    collect() {
      this.set(controller.stats.writes);
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
      this.set(state.isLeader() ? 1 : 0);
    },
  });
  return r;
}

/** Builds the operator's HTTP server (no listen): /healthz, /readyz (informers synced), /metrics. */
export function buildOperatorServer(state: OperatorState): FastifyInstance {
  const app = Fastify({ logger: false });
  const registry = operatorMetrics(state);
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) =>
    state.synced()
      ? { status: "ready", leader: state.isLeader() }
      : reply.code(503).send({ status: "informers not synced" }),
  );
  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", registry.contentType);
    return registry.metrics();
  });
  return app;
}
