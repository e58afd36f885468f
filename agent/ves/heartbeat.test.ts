import { describe, expect, it } from "vitest";
import { NODE, settings } from "../../test/helpers/ves-samples.ts";
import { buildHeartbeat } from "./heartbeat.ts";
import { validateVesEvent } from "./schema.ts";

const TIME = Date.UTC(2026, 0, 15, 12, 0, 47, 250);

describe("buildHeartbeat", () => {
  it("builds a 7.2.1 heartbeat rounded to the heartbeat interval", () => {
    const e = buildHeartbeat({
      time: TIME,
      intervalSeconds: 30,
      settings: settings(),
      node: NODE,
      version: "7.2.1",
      eventId: "heartbeat0000000001",
    });
    expect(e).toEqual({
      commonEventHeader: expect.objectContaining({
        domain: "heartbeat",
        eventId: "heartbeat0000000001",
        eventName: "Heartbeat_Vesmon_Agent",
        sourceName: NODE,
        reportingEntityName: NODE,
        priority: "Normal",
        sequence: 0,
        startEpochMicrosec: Date.UTC(2026, 0, 15, 12, 0, 30) * 1000,
        lastEpochMicrosec: TIME * 1000,
        version: "4.1",
        vesEventListenerVersion: "7.2.1",
      }),
      heartbeatFields: { heartbeatFieldsVersion: "3.0", heartbeatInterval: 30 },
    });
    expect(validateVesEvent(e, "7.2.1")).toEqual({ ok: true });
  });

  it("builds the 5.4.1 form", () => {
    const e = buildHeartbeat({
      time: TIME,
      intervalSeconds: 60,
      settings: settings(),
      node: NODE,
      version: "5.4.1",
      eventId: "heartbeat0000000002",
    });
    expect(e.commonEventHeader).toMatchObject({ domain: "heartbeat", version: 3 });
    expect(e.heartbeatFields).toEqual({ heartbeatFieldsVersion: 1, heartbeatInterval: 60 });
    expect(validateVesEvent(e, "5.4.1", { closed: true })).toEqual({ ok: true });
  });

  it("refuses an interval the schema cannot carry", () => {
    const base = {
      time: TIME,
      settings: settings(),
      node: NODE,
      version: "7.2.1" as const,
      eventId: "heartbeat1",
    };
    expect(() => buildHeartbeat({ ...base, intervalSeconds: 1.5 })).toThrow(RangeError);
    expect(() => buildHeartbeat({ ...base, intervalSeconds: 0 })).toThrow(RangeError);
  });
});
