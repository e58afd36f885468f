import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildHeartbeat } from "../../agent/ves/heartbeat.ts";
import { EventIdSequence } from "../../agent/ves/ids.ts";
import { settings } from "./ves-samples.ts";

/** `count` schema-valid VES 7.2.1 heartbeats with increasing eventIds, starting after `from`. */
export function heartbeats(count: number, from = 0): object[] {
  const ids = new EventIdSequence("heartbeat", from);
  return Array.from({ length: count }, (_, i) =>
    buildHeartbeat({
      time: Date.UTC(2026, 10, 22, 12, 0, 0) + i * 1000,
      intervalSeconds: 60,
      settings: settings(),
      node: "node-a",
      version: "7.2.1",
      eventId: ids.next(),
    }),
  );
}

/** The eventIds of recorded or built events, in order. */
export function eventIds(events: readonly { commonEventHeader?: { eventId: string } }[]): string[] {
  return events.map((e) => e.commonEventHeader?.eventId ?? "?");
}

/**
 * Schema-valid VES 7.2.1 events numbered `from` to `from + count - 1`, in runs of heartbeats and host
 * measurements (runs of 4 and 3), with eventIds `heartbeat-i-0000000123` / `measurement-i-0000000123` that carry
 * the number `i`, so a receiver can tell which arrived, how often and in what order per domain.
 */
export function numberedEvents(count: number, from = 0): object[] {
  // The golden host measurement: schema-checked by the golden tests, and no builder to run here.
  const [measurement] = JSON.parse(
    readFileSync(join(import.meta.dirname, "../fixtures/ves/golden/7.2.1-host-measurements.json"), "utf8"),
  ) as object[];
  const [beat] = heartbeats(1);
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const template = (i % 7 < 4 ? beat : measurement) as { commonEventHeader: { domain: string } };
    const domain = template.commonEventHeader.domain;
    return {
      ...template,
      commonEventHeader: {
        ...template.commonEventHeader,
        eventId: `${domain}-i-${String(i).padStart(10, "0")}`,
      },
    };
  });
}
