import { cp, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import { FIXTURE_ROOT, testEnv } from "../../test/helpers/collector-env.ts";
import { cgroupsCollector } from "./cgroups.ts";
import { SourceUnavailableError } from "./collector.ts";
import { HOST, type Sample } from "./sample.ts";

const VM1 = "machine.slice/machine-qemu\\x2d1\\x2dvm\\x2done.scope";
const VM2 = "machine.slice/machine-qemu\\x2d2\\x2dweb\\x2dfrontend\\x2d01.scope";
const VM3 = "machine.slice/machine-production.slice/machine-qemu\\x2d3\\x2ddb.scope";
const TINY = "machine/qemu-1-tiny.libvirt-qemu";
const DB = "machine/prod.partition/qemu-2-db-main.libvirt-qemu";
const T0 = 1_700_000_000_000;

const temps: string[] = [];
afterEach(async () => {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A scratch copy of a fixture tree, so a test can move its counters. */
async function copyFixture(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "vesmon-cgroup-"));
  temps.push(dir);
  await cp(join(FIXTURE_ROOT, name), dir, { recursive: true });
  return dir;
}

function spec(extra: Partial<CollectorSpec> = {}): CollectorSpec {
  return { name: "cgroups", interval: "10s", ...extra };
}

/** The samples of one cgroup as metric → value; a metric reported twice fails the test. */
function figures(samples: readonly Sample[], path: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples.filter((s) => s.labels?.path === path)) {
    expect(out, `${s.metric} of ${path} reported twice`).not.toHaveProperty([s.metric]);
    out[s.metric] = s.value;
  }
  return out;
}

function paths(samples: readonly Sample[]): string[] {
  return [...new Set(samples.map((s) => s.labels?.path ?? "?"))];
}

const VM1_CPU_2 =
  "usage_usec 20000000\nuser_usec 13000000\nsystem_usec 7000000\nnice_usec 0\n" +
  "nr_periods 2200\nnr_throttled 130\nthrottled_usec 1400000\nnr_bursts 0\nburst_usec 0\n";
const VM1_IO_2 =
  "253:0 rbytes=125337600 wbytes=62668800 rios=4000 wios=1500 dbytes=0 dios=0\n8:16 rbytes=4096 rios=1\n";

describe("cgroups collector on a cgroup v2 systemd tree", () => {
  it("reports gauges on the first read, exact rates on the second", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    const clock = { now: T0 };
    const collector = await cgroupsCollector.create(spec(), testEnv({ cgroup: root }, clock));

    const first = await collector.collect();
    expect(first.errors).toEqual([]);
    expect(first.time).toBe(T0);
    // `machine` is a default path this host lacks: skipped without an error.
    expect(paths(first.samples)).toEqual(["machine.slice", "kubepods.slice", VM3, VM1, VM2]);
    expect(figures(first.samples, VM1)).toEqual({
      "cgroup.memory.usage": 1610612736,
      "cgroup.memory.limit": 2147483648,
      "cgroup.memory.usage.percent": 75,
      "cgroup.memory.rss": 1342177280,
      "cgroup.memory.cache": 234881024,
      "cgroup.pids.current": 7,
    });

    await writeFile(join(root, VM1, "cpu.stat"), VM1_CPU_2);
    await writeFile(join(root, VM1, "io.stat"), VM1_IO_2);
    await writeFile(join(root, VM1, "memory.current"), "1073741824\n");
    clock.now += 10_000;
    const second = await collector.collect();
    expect(second.errors).toEqual([]);
    expect(figures(second.samples, VM1)).toEqual({
      "cgroup.cpu.percent": 150,
      "cgroup.cpu.user.percent": 100,
      "cgroup.cpu.system.percent": 50,
      "cgroup.cpu.throttled.percent": 10,
      "cgroup.memory.usage": 1073741824,
      "cgroup.memory.limit": 2147483648,
      "cgroup.memory.usage.percent": 50,
      "cgroup.memory.rss": 1342177280,
      "cgroup.memory.cache": 234881024,
      "cgroup.io.read.bytes": 2048000,
      "cgroup.io.write.bytes": 1024000,
      "cgroup.io.read.ops": 200,
      "cgroup.io.write.ops": 50,
      "cgroup.pids.current": 7,
    });
    const vm1 = second.samples.filter((s) => s.labels?.path === VM1);
    expect(vm1.every((s) => s.source === HOST && s.suspect === undefined)).toBe(true);
    expect(vm1[0]?.labels).toEqual({ path: VM1, domain: "vm-one", vmId: "1" });
    expect(Object.fromEntries(vm1.map((s) => [s.metric, s.unit]))).toEqual({
      "cgroup.cpu.percent": "percent",
      "cgroup.cpu.user.percent": "percent",
      "cgroup.cpu.system.percent": "percent",
      "cgroup.cpu.throttled.percent": "percent",
      "cgroup.memory.usage": "bytes",
      "cgroup.memory.limit": "bytes",
      "cgroup.memory.usage.percent": "percent",
      "cgroup.memory.rss": "bytes",
      "cgroup.memory.cache": "bytes",
      "cgroup.io.read.bytes": "bytes/s",
      "cgroup.io.write.bytes": "bytes/s",
      "cgroup.io.read.ops": "ops/s",
      "cgroup.io.write.ops": "ops/s",
      "cgroup.pids.current": "count",
    });
  });

  it("reports limits, missing controllers and unthrottled cgroups as they are", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    const clock = { now: T0 };
    const collector = await cgroupsCollector.create(spec(), testEnv({ cgroup: root }, clock));
    await collector.collect();
    clock.now += 5_000;
    const { samples, errors } = await collector.collect();
    expect(errors).toEqual([]);
    // VM 2 predates libvirt 7.1 (no libvirt/ level) and has no io controller: no io samples, no error.
    expect(figures(samples, VM2)).toEqual({
      "cgroup.cpu.percent": 0,
      "cgroup.cpu.user.percent": 0,
      "cgroup.cpu.system.percent": 0,
      "cgroup.memory.usage": 536870912,
      "cgroup.memory.rss": 469762048,
      "cgroup.memory.cache": 50331648,
      "cgroup.pids.current": 5,
      "cgroup.pids.limit": 1024,
    });
    expect(samples.find((s) => s.labels?.path === VM2)?.labels).toEqual({
      path: VM2,
      domain: "web-frontend-01",
      vmId: "2",
    });
    // An empty io.stat is a VM that did no I/O yet.
    expect(figures(samples, VM3)["cgroup.io.read.bytes"]).toBe(0);
    expect(figures(samples, "kubepods.slice")).toMatchObject({
      "cgroup.memory.limit": 23622320128,
      "cgroup.memory.usage.percent": (5838471168 / 23622320128) * 100,
      "cgroup.pids.current": 312,
      "cgroup.pids.limit": 4194304,
      "cgroup.cpu.throttled.percent": 0,
    });
    expect(figures(samples, "machine.slice")).not.toHaveProperty(["cgroup.memory.limit"]);
    expect(samples.find((s) => s.labels?.path === "machine.slice")?.labels).toEqual({
      path: "machine.slice",
    });
  });

  it("gives no rate across a counter reset and none on a clock that did not move", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    const clock = { now: T0 };
    const collector = await cgroupsCollector.create(spec({ paths: [VM1] }), testEnv({ cgroup: root }, clock));
    await collector.collect();
    const still = await collector.collect();
    expect(figures(still.samples, VM1)).not.toHaveProperty(["cgroup.cpu.percent"]);

    await writeFile(join(root, VM1, "cpu.stat"), "usage_usec 1000\nuser_usec 600\nsystem_usec 400\n");
    await writeFile(join(root, VM1, "io.stat"), "");
    clock.now += 10_000;
    const reset = await collector.collect();
    expect(reset.errors).toEqual([]);
    const rates = reset.samples.filter((s) => s.labels?.path === VM1 && /cpu|io/.test(s.metric));
    expect(rates).toEqual([]);

    await writeFile(
      join(root, VM1, "cpu.stat"),
      "usage_usec 1001000\nuser_usec 600600\nsystem_usec 400400\n",
    );
    clock.now += 10_000;
    expect(figures((await collector.collect()).samples, VM1)).toMatchObject({
      "cgroup.cpu.percent": 10,
      "cgroup.cpu.user.percent": 6,
      "cgroup.cpu.system.percent": 4,
      "cgroup.io.read.bytes": 0,
    });
  });

  it("marks a rate across a 64-bit wrap suspect", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    const clock = { now: T0 };
    const collector = await cgroupsCollector.create(spec({ paths: [VM1] }), testEnv({ cgroup: root }, clock));
    await writeFile(join(root, VM1, "io.stat"), "8:0 rbytes=18446744073709551000 wbytes=5 rios=1 wios=1\n");
    await collector.collect();
    await writeFile(join(root, VM1, "io.stat"), "8:0 rbytes=1000 wbytes=5 rios=1 wios=1\n");
    clock.now += 2_000;
    const { samples } = await collector.collect();
    const vm1 = samples.filter((s) => s.labels?.path === VM1);
    expect(vm1.filter((s) => s.metric === "cgroup.io.read.bytes")).toEqual([
      expect.objectContaining({ value: 808, suspect: true }),
    ]);
    expect(vm1.find((s) => s.metric === "cgroup.io.write.bytes")).not.toHaveProperty("suspect");
  });

  it("reports a scope that is also a configured path once, as the VM", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    const collector = await cgroupsCollector.create(
      spec({ paths: [VM1, "machine.slice/"] }),
      testEnv({ cgroup: root }),
    );
    const { samples, errors } = await collector.collect();
    expect(errors).toEqual([]);
    expect(paths(samples)).toEqual([VM1, "machine.slice", VM3, VM2]);
    expect(samples.find((s) => s.labels?.path === VM1)?.labels).toEqual({
      path: VM1,
      domain: "vm-one",
      vmId: "1",
    });
  });

  it("reads only the configured paths when discovery is off", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    const collector = await cgroupsCollector.create(
      spec({ paths: ["machine.slice/machine-production.slice", "system.slice"], discoverVMs: false }),
      testEnv({ cgroup: root }),
    );
    const { samples, errors } = await collector.collect();
    expect(errors).toEqual([]);
    expect(paths(samples)).toEqual(["machine.slice/machine-production.slice", "system.slice"]);
  });

  it("names a missing configured path and still reads the others", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    const collector = await cgroupsCollector.create(
      spec({ paths: ["machine.slice", "no-such.slice", "../escape"], discoverVMs: false }),
      testEnv({ cgroup: root }),
    );
    const { samples, errors } = await collector.collect();
    expect(errors).toEqual([
      `cgroup path no-such.slice: not found under ${root}`,
      'cgroup path "../escape": not below the cgroup root',
    ]);
    expect(paths(samples)).toEqual(["machine.slice"]);
  });

  it("names an unreadable or malformed file and keeps the rest", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    await rm(join(root, VM1, "memory.current"));
    await writeFile(join(root, VM1, "pids.current"), "lots\n");
    const collector = await cgroupsCollector.create(spec(), testEnv({ cgroup: root }));
    const { samples, errors } = await collector.collect();
    expect(errors).toEqual([
      `${join(root, VM1, "memory.current")}: ENOENT`,
      `${join(root, VM1, "pids.current")}: expected an unsigned integer, got "lots\\n"`,
    ]);
    expect(figures(samples, VM1)).toEqual({
      "cgroup.memory.limit": 2147483648,
      "cgroup.memory.rss": 1342177280,
      "cgroup.memory.cache": 234881024,
    });
    expect(paths(samples)).toEqual(["machine.slice", "kubepods.slice", VM3, VM1, VM2]);
  });

  it("rejects naming the paths when none exists and no VM is found", async () => {
    const root = await copyFixture("cgroup-v2-systemd");
    await rm(join(root, "machine.slice"), { recursive: true });
    await rm(join(root, "kubepods.slice"), { recursive: true });
    const collector = await cgroupsCollector.create(spec(), testEnv({ cgroup: root }));
    const failure = collector.collect();
    await expect(failure).rejects.toBeInstanceOf(SourceUnavailableError);
    await expect(failure).rejects.toThrow(
      `no cgroup found under ${root}: tried machine.slice, machine, kubepods.slice and VM scopes under machine.slice, machine`,
    );

    const chosen = await cgroupsCollector.create(
      spec({ paths: ["a.slice", "b"], discoverVMs: false }),
      testEnv({ cgroup: root }),
    );
    await expect(chosen.collect()).rejects.toThrow(`no cgroup found under ${root}: tried a.slice, b`);
  });

  it("rejects naming the root when there is no cgroup filesystem", async () => {
    const collector = await cgroupsCollector.create(spec(), testEnv({ cgroup: "/nonexistent/cgroup" }));
    await expect(collector.collect()).rejects.toThrow(
      new SourceUnavailableError("/nonexistent/cgroup: ENOENT"),
    );
    const empty = await copyFixture("proc");
    const noControllers = await cgroupsCollector.create(spec(), testEnv({ cgroup: empty }));
    await expect(noControllers.collect()).rejects.toThrow(
      /neither cgroup v2 \(cgroup.controllers\) nor a v1 controller/,
    );
  });
});

function blkio(lines: [string, number, number][]): string {
  let total = 0;
  let text = "";
  for (const [dev, read, write] of lines) {
    text += `${dev} Read ${read}\n${dev} Write ${write}\n${dev} Sync ${write}\n${dev} Async ${read}\n`;
    text += `${dev} Discard 0\n${dev} Total ${read + write}\n`;
    total += read + write;
  }
  return `${text}Total ${total}\n`;
}

/** Moves the tiny VM's counters: 10 s later, 1 s of CPU (0.5 s user, 0.2 s system) and some I/O. */
async function advanceTiny(root: string, cpuDir: string, cpuacctDir: string) {
  const at = (dir: string, ...rest: string[]) => join(root, dir, TINY, ...rest);
  await writeFile(at(cpuacctDir, "cpuacct.usage"), "3000000000\n");
  await writeFile(at(cpuacctDir, "cpuacct.stat"), "user 170\nsystem 80\n");
  await writeFile(
    at(cpuDir, "cpu.stat"),
    "nr_periods 900\nnr_throttled 20\nthrottled_time 250000000\nnr_bursts 0\nburst_time 0\n",
  );
  await writeFile(
    at("blkio", "blkio.throttle.io_service_bytes_recursive"),
    blkio([
      ["254:0", 12485760, 5194304],
      ["254:16", 1048576, 0],
    ]),
  );
  await writeFile(
    at("blkio", "blkio.throttle.io_serviced_recursive"),
    blkio([
      ["254:0", 500, 150],
      ["254:16", 20, 0],
    ]),
  );
}

const TINY_FIRST = {
  "cgroup.memory.usage": 268435456,
  "cgroup.memory.limit": 1073741824,
  "cgroup.memory.usage.percent": 25,
  "cgroup.memory.rss": 201326592,
  "cgroup.memory.cache": 50331648,
  "cgroup.pids.current": 4,
};
const TINY_SECOND = {
  "cgroup.cpu.percent": 10,
  "cgroup.cpu.user.percent": 5,
  "cgroup.cpu.system.percent": 2,
  "cgroup.cpu.throttled.percent": 1,
  ...TINY_FIRST,
  "cgroup.io.read.bytes": 200000,
  "cgroup.io.write.bytes": 100000,
  "cgroup.io.read.ops": 20,
  "cgroup.io.write.ops": 5,
};

describe("cgroups collector on a cgroup v1 non-systemd tree", () => {
  async function twoReads(root: string, cpuDir: string, cpuacctDir: string) {
    const clock = { now: T0 };
    const collector = await cgroupsCollector.create(spec(), testEnv({ cgroup: root }, clock));
    const first = await collector.collect();
    await advanceTiny(root, cpuDir, cpuacctDir);
    clock.now += 10_000;
    return { first, second: await collector.collect() };
  }

  it("reads co-mounted cpu,cpuacct", async () => {
    const root = await copyFixture("cgroup-v1-nonsystemd");
    const { first, second } = await twoReads(root, "cpu,cpuacct", "cpu,cpuacct");
    expect(first.errors).toEqual([]);
    expect(second.errors).toEqual([]);
    expect(paths(first.samples)).toEqual(["machine", DB, TINY]);
    expect(figures(first.samples, TINY)).toEqual(TINY_FIRST);
    expect(figures(second.samples, TINY)).toEqual(TINY_SECOND);
    expect(second.samples.find((s) => s.labels?.path === TINY)?.labels).toEqual({
      path: TINY,
      domain: "tiny",
      vmId: "1",
    });
    // The VM in a custom partition is not in the pids hierarchy (libvirt's default controllers) and its kernel
    // has no _recursive blkio files: no pids samples, io from the plain files, no errors.
    expect(figures(second.samples, DB)).toEqual({
      "cgroup.cpu.percent": 0,
      "cgroup.cpu.user.percent": 0,
      "cgroup.cpu.system.percent": 0,
      "cgroup.memory.usage": 134217728,
      "cgroup.memory.rss": 100663296,
      "cgroup.memory.cache": 16777216,
      "cgroup.io.read.bytes": 0,
      "cgroup.io.write.bytes": 0,
      "cgroup.io.read.ops": 0,
      "cgroup.io.write.ops": 0,
    });
    expect(second.samples.find((s) => s.labels?.path === DB)?.labels).toEqual({
      path: DB,
      domain: "db-main",
      vmId: "2",
    });
    expect(figures(second.samples, "machine")).toMatchObject({
      "cgroup.pids.current": 9,
      "cgroup.io.read.ops": 0,
    });
  });

  it("reads cpu and cpuacct mounted separately, as on this machine", async () => {
    const root = await copyFixture("cgroup-v1-nonsystemd");
    await rename(join(root, "cpu,cpuacct"), join(root, "cpuacct"));
    await cp(join(root, "cpuacct"), join(root, "cpu"), { recursive: true });
    const { first, second } = await twoReads(root, "cpu", "cpuacct");
    expect(first.errors).toEqual([]);
    expect(second.errors).toEqual([]);
    expect(figures(first.samples, TINY)).toEqual(TINY_FIRST);
    expect(figures(second.samples, TINY)).toEqual(TINY_SECOND);
  });

  it("names a missing configured path with the controller roots it looked in", async () => {
    const root = await copyFixture("cgroup-v1-nonsystemd");
    const collector = await cgroupsCollector.create(
      spec({ paths: ["machine", "machine.slice"] }),
      testEnv({ cgroup: root }),
    );
    const { samples, errors } = await collector.collect();
    const mounts = ["cpu,cpuacct", "memory", "blkio", "pids"].map((m) => join(root, m)).join(", ");
    expect(errors).toEqual([`cgroup path machine.slice: not found under ${mounts}`]);
    expect(paths(samples)).toEqual(["machine", DB, TINY]);
  });
});
