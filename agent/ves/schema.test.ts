import { describe, expect, it } from "vitest";
import type { EventSettings } from "../../api/v1alpha1/types.ts";
import {
  NODE,
  settings,
  VM1,
  WINDOW_END,
  WINDOW_START,
  windowSamples,
} from "../../test/helpers/ves-samples.ts";
import { HOST } from "../collectors/sample.ts";
import { buildFaultEvent } from "./fault.ts";
import { buildHeartbeat } from "./heartbeat.ts";
import { EventIds } from "./ids.ts";
import { buildMeasurementEvents } from "./measurement.ts";
import { validateVesBatch, validateVesEvent, vesSchema } from "./schema.ts";
import type { Event7, Severity, VesEvent, VesVersion } from "./types.ts";

const SEVERITIES: Severity[] = ["CRITICAL", "MAJOR", "MINOR", "WARNING", "NORMAL"];

/** Every kind of event the builders make, for one version and mode. */
function everyEvent(version: VesVersion, s: EventSettings): VesEvent[] {
  const ids = new EventIds();
  const measurements = buildMeasurementEvents({
    samples: windowSamples(),
    windowStart: WINDOW_START,
    windowEnd: WINDOW_END,
    intervalSeconds: 60,
    settings: s,
    node: NODE,
    version,
    nextId: () => ids.next("measurement"),
  });
  const heartbeat = buildHeartbeat({
    time: WINDOW_END,
    intervalSeconds: 30,
    settings: s,
    node: NODE,
    version,
    eventId: ids.next("heartbeat"),
  });
  const faults = SEVERITIES.flatMap((severity, i) =>
    [HOST, VM1].map((source) =>
      buildFaultEvent({
        alarm: {
          eventId: ids.next("fault"),
          startEpochMicrosec: WINDOW_START * 1000,
          sequence: i + 1,
          condition: "cpuUsageHigh",
          specificProblem: "CPU usage above 90 %",
          severity,
          source,
          ...(i % 2 ? { alarmInterfaceA: "vnet0", eventCategory: "threshold" } : {}),
          ...(i < 3 ? { additional: { metric: "vm.cpu.percent", value: "93.5", threshold: "90" } } : {}),
        },
        time: WINDOW_END,
        settings: s,
        node: NODE,
        version,
        ...(i === 4 ? { vfStatus: "Idle" as const } : {}),
      }),
    ),
  );
  return [...measurements, heartbeat, ...faults];
}

const CASES = (["7.2.1", "5.4.1"] as const).flatMap((version) =>
  (["host", "guest"] as const).map((mode) => ({ version, mode })),
);

describe("every built event validates against the official schema", () => {
  it.each(CASES)("VES $version, $mode mode: single events and one batch per domain", ({ version, mode }) => {
    const s = settings({ mode, vesVersion: version });
    const events = everyEvent(version, s);
    expect(events.length).toBe(3 + 1 + 10);
    for (const e of events) {
      expect(validateVesEvent(e, version)).toEqual({ ok: true });
      // 28.4.1 leaves objects open: also prove no field outside the schema slipped in.
      expect(validateVesEvent(e, version, { closed: true })).toEqual({ ok: true });
    }
    const domains = new Set(events.map((e) => e.commonEventHeader.domain));
    expect(domains.size).toBe(3);
    for (const domain of domains) {
      const list = events.filter((e) => e.commonEventHeader.domain === domain);
      expect(validateVesBatch({ eventList: list }, version)).toEqual({ ok: true });
    }
  });
});

function measurement7(): Event7 {
  const ids = new EventIds();
  const [host] = buildMeasurementEvents({
    samples: windowSamples(2),
    windowStart: WINDOW_START,
    windowEnd: WINDOW_END,
    intervalSeconds: 60,
    settings: settings(),
    node: NODE,
    version: "7.2.1",
    nextId: () => ids.next("measurement"),
  }) as Event7[];
  return structuredClone(host!);
}

describe("the validator is strict", () => {
  it("loads both schemas as draft-04", () => {
    expect(vesSchema("7.2.1").$schema).toBe("http://json-schema.org/draft-04/schema#");
    expect(vesSchema("5.4.1").$schema).toBe("http://json-schema.org/draft-04/schema#");
  });

  it("rejects a numeric hashMap value, naming the path", () => {
    const e = measurement7();
    const m = e.measurementFields!.additionalMeasurements![0]!;
    (m.hashMap as Record<string, unknown>).bad = 3;
    const r = validateVesEvent(e, "7.2.1");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors).toContain(
      "event.measurementFields.additionalMeasurements[0].hashMap.bad: must be string",
    );
  });

  it("rejects a boolean valuesAreSuspect", () => {
    const e = measurement7();
    (e.measurementFields!.nicPerformanceArray![0] as Record<string, unknown>).valuesAreSuspect = false;
    const r = validateVesEvent(e, "7.2.1");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors.join("\n")).toContain(
      "event.measurementFields.nicPerformanceArray[0].valuesAreSuspect",
    );
  });

  it("rejects VES 5 names in a 7.2.1 event", () => {
    const e = measurement7();
    const f = e.measurementFields as unknown as Record<string, unknown>;
    f.vNicPerformanceArray = f.nicPerformanceArray;
    delete f.nicPerformanceArray;
    const r = validateVesEvent(e, "7.2.1");
    expect(r).toEqual({
      ok: false,
      errors: ['event.measurementFields: unknown field "vNicPerformanceArray"'],
    });

    const d = measurement7();
    (d.commonEventHeader as unknown as Record<string, unknown>).domain = "measurementsForVfScaling";
    expect(validateVesEvent(d, "7.2.1").ok).toBe(false);
  });

  it("rejects numeric versions, a fractional sequence and an unknown header field", () => {
    const cases: ((e: Record<string, unknown>, h: Record<string, unknown>) => void)[] = [
      (_e, h) => {
        h.version = 4.1;
      },
      (_e, h) => {
        h.vesEventListenerVersion = "7.2.2";
      },
      (_e, h) => {
        h.sequence = 1.5;
      },
      (_e, h) => {
        h.colour = "blue";
      },
      (e) => {
        (e.measurementFields as Record<string, unknown>).measurementFieldsVersion = 4.0;
      },
    ];
    for (const mutate of cases) {
      const e = measurement7();
      mutate(
        e as unknown as Record<string, unknown>,
        e.commonEventHeader as unknown as Record<string, unknown>,
      );
      expect(validateVesEvent(e, "7.2.1").ok).toBe(false);
    }
  });

  it("rejects a batch that mixes domains, and a non-object event", () => {
    const ids = new EventIds();
    const hb = buildHeartbeat({
      time: WINDOW_END,
      intervalSeconds: 60,
      settings: settings(),
      node: NODE,
      version: "7.2.1",
      eventId: ids.next("heartbeat"),
    });
    const r = validateVesBatch({ eventList: [measurement7(), hb] }, "7.2.1");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors[0]).toMatch(/one domain/);
    expect(validateVesEvent("x", "7.2.1").ok).toBe(false);
    expect(validateVesBatch({ events: [] }, "7.2.1").ok).toBe(false);
  });

  it("finds VES 7 fields in a 5.4.1 event only in closed mode", () => {
    const ids = new EventIds();
    const [e] = buildMeasurementEvents({
      samples: windowSamples(2),
      windowStart: WINDOW_START,
      windowEnd: WINDOW_END,
      intervalSeconds: 60,
      settings: settings(),
      node: NODE,
      version: "5.4.1",
      nextId: () => ids.next("measurement"),
    });
    const h = e!.commonEventHeader as unknown as Record<string, unknown>;
    h.vesEventListenerVersion = "7.2.1";
    expect(validateVesEvent(e, "5.4.1").ok).toBe(true);
    expect(validateVesEvent(e, "5.4.1", { closed: true })).toEqual({
      ok: false,
      errors: ['event.commonEventHeader: unknown field "vesEventListenerVersion"'],
    });
  });
});
