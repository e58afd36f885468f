import { setTimeout as sleepMs } from "node:timers/promises";
import fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { type BasicCredentials, checkBasicAuth } from "./basic-auth.ts";
import { controlRoutes } from "./control.ts";
import { type BodyKind, checkEnvelope, type EventValidator, type ListenerVersion } from "./envelope.ts";
import { type FaultSettings, Faults } from "./faults.ts";
import { type RecordedEvent, Recorder } from "./recorder.ts";
import {
  badParameter,
  noResources,
  tooLarge,
  unauthorized,
  type VesError,
  vesError,
} from "./request-error.ts";
import { Stats } from "./stats.ts";

/** The body limit the 7.1.1 spec made the norm: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Settings of a listener. */
export interface ListenerOptions {
  /** Ask for these Basic credentials on the VES routes. Defaults to none (no authentication). */
  auth?: BasicCredentials | undefined;
  /** Checks each parsed body. Defaults to `checkEnvelope`, which checks only the envelope. */
  validate?: EventValidator | undefined;
  /** Fault knobs at start. Defaults to no faults. */
  faults?: Partial<FaultSettings> | undefined;
  /** Random source of the fault rates, [0, 1). Defaults to Math.random. */
  random?: (() => number) | undefined;
  /** Events kept in memory. Defaults to 10 000. */
  maxEvents?: number | undefined;
  /** Also append every accepted event to this file as a JSON line `{receivedAt, path, event}`. */
  recordFile?: string | undefined;
  /** Largest body accepted, in bytes; larger ones get 413. Defaults to DEFAULT_BODY_LIMIT. */
  bodyLimit?: number | undefined;
  /** Serve the `/control` API. Defaults to true. */
  control?: boolean | undefined;
  /** Serve HTTPS with this PEM certificate and key. Defaults to plain HTTP. */
  https?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** Logger (pino). Defaults to none. Request logs carry method and URL only, never headers. */
  logger?: FastifyBaseLogger | undefined;
  /** Waits `ms` before answering (the latency knob). Defaults to a real timer. */
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** Clock of `receivedAt`, in ms since 1970. Defaults to Date.now. */
  now?: (() => number) | undefined;
  /** Called with the events of each accepted request, once recorded (the program prints them). */
  onAccepted?: ((records: readonly RecordedEvent[]) => void) | undefined;
  /** Called by `PUT /control/faults {"downFor": s}` once the answer is sent; ListenerProcess sets it. */
  onDown?: ((seconds: number) => void) | undefined;
}

const VERSIONS: Record<string, { version: ListenerVersion; minor: string; patch: string }> = {
  v7: { version: "7.2.1", minor: "2", patch: "1" },
  v5: { version: "5.4.1", minor: "4", patch: "1" },
};

class InvalidJsonError extends Error {
  readonly statusCode = 400;
}

function send(reply: FastifyReply, e: VesError): FastifyReply {
  return reply.code(e.status).send(e.body);
}

// fastify's own errors (body limit, media type, parse) become the spec's requestError bodies.
function toVesError(err: FastifyError, bodyLimit: number, request: FastifyRequest): VesError {
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return tooLarge(bodyLimit);
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE")
    return badParameter("Content-Type must be application/json", [
      `Content-Type: ${request.headers["content-type"] ?? "(none)"}`,
    ]);
  if (err instanceof InvalidJsonError) return badParameter("Incorrect JSON payload", [err.message]);
  if (err.code === "FST_ERR_CTP_EMPTY_JSON_BODY")
    return badParameter("Incorrect JSON payload", ["empty body"]);
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500)
    return vesError(status, "serviceException", "SVC0001", "%1", [err.message]);
  return noResources(500, "internal error");
}

/**
 * Builds a VES collector for development and tests (no `listen`: call it on the result, or use ListenerProcess).
 * Routes: `POST /eventListener/v7[/eventBatch]` (7.2.1), `POST /eventListener/v5[/eventBatch]` (5.4.1), and the
 * control API (see control.ts). A valid body gets 202 with no body and its events are recorded in order.
 */
export function buildListener(opts: ListenerOptions = {}): FastifyInstance {
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const validate = opts.validate ?? checkEnvelope;
  const sleep = opts.sleep ?? ((ms: number) => sleepMs(ms).then(() => {}));
  const now = opts.now ?? Date.now;
  const faults = new Faults(opts.faults, opts.random);
  const recorder = new Recorder({ maxEvents: opts.maxEvents, file: opts.recordFile });
  const stats = new Stats();

  // The https variant differs only in its server type; nothing here depends on it.
  const app = fastify({
    bodyLimit,
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    ...(opts.https ? { https: opts.https } : {}),
  }) as unknown as FastifyInstance;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => {
    if (body === "")
      return done(
        Object.assign(new Error("empty body"), { code: "FST_ERR_CTP_EMPTY_JSON_BODY", statusCode: 400 }),
      );
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      done(new InvalidJsonError((err as Error).message));
    }
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const e = toVesError(err, bodyLimit, request);
    if (e.status >= 500) request.log.error({ err }, "request failed");
    return send(reply, e);
  });

  app.register(async (ves) => {
    const dropped = new WeakSet<FastifyRequest>();

    ves.addHook("onRequest", async (request, reply) => {
      const { latencyMs } = faults.settings;
      if (latencyMs > 0) await sleep(latencyMs);
      const action = faults.next();
      if (action.kind === "drop") {
        dropped.add(request);
        stats.drop();
        reply.hijack();
        request.raw.socket?.destroy();
        return reply;
      }
      if (action.kind === "throttle") {
        reply.header("Retry-After", String(action.retryAfter));
        return send(reply, noResources(429, "throttled"));
      }
      if (action.kind === "error") return send(reply, noResources(action.status, "injected fault"));
      if (opts.auth) {
        const check = checkBasicAuth(request.headers.authorization, opts.auth);
        if (!check.ok) {
          request.log.info({ reason: check.reason }, "authentication refused");
          reply.header("WWW-Authenticate", 'Basic realm="vesmon-listener"');
          return send(reply, unauthorized(check.reason));
        }
      }
    });

    ves.addHook("onSend", async (request, reply, payload) => {
      const v = VERSIONS[(request.params as { version?: string }).version ?? ""];
      if (v)
        reply.headers({ "X-MinorVersion": v.minor, "X-PatchVersion": v.patch, "X-LatestVersion": v.version });
      return payload;
    });

    ves.addHook("onResponse", async (request, reply) => {
      if (!dropped.has(request)) stats.response(reply.statusCode);
    });

    const handle = (kind: BodyKind) => async (request: FastifyRequest, reply: FastifyReply) => {
      const { version } = request.params as { version: string };
      const v = VERSIONS[version];
      if (!v) return send(reply, badParameter("API version not supported", [version]));
      const errors = validate(request.body, kind, v.version);
      if (errors.length) {
        request.log.info({ errors: errors.slice(0, 5) }, "event refused");
        return send(reply, badParameter("JSON does not conform to schema", errors));
      }
      const body = request.body as { event?: unknown; eventList?: unknown[] };
      const events = kind === "event" ? [body.event] : (body.eventList ?? []);
      const receivedAt = new Date(now()).toISOString();
      const path = request.url.split("?")[0] ?? request.url;
      const records: RecordedEvent[] = events.map((event) => ({ receivedAt, path, event }));
      await recorder.record(records);
      stats.accept(records.length);
      opts.onAccepted?.(records);
      request.log.debug({ events: records.length }, "accepted");
      return reply.code(202).send();
    };

    ves.post("/eventListener/:version", handle("event"));
    ves.post("/eventListener/:version/eventBatch", handle("batch"));
  });

  if (opts.control ?? true) controlRoutes(app, { faults, recorder, stats, onDown: opts.onDown });

  return app;
}
