import { type Logger, pino } from "pino";

/**
 * Creates a program's logger: JSON lines on stderr, so stdout stays free (the agent prints events there).
 * Callers pass children down; there is no module-global logger.
 */
export function createLogger(name: string, level = "info"): Logger {
  return pino({ name, level }, pino.destination(2));
}
