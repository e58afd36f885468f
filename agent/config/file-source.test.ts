import { mkdtemp, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { realTimers } from "../../kube/timers.ts";
import { type FileConfig, ProfileFileSource } from "./file-source.ts";

const yaml = (name: string, interval: string) => `apiVersion: vesmon.io/v1alpha1
kind: MonitoringProfile
metadata: {name: ${name}}
spec:
  collectors: [{name: cpu, interval: ${interval}}]
  sinks: [{name: out, stdout: {}}]
`;

/** A source on `path` with real timers, a 20 ms debounce and the given poll interval. */
const sourceOn = (path: string, pollMs = 20) =>
  new ProfileFileSource({ path, timers: realTimers, log: pino({ level: "silent" }), pollMs, debounceMs: 20 });

/** A fresh directory holding `p.yaml` with profile "p" at a 10 s interval. */
async function profileFile(): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), "vesmon-src-"));
  const file = join(dir, "p.yaml");
  await writeFile(file, yaml("p", "10s"));
  return { dir, file };
}

async function next(source: ProfileFileSource): Promise<FileConfig> {
  return new Promise((resolve) => source.watch((c) => resolve(c)));
}

describe("ProfileFileSource", () => {
  it("reads profiles with generation 1, and bumps the generation of a changed spec only", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vesmon-src-"));
    await writeFile(join(dir, "a.yaml"), yaml("a", "10s"));
    await writeFile(join(dir, "b.yaml"), yaml("b", "10s"));
    const source = sourceOn(dir);
    const first = await source.read();
    expect(
      first.ok && first.profiles.map((p) => [p.name, p.generation, p.spec.collectors[0]?.interval]),
    ).toEqual([
      ["a", 1, "10s"],
      ["b", 1, "10s"],
    ]);
    const changed = next(source);
    await writeFile(join(dir, "b.yaml"), yaml("b", "5s"));
    const second = await changed;
    source.stop();
    expect(
      second.ok && second.profiles.map((p) => [p.name, p.generation, p.spec.collectors[0]?.interval]),
    ).toEqual([
      ["a", 1, "10s"],
      ["b", 2, "5s"],
    ]);
  });

  it("refuses an edit that does not validate, naming the field", async () => {
    const { file } = await profileFile();
    const source = sourceOn(file);
    expect((await source.read()).ok).toBe(true);
    const changed = next(source);
    await writeFile(file, yaml("p", "soon"));
    const refused = await changed;
    source.stop();
    expect(refused).toEqual({
      ok: false,
      errors: [
        {
          source: file,
          message:
            'spec.collectors[0].interval: must be a duration such as "10s", "1m30s" or "500ms" (got "soon")',
        },
      ],
    });
  });

  it("notices a file renamed over the profile through inotify, long before its next poll", async () => {
    const { dir, file } = await profileFile();
    // The poll alone would take an hour: only the watch can deliver the edit within the test's timeout.
    const source = sourceOn(file, 3_600_000);
    await source.read();
    const changed = next(source);
    // As an editor or a ConfigMap update does: a new file, renamed over the old one.
    await new Promise((r) => setTimeout(r, 100));
    await writeFile(join(dir, ".p.yaml.tmp"), yaml("p", "5s"));
    await rename(join(dir, ".p.yaml.tmp"), file);
    const config = await changed;
    source.stop();
    expect(config.ok && config.profiles.map((p) => [p.generation, p.spec.collectors[0]?.interval])).toEqual([
      [2, "5s"],
    ]);
  });
});
