import type { FastifyInstance } from "fastify";
import { checkFaults, type FaultSettings, type Faults } from "./faults.ts";
import type { Recorder } from "./recorder.ts";
import { badParameter } from "./request-error.ts";
import type { Stats } from "./stats.ts";

/** What the control routes act on. */
export interface ControlDeps {
  faults: Faults;
  recorder: Recorder;
  stats: Stats;
  /** Takes the listening socket away for the given seconds; absent when nothing owns the socket (inject tests). */
  onDown?: ((seconds: number) => void) | undefined;
}

/**
 * The control API, under `/control`:
 * - `GET /control/faults`: the knobs; `PUT /control/faults`: merge knobs (and `downFor` seconds), answers the
 *   knobs; `DELETE /control/faults`: back to defaults.
 * - `GET /control/events`: `{events, dropped}`; `DELETE /control/events`: clear them.
 * - `GET /control/stats`: `{responses, dropped, accepted}`; `DELETE /control/stats`: zero them.
 */
export function controlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { faults, recorder, stats } = deps;

  app.get("/control/faults", async () => faults.settings);

  app.put("/control/faults", async (request, reply) => {
    const errors = checkFaults(request.body, ["downFor"]);
    const { downFor, ...knobs } = (errors.length ? {} : request.body) as Partial<FaultSettings> & {
      downFor?: unknown;
    };
    if (downFor !== undefined) {
      if (typeof downFor !== "number" || !Number.isFinite(downFor) || downFor <= 0)
        errors.push("downFor: must be a number of seconds > 0");
      else if (!deps.onDown) errors.push("downFor: only a listening process can go down");
    }
    if (errors.length) {
      const e = badParameter("invalid fault settings", errors);
      return reply.code(e.status).send(e.body);
    }
    faults.update(knobs);
    if (typeof downFor === "number" && deps.onDown) {
      const goDown = deps.onDown;
      // Only once this answer is out: going down closes every connection, this one too.
      reply.raw.once("finish", () => goDown(downFor));
    }
    return faults.settings;
  });

  app.delete("/control/faults", async () => {
    faults.reset();
    return faults.settings;
  });

  app.get("/control/events", async () => ({ events: recorder.events, dropped: recorder.dropped }));

  app.delete("/control/events", async (_request, reply) => {
    recorder.clear();
    return reply.code(204).send();
  });

  app.get("/control/stats", async () => stats.snapshot());

  app.delete("/control/stats", async (_request, reply) => {
    stats.reset();
    return reply.code(204).send();
  });
}
