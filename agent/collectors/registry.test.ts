import { copyFile, mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COLLECTOR_NAMES } from "../../api/v1alpha1/collectors.ts";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import { createCollectorRegistry } from "./index.ts";
import { loadCollector } from "./load.ts";
import { CollectorRegistry } from "./registry.ts";

describe("collector registry", () => {
  it("holds exactly the collectors the API names", () => {
    expect(createCollectorRegistry().names()).toEqual([...COLLECTOR_NAMES].sort());
  });

  it("refuses a second collector with the same name", () => {
    const registry = new CollectorRegistry().register(loadCollector);
    expect(() => registry.register(loadCollector)).toThrow('collector "load" is already registered');
  });

  it("isolates a collector whose source is missing: it fails naming the path, the others still read", async () => {
    const registry = createCollectorRegistry();
    // A host root where only /proc/loadavg and /proc/meminfo exist.
    const root = await mkdtemp(join(tmpdir(), "vesmon-partial-"));
    await mkdir(join(root, "proc"));
    await copyFile(join(FIXTURE_ROOT, "proc/loadavg"), join(root, "proc/loadavg"));
    await copyFile(join(FIXTURE_ROOT, "proc/meminfo"), join(root, "proc/meminfo"));
    const env = testEnv({ root });
    const results = await Promise.allSettled(
      (["load", "memory", "cpu", "disk", "interface", "cgroups"] as const).map(async (name) => {
        const collector = await registry.get(name)!.create({ name, interval: "10s" }, env);
        try {
          return await collector.collect();
        } finally {
          await collector.close();
        }
      }),
    );
    const [load, memory, cpu, disk, iface, cgroups] = results;
    expect(load?.status === "fulfilled" && load.value.samples.length).toBeGreaterThan(0);
    expect(memory?.status === "fulfilled" && memory.value.samples.length).toBeGreaterThan(0);
    const reason = (r: PromiseSettledResult<unknown> | undefined) =>
      r?.status === "rejected" ? String(r.reason) : "fulfilled";
    expect(reason(cpu)).toContain(`${root}/proc/stat: ENOENT`);
    expect(reason(disk)).toContain(`${root}/proc/diskstats: ENOENT`);
    expect(reason(iface)).toContain(`${root}/proc/net/dev: ENOENT`);
    expect(reason(cgroups)).toMatch(new RegExp(`${root}/sys/fs/cgroup`));
  });
});
