import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Agent } from "./agent.ts";
import { type AgentMetrics, measurementMetrics } from "./metrics.ts";

/** One answer of the agent's HTTP server. */
export interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * Answers one request: /healthz, /readyz (200 once every profile that should run runs, else 503 with the
 * reason), /metrics; GET and HEAD only, anything else 404. Plain node:http rather than a framework: three
 * fixed routes do not pay for the ~20 MiB a framework, its JSON schema compiler and its router keep resident.
 */
export async function answer(
  agent: Agent,
  metrics: AgentMetrics,
  method: string,
  url: string,
): Promise<HttpAnswer> {
  const path = url.split("?", 1)[0];
  if (method === "GET" || method === "HEAD")
    switch (path) {
      case "/healthz":
        return json(200, { status: "ok" });
      case "/readyz": {
        // A sink whose collector is down, or whose spool cannot write, keeps the agent ready: restarting or
        // unlisting the pod fixes neither. The body names the spools that refuse events, for people and probes.
        const r = agent.readiness();
        if (r.ready)
          return json(200, { status: "ready", applies: agent.applyCount, ...spoolProblems(agent) });
        return json(503, { status: "not ready", reason: r.reason, ...spoolProblems(agent) });
      }
      case "/metrics": {
        const own = await metrics.registry.metrics();
        return {
          status: 200,
          contentType: metrics.registry.contentType,
          body: `${own}\n${await measurementMetrics(agent)}`,
        };
      }
    }
  return json(404, { message: `Route ${method}:${path} not found`, error: "Not Found", statusCode: 404 });
}

/** The request listener of the agent's HTTP server, for `server.on("request", …)`. */
export function agentRequestListener(agent: Agent, metrics: AgentMetrics): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    answer(agent, metrics, req.method ?? "GET", req.url ?? "/").then(
      (a) => send(res, req.method === "HEAD", a),
      (err: Error) => send(res, false, json(500, { status: "error", message: err.message })),
    );
  };
}

function send(res: ServerResponse, head: boolean, a: HttpAnswer): void {
  res.writeHead(a.status, { "content-type": a.contentType, "content-length": Buffer.byteLength(a.body) });
  res.end(head ? undefined : a.body);
}

function json(status: number, value: object): HttpAnswer {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value) };
}

/** The sinks whose spool cannot write (events are being refused) or cannot save its cursor, if any. */
function spoolProblems(agent: Agent): { spools?: object[] } {
  const spools = agent
    .status()
    .sinks.filter((s) => s.spool && (!s.spool.writable || !s.spool.cursorSaved))
    .map((s) => ({ profile: s.profile, sink: s.name, ...s.spool }));
  return spools.length > 0 ? { spools } : {};
}
