import { describe, expect, it } from "vitest";
import { buildListener } from "./server.ts";
import { heartbeat5, heartbeat7 } from "./testdata.ts";
import { schemaValidator } from "./ves-validator.ts";

const validate = schemaValidator();

describe("schemaValidator (official schemas)", () => {
  it("accepts the hand-written heartbeats", () => {
    expect(validate({ event: heartbeat7() }, "event", "7.2.1")).toEqual([]);
    expect(validate({ eventList: [heartbeat7(1), heartbeat7(2)] }, "batch", "7.2.1")).toEqual([]);
    expect(validate({ event: heartbeat5() }, "event", "5.4.1")).toEqual([]);
  });

  it("names the failing field of a single event", () => {
    const event = heartbeat7();
    (event.commonEventHeader as Record<string, unknown>).sequence = 1.5;
    expect(validate({ event }, "event", "7.2.1")).toEqual([
      expect.stringMatching(/^event\.commonEventHeader\.sequence: /),
    ]);
  });

  it("names the index of the failing event in a batch", () => {
    const bad = heartbeat7(2);
    (bad.heartbeatFields as Record<string, unknown>).heartbeatFieldsVersion = 3;
    const errors = validate({ eventList: [heartbeat7(1), bad] }, "batch", "7.2.1");
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e).toMatch(/^eventList\[1\]\.heartbeatFields\.heartbeatFieldsVersion: /);
  });

  it("checks the envelope and the batch domain first", () => {
    expect(validate({}, "event", "7.2.1")).toEqual(['(root): missing required field "event"']);
    expect(validate({ eventList: [heartbeat7(1), heartbeat7(2, "measurement")] }, "batch", "7.2.1")).toEqual([
      'eventList: events of one domain only, got ["heartbeat","measurement"]',
    ]);
  });

  it("refuses a VES 7 event on the v5 route", () => {
    expect(validate({ event: heartbeat7() }, "event", "5.4.1").length).toBeGreaterThan(0);
  });

  it("plugs into the listener: 400 naming the field", async () => {
    const app = buildListener({ validate });
    const event = heartbeat7();
    (event.commonEventHeader as Record<string, unknown>).vesEventListenerVersion = "7.2.2";
    const res = await app.inject({ method: "POST", url: "/eventListener/v7", payload: { event } });
    await app.close();
    expect(res.statusCode).toBe(400);
    expect(res.json().requestError.serviceException.variables).toEqual([
      expect.stringMatching(/^event\.commonEventHeader\.vesEventListenerVersion: /),
    ]);
  });
});
