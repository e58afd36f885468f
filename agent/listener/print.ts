import type { RecordedEvent } from "./recorder.ts";

/** What the program prints for each accepted event. */
export type PrintMode = "compact" | "verbose";

interface Header {
  domain?: unknown;
  sourceName?: unknown;
  eventName?: unknown;
  eventId?: unknown;
}

/**
 * One line per event. Compact: `<receivedAt> <domain> <sourceName> <eventName> <eventId>` (a field the event
 * lacks reads `-`). Verbose: the event as one line of JSON.
 */
export function printLine(record: RecordedEvent, mode: PrintMode): string {
  if (mode === "verbose") return JSON.stringify(record.event);
  const h = ((record.event as { commonEventHeader?: Header } | null)?.commonEventHeader ?? {}) as Header;
  const field = (v: unknown) => (typeof v === "string" || typeof v === "number" ? String(v) : "-");
  return [record.receivedAt, h.domain, h.sourceName, h.eventName, h.eventId]
    .map((v, i) => (i === 0 ? String(v) : field(v)))
    .join(" ");
}
