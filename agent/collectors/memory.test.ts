import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import { SourceUnavailableError } from "./collector.ts";
import { memoryCollector, parseMeminfo } from "./memory.ts";
import type { CollectResult } from "./sample.ts";

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })));
});

/** A host root whose proc/meminfo holds `text`. */
async function hostRoot(text: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "vesmon-memory-"));
  roots.push(root);
  await mkdir(join(root, "proc"));
  await writeFile(join(root, "proc/meminfo"), text);
  return root;
}

function values(result: CollectResult): Record<string, number> {
  return Object.fromEntries(result.samples.map((s) => [s.metric, s.value]));
}

const spec = { name: "memory" as const, interval: "10s" };
const KiB = 1024;

describe("parseMeminfo", () => {
  it("reads the captured fixture in bytes, and unitless fields as counts", async () => {
    const { fields, skipped } = parseMeminfo(await readFile(join(FIXTURE_ROOT, "proc/meminfo"), "utf8"));
    expect(fields.get("MemTotal")).toBe(24683656 * KiB);
    expect(fields.get("MemAvailable")).toBe(24335904 * KiB);
    expect(fields.get("Active(anon)")).toBe(1488 * KiB);
    expect(fields.get("VmallocTotal")).toBe(34359738367 * KiB);
    expect(fields.get("HugePages_Total")).toBe(0);
    expect(fields.get("Hugepagesize")).toBe(2048 * KiB);
    expect(fields.size).toBe(54);
    expect(skipped).toEqual([]);
  });

  it("keeps unitless counts as they are", () => {
    expect(parseMeminfo("HugePages_Total:     512\nHugePages_Free:  12\n").fields).toEqual(
      new Map([
        ["HugePages_Total", 512],
        ["HugePages_Free", 12],
      ]),
    );
  });

  it("skips blank and malformed lines and reports them", () => {
    const { fields, skipped } = parseMeminfo("MemTotal: 100 kB\n\nMemFree 5 kB\nCached: x kB\nSlab: 7 MB\n");
    expect(fields).toEqual(new Map([["MemTotal", 100 * KiB]]));
    expect(skipped).toEqual(["MemFree 5 kB", "Cached: x kB", "Slab: 7 MB"]);
  });

  it.each(["", "\n\n", "garbage\n"])("refuses %j", (text) => {
    expect(() => parseMeminfo(text)).toThrow(/unexpected \/proc\/meminfo/);
  });
});

describe("memory collector", () => {
  it("reads the fixture host root", async () => {
    const collector = await memoryCollector.create(spec, testEnv());
    const result = await collector.collect();
    expect(result.errors).toEqual([]);
    expect(result.samples.map((s) => [s.metric, s.unit])).toEqual([
      ["host.memory.total", "bytes"],
      ["host.memory.free", "bytes"],
      ["host.memory.available", "bytes"],
      ["host.memory.buffers", "bytes"],
      ["host.memory.cached", "bytes"],
      ["host.memory.slab", "bytes"],
      ["host.memory.swap.total", "bytes"],
      ["host.memory.swap.free", "bytes"],
      ["host.memory.used", "bytes"],
      ["host.memory.used.percent", "percent"],
      ["host.memory.free.percent", "percent"],
    ]);
    const v = values(result);
    // Used is total - free - buffers - cached - slab (the VES definition); free.percent is the available share.
    expect(v["host.memory.used"]).toBe((24683656 - 23465908 - 28976 - 1002832 - 135776) * KiB);
    expect(v["host.memory.used.percent"]).toBeCloseTo(
      ((24683656 - 23465908 - 28976 - 1002832 - 135776) / 24683656) * 100,
      10,
    );
    expect(v["host.memory.free.percent"]).toBeCloseTo((24335904 / 24683656) * 100, 10);
    expect(result.samples.every((s) => s.source.kind === "host" && s.labels === undefined)).toBe(true);
  });

  it("computes used as VES defines it and the free share from MemAvailable", async () => {
    const root = await hostRoot(
      "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\nBuffers: 10 kB\nCached: 20 kB\n" +
        "Slab: 5 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
    );
    const v = values(await (await memoryCollector.create(spec, testEnv({ root }))).collect());
    expect(v).toMatchObject({
      "host.memory.available": 250 * KiB,
      "host.memory.used": (1000 - 100 - 10 - 20 - 5) * KiB,
      "host.memory.used.percent": 86.5,
      "host.memory.free.percent": 25,
    });
  });

  it("estimates available memory as free + buffers + cached on kernels without MemAvailable", async () => {
    const root = await hostRoot(
      "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 350 kB\nSlab: 5 kB\n" +
        "SwapTotal: 0 kB\nSwapFree: 0 kB\n",
    );
    const result = await (await memoryCollector.create(spec, testEnv({ root }))).collect();
    expect(result.errors).toEqual([]);
    expect(values(result)).toMatchObject({
      "host.memory.available": 500 * KiB,
      "host.memory.used": 495 * KiB,
      "host.memory.used.percent": 49.5,
      "host.memory.free.percent": 50,
    });
  });

  it("reports missing fields and malformed lines and keeps the rest", async () => {
    const root = await hostRoot("MemTotal: 1000 kB\nMemFree: 100 kB\nbogus line\n");
    const result = await (await memoryCollector.create(spec, testEnv({ root }))).collect();
    const path = join(root, "proc/meminfo");
    expect(result.errors).toEqual([
      `${path}: skipped malformed line "bogus line"`,
      `${path}: no MemAvailable`,
      `${path}: no Buffers`,
      `${path}: no Cached`,
      `${path}: no Slab`,
      `${path}: no SwapTotal`,
      `${path}: no SwapFree`,
    ]);
    expect(values(result)).toEqual({ "host.memory.total": 1000 * KiB, "host.memory.free": 100 * KiB });
  });

  it("names the missing file when the source is absent", async () => {
    const collector = await memoryCollector.create(spec, testEnv({ root: "/nonexistent" }));
    const read = collector.collect();
    await expect(read).rejects.toThrow("/nonexistent/proc/meminfo: ENOENT");
    await expect(read).rejects.toBeInstanceOf(SourceUnavailableError);
  });

  it("reads plausible figures on this host", async () => {
    const result = await (await memoryCollector.create(spec, testEnv({ root: "/" }))).collect();
    expect(result.errors).toEqual([]);
    const v = values(result);
    expect(v["host.memory.total"]).toBeGreaterThan(0);
    expect(v["host.memory.available"]).toBeLessThanOrEqual(v["host.memory.total"]!);
    for (const metric of ["host.memory.used.percent", "host.memory.free.percent"]) {
      expect(v[metric]).toBeGreaterThanOrEqual(0);
      expect(v[metric]).toBeLessThanOrEqual(100);
    }
  });
});
