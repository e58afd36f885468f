import { type Logger, pino } from "pino";

/** Creates the agent's logger: JSON lines on stderr, so stdout stays free for events. Callers pass children down. */
export function createLogger(level = process.env.AGENT_LOG_LEVEL ?? "info"): Logger {
  return pino({ name: "vesmon-agent", level }, pino.destination(2));
}
