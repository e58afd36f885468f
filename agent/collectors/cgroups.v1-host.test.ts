import { type ChildProcessByStdio, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { testEnv } from "../../test/helpers/collector-env.ts";
import { cgroupsCollector } from "./cgroups.ts";
import type { Sample } from "./sample.ts";

// This machine kind runs cgroup v1 and the tests run as root, so real child cgroups give real v1 files.
const CGROUP_ROOT = "/sys/fs/cgroup";
const CONTROLLERS = ["cpuacct", "memory", "pids", "blkio"];
const NAME = `vesmon-test-${process.pid}-${Date.now()}`;

// Waits for "go" so that its memory and CPU are charged to the cgroup it has been moved into by then.
const CHILD = `
process.stdin.once("data", () => {
  const held = Buffer.alloc(16 << 20, 1);
  const end = Date.now() + 150;
  while (Date.now() < end);
  process.stdout.write("ready\\n");
  setInterval(() => held[0]++, 1000);
  setTimeout(() => process.exit(0), 30000);
});`;

const made: string[] = [];
let child: ChildProcessByStdio<Writable, Readable, null> | undefined;

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }
  for (const dir of made.reverse()) {
    // The kernel may take a moment to drop the dead task from the cgroup.
    for (let attempt = 0; ; attempt++) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") break;
        if (attempt >= 20) throw err;
        await sleep(50);
      }
    }
  }
});

function value(samples: readonly Sample[], metric: string): number | undefined {
  return samples.find((s) => s.metric === metric && s.labels?.path === NAME)?.value;
}

describe("cgroups collector on this host's real cgroup v1", () => {
  it("reads a child cgroup holding a live process", async () => {
    if (!existsSync(join(CGROUP_ROOT, "memory")))
      throw new Error(
        `${CGROUP_ROOT}/memory is missing: this test needs the cgroup v1 memory controller, which the project's machine kind has`,
      );
    for (const controller of CONTROLLERS) {
      const dir = join(CGROUP_ROOT, controller, NAME);
      if (!existsSync(join(CGROUP_ROOT, controller))) continue;
      await mkdir(dir);
      made.push(dir);
    }
    expect(
      made.map((d) => d.split("/").at(-2)),
      "controllers mounted under /sys/fs/cgroup",
    ).toEqual(CONTROLLERS);

    const proc = spawn(process.execPath, ["-e", CHILD], { stdio: ["pipe", "pipe", "inherit"] });
    child = proc;
    await once(proc, "spawn");
    for (const dir of made) await writeFile(join(dir, "cgroup.procs"), String(proc.pid));
    const ready = once(proc.stdout, "data");
    proc.stdin.write("go\n");
    await ready;

    const collector = await cgroupsCollector.create(
      { name: "cgroups", interval: "10s", paths: [NAME], discoverVMs: false },
      testEnv({ root: "/" }),
    );
    const first = await collector.collect();
    expect(first.errors).toEqual([]);
    expect(value(first.samples, "cgroup.cpu.percent")).toBeUndefined();
    await sleep(100);
    const second = await collector.collect();
    expect(second.errors).toEqual([]);
    expect(value(second.samples, "cgroup.pids.current")).toBeGreaterThanOrEqual(1);
    expect(value(second.samples, "cgroup.memory.usage")).toBeGreaterThan(0);
    expect(value(second.samples, "cgroup.cpu.percent")).toBeGreaterThanOrEqual(0);
    expect(value(second.samples, "cgroup.io.read.bytes")).toBeGreaterThanOrEqual(0);
    expect(value(second.samples, "cgroup.memory.limit")).toBeUndefined();
    expect(value(second.samples, "cgroup.pids.limit")).toBeUndefined();
  });
});
