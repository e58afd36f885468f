import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { MonitoringProfile } from "../../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../../api/v1alpha1/validators.ts";
import { ManualTimers } from "../../test/helpers/manual-timers.ts";
import { HOST } from "../collectors/sample.ts";
import { DEFAULT_RAISE_AFTER } from "../faults/collector-failures.ts";
import { jobFor } from "../scheduler/job.ts";
import { ProfilePipeline } from "./profile-pipeline.ts";

// Restarts, and a restart with the state directory gone: no source may see one eventId for two events.
// Every run starts at the same clock reading, the worst case for an id made from the start time.
const START = 1_800_000_000_000;

const spec = (() => {
  const r = validateMonitoringProfile({
    apiVersion: "vesmon.io/v1alpha1",
    kind: "MonitoringProfile",
    metadata: { name: "p" },
    spec: {
      collectors: [{ name: "load", interval: "1s" }],
      events: { measurementInterval: "5s", heartbeatInterval: "5s" },
      faults: { collectorFailures: true },
      sinks: [{ name: "out", stdout: {} }],
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const { nodeSelector: _n, ...resolved } = (r.value as MonitoringProfile).spec;
  return resolved;
})();

interface Header {
  domain: string;
  sourceName: string;
  eventId: string;
  sequence: number;
}

/** One agent run of eight windows on `stateDir`: measurements, heartbeats, and a collector fault raised after
 * DEFAULT_RAISE_AFTER failed collections in a row, then cleared. Returns the headers of what it emitted. */
async function run(stateDir: string): Promise<Header[]> {
  const timers = new ManualTimers();
  timers.advance(START);
  const out = new PassThrough();
  const headers: Header[] = [];
  out.on("data", (c: Buffer) => {
    for (const l of c.toString().split("\n").filter(Boolean))
      headers.push((JSON.parse(l) as { commonEventHeader: Header }).commonEventHeader);
  });
  const log = pino({ level: "silent" });
  const p = await ProfilePipeline.open(
    { name: "p", generation: 1, spec },
    { node: "node-a", timers, stateDir, credentialsDir: "/nonexistent", stdout: out, log },
  );
  const job = jobFor(spec.collectors[0]!);
  for (let s = 0; s < 8; s++) {
    const time = timers.now();
    if (s < 1 || s >= 1 + DEFAULT_RAISE_AFTER)
      p.onOutcome({
        job,
        ok: true,
        result: {
          time,
          samples: [{ metric: "host.load.running", value: s, unit: "count", source: HOST }],
          errors: [],
        },
      });
    else p.onOutcome({ job, ok: false, error: "load source gone", time });
    timers.advance(5000);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }
  await p.close();
  return headers;
}

/** eventIds used twice for one source; a fault's raise, changes and clear share one id by design (VES). */
function repeated(all: Header[]): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const h of all) {
    if (h.domain === "fault" && h.sequence > 1) continue;
    const key = `${h.sourceName}|${h.eventId}`;
    if (seen.has(key)) twice.push(key);
    seen.add(key);
  }
  return twice;
}

describe("eventIds across restarts", () => {
  it("never repeats an id for one source: two runs on one state directory, then one after deleting it", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "vesmon-ids-"));
    const first = await run(stateDir);
    const second = await run(stateDir);
    await rm(stateDir, { recursive: true, force: true });
    const third = await run(stateDir);
    for (const r of [first, second, third])
      expect(new Set(r.map((h) => h.domain))).toEqual(new Set(["measurement", "heartbeat", "fault"]));
    expect(repeated([...first, ...second, ...third])).toEqual([]);
    // Within a run ids still count up by one per event, as VES asks.
    const beats = first.filter((h) => h.domain === "heartbeat").map((h) => h.eventId);
    expect(beats.map((id) => Number(id.slice(-10)))).toEqual(beats.map((_, i) => i + 1));
    expect(beats[0]).toMatch(/^heartbeat-[0-9a-z]+-0000000001$/);
  });
});
