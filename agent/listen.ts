import { once } from "node:events";
import type { Server } from "node:http";

// Why not `import ... from "node:http"`: an ES import of a builtin reads every export, and node:http's lazy
// WebSocket getter then loads undici, http2 and tls (~6 MiB RSS the agent never uses).
// process.getBuiltinModule returns the module without touching its getters.
const { createServer } = process.getBuiltinModule("node:http");

/** `HOST:PORT` (host may be empty: every address), or why it is not one. */
export function parseListen(
  value: string,
): { ok: true; host: string; port: number } | { ok: false; error: string } {
  const at = value.lastIndexOf(":");
  const port = Number(value.slice(at + 1));
  if (at < 0 || value.slice(at + 1) === "" || !Number.isInteger(port) || port < 0 || port > 65535)
    return { ok: false, error: `--listen ${JSON.stringify(value)} is not HOST:PORT` };
  return { ok: true, host: value.slice(0, at) || "0.0.0.0", port };
}

/**
 * Binds the HTTP server before the agent loads, so a port in use is found at once. Until the agent's routes
 * take over (`server.removeAllListeners("request")`), /healthz answers 200 and everything else 503 "starting".
 */
export async function bindEarly(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const alive = req.url === "/healthz";
    res.writeHead(alive ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify(alive ? { status: "ok" } : { status: "not ready", reason: "starting" }));
  });
  server.listen(port, host);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([err]) => Promise.reject(err as Error)),
  ]);
  return server;
}
