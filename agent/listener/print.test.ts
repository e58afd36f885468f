import { describe, expect, it } from "vitest";
import { printLine } from "./print.ts";
import { heartbeat7 } from "./testdata.ts";

describe("printLine", () => {
  const record = { receivedAt: "2026-12-02T15:00:00.000Z", path: "/eventListener/v7", event: heartbeat7() };
  const h = heartbeat7().commonEventHeader as Record<string, string>;

  it("prints time, domain, source, event name and id in compact mode", () => {
    expect(printLine(record, "compact")).toBe(
      `2026-12-02T15:00:00.000Z heartbeat ${h.sourceName} ${h.eventName} ${h.eventId}`,
    );
  });

  it("prints the event as one JSON line in verbose mode", () => {
    expect(JSON.parse(printLine(record, "verbose"))).toEqual(heartbeat7());
    expect(printLine(record, "verbose")).not.toContain("\n");
  });

  it("marks what an event without a header lacks", () => {
    expect(printLine({ ...record, event: {} }, "compact")).toBe("2026-12-02T15:00:00.000Z - - - -");
  });
});
