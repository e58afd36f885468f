import { describe, expect, it } from "vitest";
import { applyChanges, summarizeChanges } from "./apply-changes.ts";

describe("applyChanges", () => {
  const sink = (profile: string, key: string) => ({ profile, name: "ves", kind: "ves", key });
  const job = (profile: string, id: string, interval: string, extra: object = {}) => ({
    profile,
    id,
    spec: { name: "disk" as const, interval, ...extra },
  });

  it("names a sink reopened with new settings, and lists a shared job under each profile", () => {
    const changes = applyChanges(
      { jobs: [job("a", "disk-1", "5s")], sinks: [sink("a", "k1")] },
      { jobs: [job("a", "disk-1", "5s"), job("b", "disk-1", "5s")], sinks: [sink("a", "k2")] },
    );
    expect(changes).toMatchObject({
      jobsStarted: ["b/disk"],
      jobsChanged: [],
      sinksReopened: ["a/ves (ves)"],
    });
    expect(summarizeChanges(changes)).toBe("started b/disk; reopened sink a/ves (ves)");
  });

  it("names the settings of a changed job that are not a plain value", () => {
    const changes = applyChanges(
      { jobs: [job("a", "disk-1", "5s")], sinks: [] },
      { jobs: [job("a", "disk-2", "5s", { devices: { exclude: ["loop*"] } })], sinks: [] },
    );
    expect(changes.jobsChanged).toEqual(["a/disk (devices)"]);
  });
});
