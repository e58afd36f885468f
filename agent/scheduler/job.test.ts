import { describe, expect, it } from "vitest";
import { jobFor } from "./job.ts";

describe("jobFor with the profile's events", () => {
  const events = { measurementInterval: "30s" };

  it("gives the virt collector the window as the cadence of its slow groups, unless it names one", () => {
    expect(jobFor({ name: "virt", interval: "10s" }, events).spec.slowGroupsInterval).toBe("30s");
    expect(
      jobFor({ name: "virt", interval: "10s", slowGroupsInterval: "1m" }, events).spec.slowGroupsInterval,
    ).toBe("1m");
    expect(jobFor({ name: "cpu", interval: "10s" }, events).spec).toEqual({ name: "cpu", interval: "10s" });
  });

  it("does not share one virt job between profiles with different windows", () => {
    const virt = { name: "virt", interval: "10s" } as const;
    expect(jobFor(virt, events).id).not.toBe(jobFor(virt, { measurementInterval: "1m" }).id);
    expect(jobFor(virt, events).id).toBe(jobFor(virt, { measurementInterval: "30s" }).id);
  });
});
