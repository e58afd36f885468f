import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validateMonitoringProfile } from "../../api/v1alpha1/validators.ts";
import { HostPaths } from "../host-paths.ts";
import { DEFAULT_PROFILE, defaultProfile } from "./default-profile.ts";

describe("the built-in profile", () => {
  it("is examples/profiles/local.yaml", () => {
    const file = parse(readFileSync(join(import.meta.dirname, "../../examples/profiles/local.yaml"), "utf8"));
    expect(validateMonitoringProfile(file)).toEqual(validateMonitoringProfile(DEFAULT_PROFILE));
  });

  it("adds virt only when libvirt's read-only socket exists under the host root", () => {
    const names = (root: string) =>
      defaultProfile(new HostPaths({ root })).spec.collectors.map((c) => c.name);
    expect(names("/nonexistent")).toEqual(["cpu", "memory", "load", "disk", "interface"]);
  });
});
