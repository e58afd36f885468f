import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import { SourceUnavailableError } from "./collector.ts";
import { CPU_STATES, cpuCollector, parseProcStat } from "./cpu.ts";
import type { CollectResult, Sample } from "./sample.ts";

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((r) => rm(r, { recursive: true, force: true })));
});

/** A host root holding only proc/stat. */
async function hostRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "vesmon-cpu-"));
  roots.push(root);
  await mkdir(join(root, "proc"));
  return root;
}

async function writeStat(root: string, lines: string[]): Promise<void> {
  await writeFile(join(root, "proc/stat"), `${lines.join("\n")}\nintr 1 2 3\nctxt 99\n`);
}

/** A cpu line from its user, system, idle and iowait ticks and guest's share of user. */
function line(cpu: string, user: bigint | number, system: number, idle: number, iowait: number, guest = 0) {
  return `${cpu} ${user} 0 ${system} ${idle} ${iowait} 0 0 0 ${guest} 0`;
}

/** The shares, without the accumulated-seconds counter every read also carries. */
function percent(result: CollectResult): Sample[] {
  return result.samples.filter((s) => s.metric !== "host.cpu.seconds.total");
}

/** state → percent for one CPU label; `usage` for host.cpu.usage.percent. */
function shares(result: CollectResult, cpu: string): Record<string, number> {
  return Object.fromEntries(
    percent(result)
      .filter((s) => s.labels?.cpu === cpu)
      .map((s) => [s.metric === "host.cpu.usage.percent" ? "usage" : s.labels?.state, s.value]),
  );
}

function cpuLabels(result: CollectResult): string[] {
  return [...new Set(percent(result).map((s) => s.labels?.cpu))] as string[];
}

describe("parseProcStat", () => {
  it("reads the captured fixture", async () => {
    const stat = parseProcStat(await readFile(join(FIXTURE_ROOT, "proc/stat"), "utf8"));
    expect([...stat.cpus.keys()]).toEqual(["total", "0", "1"]);
    expect(stat.cpus.get("total")).toEqual({
      user: 23935n,
      nice: 0n,
      system: 8793n,
      idle: 211079n,
      iowait: 636n,
      irq: 0n,
      softirq: 357n,
      steal: 58n,
      guest: 0n,
      guest_nice: 0n,
    });
    expect(stat.cpus.get("1")?.iowait).toBe(543n);
    expect(stat.skipped).toEqual([]);
  });

  it("reads missing trailing columns of old kernels as 0", () => {
    const stat = parseProcStat("cpu  10 20 30 40\ncpu0 10 20 30 40 5\n");
    expect(stat.cpus.get("total")).toMatchObject({
      user: 10n,
      idle: 40n,
      iowait: 0n,
      steal: 0n,
      guest_nice: 0n,
    });
    expect(stat.cpus.get("0")?.iowait).toBe(5n);
  });

  it("keeps counters above 2^53 exact", () => {
    const stat = parseProcStat("cpu 18446744073709551000 0 0 9007199254740993\n");
    expect(stat.cpus.get("total")?.user).toBe(18446744073709551000n);
    expect(stat.cpus.get("total")?.idle).toBe(9007199254740993n);
  });

  it("skips blank and malformed cpu lines and reports them", () => {
    const stat = parseProcStat("\ncpu 1 2 3 4\n\ncpu1 x y z w\ncpufoo 1 2 3 4\ncpu2 1 2\nintr 7 8\n");
    expect([...stat.cpus.keys()]).toEqual(["total"]);
    expect(stat.skipped).toEqual(["cpu1 x y z w", "cpufoo 1 2 3 4", "cpu2 1 2"]);
  });

  it.each(["", "intr 1 2\nctxt 3\n", "cpu a b c d\n"])("refuses %j", (text) => {
    expect(() => parseProcStat(text)).toThrow(/unexpected \/proc\/stat/);
  });
});

describe("cpu collector", () => {
  const spec = { name: "cpu" as const, interval: "10s" };

  it("reports nothing on the first read and each state's share of the interval after", async () => {
    const root = await hostRoot();
    const clock = { now: 1_000_000 };
    const collector = await cpuCollector.create(spec, testEnv({ root }, clock));
    await writeStat(root, [line("cpu", 1000, 500, 8000, 100, 100), line("cpu0", 1000, 500, 8000, 100, 100)]);
    const first = await collector.collect();
    expect(percent(first)).toEqual([]);
    // The counter is there from the first read: /proc/stat ticks at USER_HZ 100, as seconds.
    const seconds = first.samples.filter((s) => s.labels?.cpu === "total");
    expect(Object.fromEntries(seconds.map((s) => [s.labels?.state, s.value]))).toMatchObject({
      user: 10,
      system: 5,
      idle: 80,
      iowait: 1,
      guest: 1,
    });
    expect(seconds.every((s) => s.metric === "host.cpu.seconds.total" && s.unit === "seconds")).toBe(true);

    clock.now += 10_000;
    // +50 user (20 of them guest), +25 system, +100 idle, +25 iowait: 200 ticks.
    await writeStat(root, [line("cpu", 1050, 525, 8100, 125, 120), line("cpu0", 1050, 525, 8100, 125, 120)]);
    const result = await collector.collect();
    expect(result.errors).toEqual([]);
    expect(result.time).toBe(1_010_000);
    const expected = {
      user: 25,
      nice: 0,
      system: 12.5,
      idle: 50,
      iowait: 12.5,
      irq: 0,
      softirq: 0,
      steal: 0,
      guest: 10,
      guest_nice: 0,
      usage: 37.5,
    };
    expect(shares(result, "total")).toEqual(expected);
    expect(shares(result, "0")).toEqual(expected);
    expect(
      percent(result)
        .filter((s) => s.labels?.cpu === "total")
        .map((s) => s.metric),
    ).toEqual([...CPU_STATES.map(() => "host.cpu.percent"), "host.cpu.usage.percent"]);
    expect(percent(result).every((s) => s.unit === "percent" && s.source.kind === "host" && !s.suspect)).toBe(
      true,
    );
  });

  it("reports only the total when perCpu is false", async () => {
    const root = await hostRoot();
    const clock = { now: 0 };
    const collector = await cpuCollector.create({ ...spec, perCpu: false }, testEnv({ root }, clock));
    await writeStat(root, [line("cpu", 0, 0, 0, 0), line("cpu0", 0, 0, 0, 0), line("cpu1", 0, 0, 0, 0)]);
    await collector.collect();
    clock.now += 1000;
    await writeStat(root, [
      line("cpu", 10, 10, 20, 0),
      line("cpu0", 10, 10, 0, 0),
      line("cpu1", 0, 0, 20, 0),
    ]);
    const result = await collector.collect();
    expect(cpuLabels(result)).toEqual(["total"]);
    expect(shares(result, "total").usage).toBe(50);
  });

  it("gives no value for a CPU whose counters went back, and resumes on the next read", async () => {
    const root = await hostRoot();
    const clock = { now: 0 };
    const collector = await cpuCollector.create(spec, testEnv({ root }, clock));
    await writeStat(root, [
      line("cpu", 200, 0, 200, 0),
      line("cpu0", 100, 0, 100, 0),
      line("cpu1", 100, 0, 100, 0),
    ]);
    await collector.collect();
    clock.now += 1000;
    await writeStat(root, [
      line("cpu", 210, 0, 230, 0),
      line("cpu0", 110, 0, 130, 0),
      line("cpu1", 5, 0, 5, 0),
    ]);
    const reset = await collector.collect();
    expect(cpuLabels(reset)).toEqual(["total", "0"]);
    expect(percent(reset).every((s) => s.value >= 0 && s.value <= 100)).toBe(true);
    clock.now += 1000;
    await writeStat(root, [
      line("cpu", 220, 0, 260, 0),
      line("cpu0", 120, 0, 160, 0),
      line("cpu1", 15, 0, 35, 0),
    ]);
    const after = await collector.collect();
    expect(shares(after, "1").user).toBe(25);
  });

  it("takes a 64-bit wrap as the right delta, flagged suspect", async () => {
    const root = await hostRoot();
    const clock = { now: 0 };
    const collector = await cpuCollector.create({ ...spec, perCpu: false }, testEnv({ root }, clock));
    await writeStat(root, [line("cpu", 2n ** 64n - 10n, 0, 100, 0)]);
    await collector.collect();
    clock.now += 1000;
    await writeStat(root, [line("cpu", 40, 0, 250, 0)]);
    const result = await collector.collect();
    expect(shares(result, "total")).toMatchObject({ user: 25, idle: 75, usage: 25 });
    expect(percent(result).length).toBeGreaterThan(0);
    expect(percent(result).every((s) => s.suspect === true)).toBe(true);
  });

  it("keeps the other CPUs going when one goes offline and comes back", async () => {
    const root = await hostRoot();
    const clock = { now: 0 };
    const collector = await cpuCollector.create(spec, testEnv({ root }, clock));
    const read = async (...lines: string[]) => {
      clock.now += 1000;
      await writeStat(root, lines);
      return cpuLabels(await collector.collect());
    };
    expect(await read(line("cpu", 0, 0, 0, 0), line("cpu0", 0, 0, 0, 0), line("cpu1", 0, 0, 0, 0))).toEqual(
      [],
    );
    expect(await read(line("cpu", 10, 0, 10, 0), line("cpu0", 10, 0, 10, 0))).toEqual(["total", "0"]);
    // Back with higher counters: had it been remembered, it would report a share spanning its absence.
    expect(
      await read(line("cpu", 20, 0, 20, 0), line("cpu0", 20, 0, 20, 0), line("cpu1", 50, 0, 50, 0)),
    ).toEqual(["total", "0"]);
    expect(
      await read(line("cpu", 30, 0, 30, 0), line("cpu0", 30, 0, 30, 0), line("cpu1", 60, 0, 60, 0)),
    ).toEqual(["total", "0", "1"]);
  });

  it("reports a skipped line in errors and reads the rest", async () => {
    const root = await hostRoot();
    const collector = await cpuCollector.create(spec, testEnv({ root }, { now: 0 }));
    await writeStat(root, [line("cpu", 0, 0, 0, 0), "cpu7 garbage"]);
    const result = await collector.collect();
    expect(result.errors).toEqual([`${join(root, "proc/stat")}: skipped malformed line "cpu7 garbage"`]);
  });

  it("names the missing file when the source is absent", async () => {
    const collector = await cpuCollector.create(spec, testEnv({ root: "/nonexistent" }));
    const read = collector.collect();
    await expect(read).rejects.toThrow("/nonexistent/proc/stat: ENOENT");
    await expect(read).rejects.toBeInstanceOf(SourceUnavailableError);
  });

  it("reads plausible shares on this host", async () => {
    const collector = await cpuCollector.create(spec, testEnv({ root: "/" }));
    await collector.collect();
    await sleep(200);
    const result = await collector.collect();
    expect(result.errors).toEqual([]);
    expect(result.samples.some((s) => s.metric === "host.cpu.usage.percent")).toBe(true);
    expect(percent(result).every((s) => s.value >= 0 && s.value <= 100)).toBe(true);
  });
});
