import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeApiServer } from "../test/fake-apiserver/index.ts";
import { ManualTimers } from "../test/helpers/manual-timers.ts";
import { EventRecorder, type EventRecorderOptions } from "./events.ts";

const START = Date.parse("2026-03-01T12:00:00Z");
const PROFILE = {
  apiVersion: "vesmon.io/v1alpha1",
  kind: "MonitoringProfile",
  name: "default",
  uid: "0b7c1f9e-1111-4c1e-9a55-000000000001",
};
const SECRET = { apiVersion: "v1", kind: "Secret", name: "ves-auth", namespace: "vesmon-system" };

let api: FakeApiServer;
let timers: ManualTimers;
beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  timers = new ManualTimers();
  timers.advance(START);
});
afterEach(async () => {
  await api.close();
});

const recorder = (opts: Partial<EventRecorderOptions> = {}) =>
  new EventRecorder({
    kubeConfig: api.kubeConfig(),
    component: "vesmon-operator",
    host: "operator-0",
    timers,
    ...opts,
  });

interface StoredEvent {
  metadata: { name: string; namespace: string };
  involvedObject: Record<string, unknown>;
  type: string;
  reason: string;
  message: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: Record<string, unknown>;
  reportingComponent?: string;
}
const events = (ns = "default") => api.list("v1", "Event", ns) as unknown as StoredEvent[];

describe("EventRecorder", () => {
  it("creates a core v1 Event named after the object, in `default` for cluster-scoped objects", async () => {
    const r = recorder();
    await r.record(PROFILE, "Normal", "Applied", "profile applied to 3/3 nodes");
    const [ev, ...rest] = events();
    expect(rest).toEqual([]);
    expect(ev!.metadata.name).toMatch(/^default\.[0-9a-f]+$/);
    expect(ev).toMatchObject({
      involvedObject: { apiVersion: "vesmon.io/v1alpha1", kind: "MonitoringProfile", name: "default" },
      type: "Normal",
      reason: "Applied",
      message: "profile applied to 3/3 nodes",
      count: 1,
      source: { component: "vesmon-operator", host: "operator-0" },
      reportingComponent: "vesmon-operator",
    });
    expect(ev!.involvedObject.uid).toBe(PROFILE.uid);
    expect(new Date(ev!.firstTimestamp).getTime()).toBe(START);
    expect(r.written).toBe(1);
  });

  it("puts events about namespaced objects in the object's namespace", async () => {
    const r = recorder();
    await r.record(SECRET, "Warning", "InvalidSecret", "missing key password");
    expect(events("vesmon-system")).toHaveLength(1);
    expect(events()).toHaveLength(0);
    expect(r.failed).toBe(0);
  });

  it("aggregates repeats within 10 minutes into a count bump instead of a new Event", async () => {
    const r = recorder();
    await r.record(PROFILE, "Warning", "Degraded", "1/3 nodes failing");
    timers.advance(60_000);
    await r.record(PROFILE, "Warning", "Degraded", "1/3 nodes failing");
    timers.advance(9 * 60_000);
    await r.record(PROFILE, "Warning", "Degraded", "1/3 nodes failing");
    const [ev, ...rest] = events();
    expect(rest).toEqual([]);
    expect(ev!.count).toBe(3);
    expect(new Date(ev!.firstTimestamp).getTime()).toBe(START);
    expect(new Date(ev!.lastTimestamp).getTime()).toBe(START + 10 * 60_000);
    const patches = api.requests.filter((q) => q.method === "PATCH");
    expect(patches.map((p) => p.contentType)).toEqual([
      "application/merge-patch+json",
      "application/merge-patch+json",
    ]);
    expect(patches[0]!.path).toBe(`/api/v1/namespaces/default/events/${ev!.metadata.name}`);
  });

  it("starts a new Event for a different message or reason, or after the window", async () => {
    const r = recorder();
    await r.record(PROFILE, "Warning", "Degraded", "1/3 nodes failing");
    await r.record(PROFILE, "Warning", "Degraded", "2/3 nodes failing");
    await r.record(PROFILE, "Normal", "Applied", "1/3 nodes failing");
    timers.advance(10 * 60_000);
    await r.record(PROFILE, "Warning", "Degraded", "1/3 nodes failing");
    expect(events().map((e) => [e.reason, e.message, e.count])).toEqual(
      expect.arrayContaining([
        ["Degraded", "1/3 nodes failing", 1],
        ["Degraded", "2/3 nodes failing", 1],
        ["Applied", "1/3 nodes failing", 1],
      ]),
    );
    expect(events()).toHaveLength(4);
  });

  it("gives events recorded in the same millisecond distinct names", async () => {
    const r = recorder();
    await Promise.all([
      r.record(PROFILE, "Normal", "A", "a"),
      r.record(PROFILE, "Normal", "B", "b"),
      r.record(PROFILE, "Normal", "C", "c"),
    ]);
    expect(new Set(events().map((e) => e.metadata.name)).size).toBe(3);
  });

  it("creates a new Event when the aggregated one has gone", async () => {
    const r = recorder();
    await r.record(PROFILE, "Warning", "Degraded", "x");
    api.delete("v1", "Event", events()[0]!.metadata.name, "default");
    await r.record(PROFILE, "Warning", "Degraded", "x");
    expect(events().map((e) => e.count)).toEqual([1]);
    expect(r.failed).toBe(0);
  });

  it("never throws: failures are counted and logged, and later events still go out", async () => {
    const warnings: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as NonNullable<
      EventRecorderOptions["log"]
    >;
    const r = recorder({ log });
    api.failNext("POST", /\/events$/, 500, 1);
    await expect(r.record(PROFILE, "Normal", "Applied", "x")).resolves.toBeUndefined();
    expect(r.failed).toBe(1);
    expect(warnings).toEqual(["cannot record event"]);
    await r.record(PROFILE, "Normal", "Applied", "x");
    expect(events()).toHaveLength(1);
  });

  it("remembers a bounded number of recent keys", async () => {
    const r = recorder({ maxKeys: 2 });
    for (const reason of ["A", "B", "C"]) await r.record(PROFILE, "Normal", reason, "m");
    expect(r.remembered).toBe(2);
    // "A" was evicted, so its repeat is a new Event; "C" is still aggregated.
    await r.record(PROFILE, "Normal", "A", "m");
    await r.record(PROFILE, "Normal", "C", "m");
    expect(events().filter((e) => e.reason === "A")).toHaveLength(2);
    expect(
      events()
        .filter((e) => e.reason === "C")
        .map((e) => e.count),
    ).toEqual([2]);
  });
});
