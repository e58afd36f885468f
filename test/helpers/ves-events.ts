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
