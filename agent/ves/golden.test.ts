import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIXTURE_ROOT } from "../../test/helpers/collector-env.ts";
import {
  NODE,
  settings,
  VM1,
  WINDOW_END,
  WINDOW_START,
  windowSamples,
} from "../../test/helpers/ves-samples.ts";
import { buildFaultEvent } from "./fault.ts";
import { buildHeartbeat } from "./heartbeat.ts";
import { EventIdSequence } from "./ids.ts";
import { buildMeasurementEvents } from "./measurement.ts";
import { validateVesEvent } from "./schema.ts";
import type { VesVersion } from "./types.ts";

// Golden events: what the builders make from the shared sample window, checked in so any change to the
// output shows up in review. `VESMON_UPDATE_GOLDEN=1 npm test -- agent/ves/golden` rewrites them.
const dir = join(FIXTURE_ROOT, "ves/golden");
const update = process.env.VESMON_UPDATE_GOLDEN === "1";

function events(version: VesVersion, mode: "host" | "guest") {
  const s = settings({ vesVersion: version, mode });
  const ids = new EventIdSequence("measurement");
  const measurements = buildMeasurementEvents({
    samples: windowSamples(),
    windowStart: WINDOW_START,
    windowEnd: WINDOW_END,
    intervalSeconds: 60,
    settings: s,
    node: NODE,
    version,
    nextId: () => ids.next(),
  });
  const heartbeat = buildHeartbeat({
    time: WINDOW_END,
    intervalSeconds: 30,
    settings: s,
    node: NODE,
    version,
    eventId: "heartbeat0000000001",
  });
  const alarm = {
    eventId: "fault0000000007",
    startEpochMicrosec: WINDOW_START * 1000,
    sequence: 1,
    condition: "VmCpuHigh",
    specificProblem: "vm.cpu.percent 96.5 above failureMax 95",
    severity: "CRITICAL" as const,
    source: VM1,
    additional: { metric: "vm.cpu.percent", value: "96.5", bound: "95" },
  };
  const raise = buildFaultEvent({ alarm, time: WINDOW_END, settings: s, node: NODE, version });
  const clear = buildFaultEvent({
    alarm: { ...alarm, sequence: 2, severity: "NORMAL" },
    time: WINDOW_END + 60_000,
    settings: s,
    node: NODE,
    version,
  });
  return { measurements, heartbeat, raise, clear };
}

describe.each([
  ["7.2.1", "host"],
  ["7.2.1", "guest"],
  ["5.4.1", "host"],
] as const)("golden events, VES %s, %s mode", (version, mode) => {
  const built = events(version, mode);
  it.each(Object.keys(built))("%s match the checked-in file and the official schema", async (kind) => {
    const value = built[kind as keyof typeof built];
    const list = Array.isArray(value) ? value : [value];
    for (const e of list) expect(validateVesEvent(e, version)).toEqual({ ok: true });
    const file = join(dir, `${version}-${mode}-${kind}.json`);
    const text = `${JSON.stringify(value, null, 2)}\n`;
    if (update) await writeFile(file, text);
    expect(await readFile(file, "utf8").catch(() => "(missing: run with VESMON_UPDATE_GOLDEN=1)")).toBe(text);
  });
});
