import Fastify, { type FastifyInstance } from "fastify";
import type { Agent } from "./agent.ts";
import { type AgentMetrics, measurementMetrics } from "./metrics.ts";

/** Builds the agent's HTTP server (no listen): /healthz, /readyz (after the first apply), /metrics. */
export function buildServer(agent: Agent, metrics: AgentMetrics): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    if (agent.ready) return { status: "ready", applies: agent.applyCount };
    return reply.code(503).send({ status: "waiting for the first configuration" });
  });
  app.get("/metrics", async (_req, reply) => {
    const own = await metrics.registry.metrics();
    reply.header("content-type", metrics.registry.contentType);
    return `${own}\n${await measurementMetrics(agent)}`;
  });
  return app;
}
