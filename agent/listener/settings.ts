import { parseArgs } from "node:util";
import type { BasicCredentials } from "./basic-auth.ts";

/** The port of the ONAP VES collector's Kubernetes NodePort, so agents configured for a lab find this one too. */
export const DEFAULT_PORT = 30417;

/** Settings of the `vesmon-listener` program. */
export interface ListenerSettings {
  port: number;
  host: string;
  auth: BasicCredentials | undefined;
  recordFile: string | undefined;
  maxEvents: number | undefined;
  tls: { certFile: string; keyFile: string } | undefined;
  latencyMs: number;
  errorRate: number;
  /** Check only the envelope, not the schema. */
  envelopeOnly: boolean;
  /** Refuse fields the schema does not declare, also where it leaves objects open (5.4.1). */
  strict: boolean;
  /** Print each accepted event as full JSON instead of one compact line. */
  verbose: boolean;
}

/** Usage text of the program. */
export const USAGE = `usage: vesmon-listener [options]

A VES collector for development and tests: POST /eventListener/v7[/eventBatch] (7.2.1) and
/eventListener/v5[/eventBatch] (5.4.1); 202 for a valid body, 400/401/413 with a requestError body.
Fault knobs and recorded events are at /control/faults, /control/events and /control/stats.

  --port N            port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --host ADDR         address to bind (default 127.0.0.1)
  --user NAME         ask for Basic credentials (or env LISTENER_USERNAME)
  --password PASS     (or env LISTENER_PASSWORD, which keeps it out of the process list)
  --record FILE       append each accepted event to FILE as a JSON line {receivedAt, path, event}
  --max-events N      events kept in memory (default 10000)
  --tls-cert FILE     serve HTTPS with this PEM certificate (needs --tls-key)
  --tls-key FILE      PEM private key of --tls-cert
  --latency MS        delay every answer by MS milliseconds (default 0)
  --error-rate P      answer 503 with probability P in [0, 1] (default 0)
  --envelope-only     check only the {"event":…}/{"eventList":[…]} envelope, not the VES schema
  --strict            refuse fields the schema does not declare (schema 28.4.1 leaves objects open)
  -v, --verbose       print each accepted event as one line of JSON on stdout, instead of
                      "<receivedAt> <domain> <sourceName> <eventName> <eventId>"
  -h, --help          print this text
`;

/** Parses argv (without node and the script) and the environment; returns the settings or what is wrong. */
export function parseSettings(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { ok: true; settings: ListenerSettings } | { ok: false; error: string } | { ok: "help" } {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        port: { type: "string" },
        host: { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        record: { type: "string" },
        "max-events": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        latency: { type: "string" },
        "error-rate": { type: "string" },
        "envelope-only": { type: "boolean" },
        strict: { type: "boolean" },
        verbose: { type: "boolean", short: "v" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  if (values.help) return { ok: "help" };
  const str = (key: string) => (typeof values[key] === "string" ? (values[key] as string) : undefined);
  const int = (key: string, min: number, max: number, dflt: number) => {
    const raw = str(key);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    return Number.isInteger(n) && n >= min && n <= max
      ? n
      : new Error(`--${key} must be an integer in [${min}, ${max}]`);
  };
  const port = int("port", 0, 65535, DEFAULT_PORT);
  const latencyMs = int("latency", 0, 3_600_000, 0);
  const maxEvents = int("max-events", 0, Number.MAX_SAFE_INTEGER, 10_000);
  const rate = Number(str("error-rate") ?? "0");
  for (const v of [port, latencyMs, maxEvents])
    if (v instanceof Error) return { ok: false, error: v.message };
  if (!Number.isFinite(rate) || rate < 0 || rate > 1)
    return { ok: false, error: "--error-rate must be in [0, 1]" };

  const username = str("user") ?? env.LISTENER_USERNAME;
  const password = str("password") ?? env.LISTENER_PASSWORD;
  if ((username === undefined) !== (password === undefined))
    return { ok: false, error: "give both a user and a password, or neither" };
  const certFile = str("tls-cert");
  const keyFile = str("tls-key");
  if ((certFile === undefined) !== (keyFile === undefined))
    return { ok: false, error: "--tls-cert and --tls-key go together" };

  return {
    ok: true,
    settings: {
      port: port as number,
      host: str("host") ?? "127.0.0.1",
      auth: username !== undefined && password !== undefined ? { username, password } : undefined,
      recordFile: str("record"),
      maxEvents: maxEvents as number,
      tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
      latencyMs: latencyMs as number,
      errorRate: rate,
      envelopeOnly: values["envelope-only"] === true,
      strict: values.strict === true,
      verbose: values.verbose === true,
    },
  };
}
