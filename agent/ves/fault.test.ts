import { describe, expect, it } from "vitest";
import { NODE, settings, VM1 } from "../../test/helpers/ves-samples.ts";
import { HOST } from "../collectors/sample.ts";
import { type Alarm, buildFaultEvent } from "./fault.ts";
import { validateVesEvent } from "./schema.ts";
import type { Event5, Event7 } from "./types.ts";

const ONSET = Date.UTC(2026, 0, 15, 12, 0, 3, 250) * 1000;
const alarm: Alarm = {
  eventId: "fault0000000001",
  startEpochMicrosec: ONSET,
  sequence: 1,
  condition: "vmCrashed",
  specificProblem: "domain crashed",
  severity: "CRITICAL",
  source: VM1,
  additional: { reason: "panicked" },
};

describe("buildFaultEvent", () => {
  it("keeps the caller's id, onset and sequence, and maps the alarm to faultFields", () => {
    const time = Date.UTC(2026, 0, 15, 12, 0, 10);
    const e = buildFaultEvent({ alarm, time, settings: settings(), node: NODE, version: "7.2.1" }) as Event7;
    expect(e.commonEventHeader).toMatchObject({
      domain: "fault",
      eventId: "fault0000000001",
      eventName: "Fault_Vesmon_VmCrashed",
      startEpochMicrosec: ONSET,
      lastEpochMicrosec: time * 1000,
      sequence: 1,
      priority: "High",
      sourceName: "vm-alpha",
      reportingEntityName: NODE,
    });
    expect(e.faultFields).toEqual({
      faultFieldsVersion: "4.0",
      alarmCondition: "vmCrashed",
      eventSeverity: "CRITICAL",
      eventSourceType: "virtualMachine",
      specificProblem: "domain crashed",
      vfStatus: "Active",
      alarmAdditionalInformation: { reason: "panicked" },
    });
    expect(validateVesEvent(e, "7.2.1")).toEqual({ ok: true });
  });

  it("clears with NORMAL under the same id and onset, with a larger sequence", () => {
    const clear = buildFaultEvent({
      alarm: { ...alarm, sequence: 2, severity: "NORMAL", source: HOST },
      time: Date.UTC(2026, 0, 15, 12, 5),
      settings: settings(),
      node: NODE,
      version: "7.2.1",
      vfStatus: "Idle",
    }) as Event7;
    expect(clear.commonEventHeader).toMatchObject({
      eventId: alarm.eventId,
      startEpochMicrosec: ONSET,
      sequence: 2,
      priority: "Normal",
      sourceName: NODE,
    });
    expect(clear.faultFields).toMatchObject({
      eventSeverity: "NORMAL",
      eventSourceType: "host",
      vfStatus: "Idle",
    });
    const guest = buildFaultEvent({
      alarm: { ...alarm, source: HOST },
      time: 0,
      settings: settings({ mode: "guest" }),
      node: NODE,
      version: "7.2.1",
    }) as Event7;
    expect(guest.faultFields?.eventSourceType).toBe("virtualMachine");
    // The event cannot end before its onset.
    expect(guest.commonEventHeader.lastEpochMicrosec).toBe(ONSET);
  });

  it("builds the 5.4.1 form with fields arrays", () => {
    const e = buildFaultEvent({
      alarm: { ...alarm, alarmInterfaceA: "vnet0", eventCategory: "link" },
      time: 0,
      settings: settings(),
      node: NODE,
      version: "5.4.1",
    }) as Event5;
    expect(e.faultFields).toMatchObject({
      faultFieldsVersion: 2,
      alarmInterfaceA: "vnet0",
      eventCategory: "link",
      alarmAdditionalInformation: [{ name: "reason", value: "panicked" }],
    });
    expect(e.commonEventHeader.version).toBe(3);
    expect(validateVesEvent(e, "5.4.1", { closed: true })).toEqual({ ok: true });
  });

  it("refuses a condition with whitespace and a bad sequence", () => {
    const base = { time: 0, settings: settings(), node: NODE, version: "7.2.1" as const };
    expect(() => buildFaultEvent({ ...base, alarm: { ...alarm, condition: "vm crashed" } })).toThrow(
      RangeError,
    );
    expect(() => buildFaultEvent({ ...base, alarm: { ...alarm, sequence: 0.5 } })).toThrow(RangeError);
  });
});
