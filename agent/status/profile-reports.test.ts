import { describe, expect, it } from "vitest";
import type { ResolvedProfileSpec } from "../../api/v1alpha1/types.ts";
import { profileReports } from "./profile-reports.ts";

const spec = { collectors: [], sinks: [] } as unknown as ResolvedProfileSpec;

describe("profileReports", () => {
  it("gives each report the generation asked for, and lets a note speak for a profile, keeping what runs", () => {
    const out = profileReports(
      [
        { name: "b", state: "Applied", appliedGeneration: 4 },
        { name: "a", state: "Refused", message: "Atomic: job virt failed" },
      ],
      [
        { name: "a", generation: 2, spec },
        { name: "b", generation: 4, spec },
      ],
      [
        { name: "b", state: "Refused", observedGeneration: 5, message: "spec.collectors[0].interval: bad" },
        { name: "c", state: "Pending", observedGeneration: 1, message: "waiting" },
      ],
    );
    expect(out).toEqual([
      { name: "a", state: "Refused", message: "Atomic: job virt failed", observedGeneration: 2 },
      {
        name: "b",
        state: "Refused",
        appliedGeneration: 4,
        observedGeneration: 5,
        message: "spec.collectors[0].interval: bad",
      },
      { name: "c", state: "Pending", observedGeneration: 1, message: "waiting" },
    ]);
  });
});
