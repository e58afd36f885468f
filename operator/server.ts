import Fastify, { type FastifyInstance } from "fastify";
import type { Controller } from "./controller.ts";
import { operatorMetrics } from "./metrics.ts";

/** What the operator's server reports on. */
export interface OperatorState {
  controller: Controller;
  /** True once the informers have listed. */
  synced: () => boolean;
  isLeader: () => boolean;
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
