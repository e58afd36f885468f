import type { Server } from "node:http";
import Fastify, { type FastifyInstance } from "fastify";
import type { Agent } from "./agent.ts";
import { type AgentMetrics, measurementMetrics } from "./metrics.ts";

/**
 * Builds the agent's HTTP server (no listen): /healthz, /readyz (200 once every profile that should run runs,
 * else 503 with the reason), /metrics. With `http`, an already bound server, the caller routes its requests to
 * `app.routing` once the app is ready (the agent binds its port before it loads).
 */
export function buildServer(agent: Agent, metrics: AgentMetrics, http?: Server): FastifyInstance {
  const app = http ? Fastify({ logger: false, serverFactory: () => http }) : Fastify({ logger: false });
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const r = agent.readiness();
    if (r.ready) return { status: "ready", applies: agent.applyCount };
    return reply.code(503).send({ status: "not ready", reason: r.reason });
  });
  app.get("/metrics", async (_req, reply) => {
    const own = await metrics.registry.metrics();
    reply.header("content-type", metrics.registry.contentType);
    return `${own}\n${await measurementMetrics(agent)}`;
  });
  return app;
}
