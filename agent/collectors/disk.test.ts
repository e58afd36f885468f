import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import { SourceUnavailableError } from "./collector.ts";
import { diskCollector, parseDiskstats } from "./disk.ts";
import type { CollectResult } from "./sample.ts";

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })));
});

async function hostRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "vesmon-disk-"));
  roots.push(root);
  await mkdir(join(root, "proc"));
  return root;
}

async function writeDiskstats(root: string, lines: string[]): Promise<void> {
  await writeFile(join(root, "proc/diskstats"), `${lines.join("\n")}\n`);
}

interface Counters {
  reads?: bigint | number;
  sectorsRead?: bigint | number;
  readMs?: bigint | number;
  writes?: number;
  sectorsWritten?: number;
  writeMs?: number;
  ioMs?: bigint | number;
}

/** A 20-field diskstats line; counters not given are 0. */
function disk(name: string, c: Counters = {}): string {
  const { reads = 0, sectorsRead = 0, readMs = 0, writes = 0, sectorsWritten = 0, writeMs = 0, ioMs = 0 } = c;
  return `   8       0 ${name} ${reads} 0 ${sectorsRead} ${readMs} ${writes} 0 ${sectorsWritten} ${writeMs} 0 ${ioMs} 0 0 0 0 0 0 0`;
}

/** "device metric" → value. */
function values(result: CollectResult): Record<string, number> {
  return Object.fromEntries(result.samples.map((s) => [`${s.labels?.device} ${s.metric}`, s.value]));
}

function devices(result: CollectResult): string[] {
  return [...new Set(result.samples.map((s) => s.labels?.device))] as string[];
}

const spec: CollectorSpec = { name: "disk", interval: "10s" };

/** A collector over a temporary host root, with a clock that advances 10 s before each read. */
async function setup(settings: Partial<CollectorSpec> = {}) {
  const root = await hostRoot();
  const clock = { now: 0 };
  const collector = await diskCollector.create({ ...spec, ...settings }, testEnv({ root }, clock));
  const read = async (...lines: string[]) => {
    clock.now += 10_000;
    await writeDiskstats(root, lines);
    return collector.collect();
  };
  return { root, read };
}

describe("parseDiskstats", () => {
  it("reads the captured fixture, with the discard and flush counters of Linux 5.5", async () => {
    const { devices, skipped } = parseDiskstats(await readFile(join(FIXTURE_ROOT, "proc/diskstats"), "utf8"));
    expect([...devices.keys()]).toEqual([
      ...["loop0", "loop1", "loop2", "loop3", "loop4", "loop5", "loop6", "loop7"],
      "vda",
      "zram0",
    ]);
    expect(devices.get("vda")).toEqual({
      readsCompleted: 45198n,
      readsMerged: 9456n,
      sectorsRead: 3166978n,
      readMs: 23549n,
      writesCompleted: 10239n,
      writesMerged: 62088n,
      sectorsWritten: 3718392n,
      writeMs: 38673n,
      inFlight: 0n,
      ioMs: 11300n,
      weightedMs: 68432n,
      discardsCompleted: 23974n,
      discardsMerged: 71n,
      sectorsDiscarded: 1250896n,
      discardMs: 5935n,
      flushesCompleted: 889n,
      flushMs: 273n,
    });
    expect(skipped).toEqual([]);
  });

  it("reads the 14 fields of kernels before 4.18 and the 18 of kernels before 5.5", () => {
    const { devices } = parseDiskstats(
      "   8  0 sda 1 2 3 4 5 6 7 8 9 10 11\n   8 16 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",
    );
    const sda = devices.get("sda")!;
    expect(sda.weightedMs).toBe(11n);
    expect("discardsCompleted" in sda || "flushesCompleted" in sda).toBe(false);
    const sdb = devices.get("sdb")!;
    expect(sdb.discardMs).toBe(15n);
    expect("flushesCompleted" in sdb).toBe(false);
  });

  it("keeps counters above 2^53 exact", () => {
    const { devices } = parseDiskstats("8 0 sda 18446744073709551000 0 9007199254740993 0 0 0 0 0 0 0 0\n");
    expect(devices.get("sda")?.readsCompleted).toBe(18446744073709551000n);
    expect(devices.get("sda")?.sectorsRead).toBe(9007199254740993n);
  });

  it("skips blank, short and malformed lines and reports them", () => {
    const { devices, skipped } = parseDiskstats(
      "\n   3    1 hda1 35486 38030 38030 38030\ngarbage\n8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n\n8 16 sdb 1 2 3 4 5 6 7 8 9 10 11\n",
    );
    expect([...devices.keys()]).toEqual(["sdb"]);
    expect(skipped).toEqual([
      "   3    1 hda1 35486 38030 38030 38030",
      "garbage",
      "8 0 sda 1 2 3 4 5 6 7 8 9 10 x",
    ]);
  });

  it("takes an empty file as a host without block devices", () => {
    expect(parseDiskstats("").devices.size).toBe(0);
  });

  it.each(["garbage\n", "8 0 sda 1 2 3\n"])("refuses %j", (text) => {
    expect(() => parseDiskstats(text)).toThrow(/unexpected \/proc\/diskstats/);
  });
});

describe("disk collector", () => {
  it("reports no rates on the first read, then rates per device", async () => {
    const { read } = await setup();
    expect(await read(disk("sda", { reads: 1000, sectorsRead: 8000, readMs: 500, ioMs: 100 }))).toEqual({
      time: 10_000,
      samples: [],
      errors: [],
    });
    const result = await read(
      disk("sda", {
        reads: 1100,
        sectorsRead: 10000,
        readMs: 750,
        writes: 50,
        sectorsWritten: 1000,
        ioMs: 2600,
      }),
    );
    expect(result.errors).toEqual([]);
    expect(result.samples.map((s) => [s.metric, s.value, s.unit])).toEqual([
      ["host.disk.read.ops", 10, "ops/s"],
      ["host.disk.write.ops", 5, "ops/s"],
      ["host.disk.read.bytes", 102400, "bytes/s"],
      ["host.disk.write.bytes", 51200, "bytes/s"],
      ["host.disk.read.time", 2.5, "ms/op"],
      ["host.disk.write.time", 0, "ms/op"],
      ["host.disk.utilization.percent", 25, "percent"],
    ]);
    expect(result.samples.every((s) => s.labels?.device === "sda" && !s.suspect)).toBe(true);
  });

  it("reports 0 ms/op when no operation completed", async () => {
    const { read } = await setup();
    await read(disk("sda", { reads: 5, readMs: 10 }));
    const v = values(await read(disk("sda", { reads: 5, readMs: 10 })));
    expect(v).toMatchObject({ "sda host.disk.read.time": 0, "sda host.disk.read.ops": 0 });
  });

  it("leaves out loop and zram devices by default (fixture host root)", async () => {
    const clock = { now: 0 };
    const collector = await diskCollector.create(spec, testEnv(undefined, clock));
    await collector.collect();
    clock.now += 5000;
    const result = await collector.collect();
    expect(devices(result)).toEqual(["vda"]);
    expect(result.samples.every((s) => s.value === 0)).toBe(true);
  });

  it("applies include and exclude globs; an explicit exclude replaces the default one", async () => {
    const lines = [disk("loop0"), disk("sda"), disk("sdb"), disk("nvme0n1")];
    const included = await setup({ devices: { include: ["sd*"] } });
    await included.read(...lines);
    expect(devices(await included.read(...lines))).toEqual(["sda", "sdb"]);
    const excluded = await setup({ devices: { exclude: ["sdb"] } });
    await excluded.read(...lines);
    expect(devices(await excluded.read(...lines))).toEqual(["loop0", "sda", "nvme0n1"]);
  });

  it("gives no rate, and no negative value, for a counter that was reset", async () => {
    const { read } = await setup();
    await read(disk("sda", { reads: 1000, readMs: 100, writes: 10 }));
    const result = await read(disk("sda", { reads: 10, readMs: 110, writes: 20 }));
    const v = values(result);
    expect(v["sda host.disk.read.ops"]).toBeUndefined();
    expect(v["sda host.disk.read.time"]).toBeUndefined();
    expect(v["sda host.disk.write.ops"]).toBe(1);
    expect(result.samples.every((s) => s.value >= 0)).toBe(true);
    expect(values(await read(disk("sda", { reads: 30, readMs: 120, writes: 20 })))).toMatchObject({
      "sda host.disk.read.ops": 2,
      "sda host.disk.read.time": 0.5,
    });
  });

  it("takes a 64-bit wrap of a sector counter as the right delta, flagged suspect", async () => {
    const { read } = await setup();
    await read(disk("sda", { sectorsRead: 2n ** 64n - 1000n }));
    const result = await read(disk("sda", { sectorsRead: 1000 }));
    const bytes = result.samples.find((s) => s.metric === "host.disk.read.bytes");
    expect(bytes).toMatchObject({ value: (2000 * 512) / 10, suspect: true });
    expect(result.samples.filter((s) => s.suspect).map((s) => s.metric)).toEqual(["host.disk.read.bytes"]);
  });

  it("takes a 32-bit wrap of a millisecond counter as the right delta, flagged suspect", async () => {
    const { read } = await setup();
    await read(disk("sda", { ioMs: 2 ** 32 - 1000, reads: 2, readMs: 2 ** 32 - 10 }));
    const result = await read(disk("sda", { ioMs: 1500, reads: 4, readMs: 10 }));
    expect(result.samples.find((s) => s.metric === "host.disk.utilization.percent")).toMatchObject({
      value: 25,
      suspect: true,
    });
    expect(result.samples.find((s) => s.metric === "host.disk.read.time")).toMatchObject({
      value: 10,
      suspect: true,
    });
  });

  it("forgets a device that went away, so it starts afresh when it comes back", async () => {
    const { read } = await setup();
    await read(disk("sda"), disk("sdb", { reads: 500 }));
    expect(devices(await read(disk("sda")))).toEqual(["sda"]);
    // Had it been remembered, 500 → 600 would have given a rate spanning the time it was away.
    expect(devices(await read(disk("sda"), disk("sdb", { reads: 600 })))).toEqual(["sda"]);
    expect(values(await read(disk("sda"), disk("sdb", { reads: 620 })))["sdb host.disk.read.ops"]).toBe(2);
  });

  it("reports skipped lines in errors and reads the rest", async () => {
    const { root, read } = await setup();
    const result = await read(disk("sda"), "8 1 sda1 1 2");
    expect(result.errors).toEqual([`${join(root, "proc/diskstats")}: skipped malformed line "8 1 sda1 1 2"`]);
  });

  it("names the missing file when the source is absent", async () => {
    const collector = await diskCollector.create(spec, testEnv({ root: "/nonexistent" }));
    const read = collector.collect();
    await expect(read).rejects.toThrow("/nonexistent/proc/diskstats: ENOENT");
    await expect(read).rejects.toBeInstanceOf(SourceUnavailableError);
  });

  it("reads plausible rates on this host", async () => {
    const collector = await diskCollector.create(spec, testEnv({ root: "/" }));
    await collector.collect();
    await sleep(200);
    const result = await collector.collect();
    expect(result.errors).toEqual([]);
    expect(result.samples.every((s) => Number.isFinite(s.value) && s.value >= 0)).toBe(true);
    const utilization = result.samples.filter((s) => s.metric === "host.disk.utilization.percent");
    expect(utilization.every((s) => s.value <= 100)).toBe(true);
  });
});
