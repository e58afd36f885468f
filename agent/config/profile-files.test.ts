import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseProfiles, readProfiles } from "./profile-files.ts";

const profile = (name: string, interval = "10s") => `apiVersion: vesmon.io/v1alpha1
kind: MonitoringProfile
metadata:
  name: ${name}
spec:
  collectors:
    - name: cpu
      interval: ${interval}
  sinks:
    - name: out
      stdout: {}
`;

describe("parseProfiles", () => {
  it("validates each document and names refused ones by position", () => {
    const set = parseProfiles(`${profile("a")}---\n${profile("b", "10")}---\n`, "p.yaml");
    expect(set.profiles.map((p) => [p.source, p.profile.metadata.name])).toEqual([["p.yaml#1", "a"]]);
    expect(set.errors).toEqual([
      {
        source: "p.yaml#2",
        message: 'spec.collectors[0].interval: must be a duration such as "10s", "1m30s" or "500ms" (got 10)',
      },
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    const set = parseProfiles("spec: [unclosed\n", "bad.yaml");
    expect(set.profiles).toEqual([]);
    expect(set.errors[0]?.source).toBe("bad.yaml");
    expect(set.errors[0]?.message).toMatch(/line 2|at line/);
  });
});

describe("readProfiles", () => {
  it("reads a directory's YAML files in name order, skipping hidden ones and refusing duplicate names", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vesmon-profiles-"));
    await writeFile(join(dir, "b.yaml"), profile("two"));
    await writeFile(join(dir, "a.yml"), profile("one"));
    await writeFile(join(dir, "c.yaml"), profile("one"));
    await writeFile(join(dir, ".hidden.yaml"), "not: [valid");
    await writeFile(join(dir, "notes.txt"), "ignored");
    const set = await readProfiles(dir);
    expect(set.profiles.map((p) => p.profile.metadata.name)).toEqual(["one", "two"]);
    expect(set.errors).toEqual([
      {
        source: join(dir, "c.yaml"),
        message: `metadata.name: profile "one" is already defined in ${join(dir, "a.yml")}`,
      },
    ]);
  });

  it("turns a missing path into an error, not an exception", async () => {
    const set = await readProfiles("/nonexistent/vesmon.yaml");
    expect(set.profiles).toEqual([]);
    expect(set.errors[0]?.message).toContain("ENOENT");
  });
});
