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
    // A sink whose collector is down, or whose spool cannot write, keeps the agent ready: restarting or
    // unlisting the pod fixes neither. The body names the spools that refuse events, for people and probes.
    const r = agent.readiness();
    if (r.ready) return { status: "ready", applies: agent.applyCount, ...spoolProblems(agent) };
    return reply.code(503).send({ status: "not ready", reason: r.reason, ...spoolProblems(agent) });
  });
  app.get("/metrics", async (_req, reply) => {
    const own = await metrics.registry.metrics();
    reply.header("content-type", metrics.registry.contentType);
    return `${own}\n${await measurementMetrics(agent)}`;
  });
  return app;
}

/** The sinks whose spool cannot write (events are being refused) or cannot save its cursor, if any. */
function spoolProblems(agent: Agent): { spools?: object[] } {
  const spools = agent
    .status()
    .sinks.filter((s) => s.spool && (!s.spool.writable || !s.spool.cursorSaved))
    .map((s) => ({ profile: s.profile, sink: s.name, ...s.spool }));
  return spools.length > 0 ? { spools } : {};
}
