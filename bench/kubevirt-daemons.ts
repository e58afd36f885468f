// The virt collector on a KubeVirt node (one libvirt daemon per VM) against one daemon holding the same guests:
// what one collection costs the agent with 10 and 40 daemons of one guest each, and with one daemon of 10 and 40.
// The daemons are simulated (bench/libvirt-sim-fleet.ts, in a process of their own), so libvirtd's and QEMU's
// own cost is absent: the figures are the agent's side. The collector runs in this process, as the agent runs it.
// `node bench/kubevirt-daemons.ts [--collections 60]` prints the markdown section.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { pino } from "pino";
import type { Collector } from "../agent/collectors/collector.ts";
import { virtCollector } from "../agent/collectors/virt.ts";
import { HostPaths } from "../agent/host-paths.ts";
import { libvirtRuntimeDir } from "../agent/libvirt/discovery/kubelet-pods.ts";
import { spread } from "./collection.ts";
import { cpuSeconds, describeMachine, terminate } from "./proc.ts";

/** One way of holding `vms` guests: all in one daemon, or one daemon each. */
interface Scenario {
  vms: number;
  daemons: number;
}

/** What one scenario measured, per collection. */
interface Measured extends Scenario {
  collections: number;
  /** Wall time of one collection, ms. */
  wallMs: { median: number; p95: number; max: number };
  /** CPU of this process (the collector) per collection, ms. */
  agentCpuMs: number;
  /** CPU of the simulators' process per collection, ms (not a real daemon's cost). */
  simCpuMs: number;
  /** File descriptors this process held while collecting. */
  fds: number;
}

async function startFleet(dir: string, daemons: number, domains: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, "libvirt-sim-fleet.ts"),
      "--dir",
      dir,
      "--daemons",
      String(daemons),
      "--domains",
      String(domains),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (l) => {
      if (l.startsWith("libvirt-sim-fleet: ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`libvirt-sim-fleet exited (${code})`)));
  });
  return child;
}

async function measure(s: Scenario, collections: number): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), "vesmon-kv-bench-"));
  const sims = join(dir, "sims");
  const fleet = await startFleet(sims, s.daemons, s.vms / s.daemons);
  let collector: Collector | undefined;
  try {
    const pooled = s.daemons > 1;
    if (pooled)
      for (let i = 0; i < s.daemons; i++) {
        const runtime = libvirtRuntimeDir(dir, `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
        await mkdir(join(runtime, ".."), { recursive: true });
        await symlink(join(sims, `d${i}`), runtime);
      }
    collector = await virtCollector.create(
      {
        name: "virt",
        interval: "1s",
        cpuSource: "libvirt",
        libvirt: pooled
          ? { discovery: "kubelet-dir", uri: "qemu:///system", timeout: "5s" }
          : { socket: join(sims, "d0", "libvirt-sock-ro"), uri: "qemu:///system", timeout: "5s" },
      } as Parameters<typeof virtCollector.create>[0],
      { paths: new HostPaths({ root: dir }), now: Date.now, log: pino({ level: "warn" }) },
    );
    const check = async () => {
      const r = await collector!.collect();
      const vms = new Set(r.samples.map((x) => (x.source.kind === "vm" ? x.source.uuid : "")));
      if (vms.size !== s.vms || r.errors.length)
        throw new Error(`${vms.size} VMs read; ${r.errors.join("; ")}`);
    };
    for (let i = 0; i < 5; i++) await check();
    const walls: number[] = [];
    const simBefore = await cpuSeconds(fleet.pid!);
    let cpu = 0;
    for (let i = 0; i < collections; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await check();
      walls.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu += (c.user + c.system) / 1000;
      await new Promise((r) => setTimeout(r, 50));
    }
    const simMs = ((await cpuSeconds(fleet.pid!)) - simBefore) * 1000;
    const sorted = [...walls].sort((a, b) => a - b);
    const fds = (await readdir("/proc/self/fd")).length;
    return {
      ...s,
      collections,
      wallMs: {
        median: spread(walls).median,
        p95: sorted[Math.floor(sorted.length * 0.95)]!,
        max: sorted.at(-1)!,
      },
      agentCpuMs: cpu / collections,
      simCpuMs: simMs / collections,
      fds,
    };
  } finally {
    await collector?.close();
    await terminate(fleet, 5000);
    await rm(dir, { recursive: true, force: true });
  }
}

const f1 = (n: number) => n.toFixed(1);

if (import.meta.main) {
  const { values } = parseArgs({ options: { collections: { type: "string", default: "60" } } });
  const collections = Number(values.collections);
  const scenarios: Scenario[] = [
    { vms: 10, daemons: 1 },
    { vms: 10, daemons: 10 },
    { vms: 40, daemons: 1 },
    { vms: 40, daemons: 40 },
  ];
  const results: Measured[] = [];
  for (const s of scenarios) results.push(await measure(s, collections));
  const m = await describeMachine();
  const lines = [
    "| VMs | daemons | collection wall ms (median; p95; max) | agent CPU ms / collection | simulators CPU ms / collection ¹ | fds held |",
    "|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.vms} | ${r.daemons === 1 ? "1 (all guests)" : `${r.daemons} (one guest each)`} | ${f1(r.wallMs.median)}; ${f1(r.wallMs.p95)}; ${f1(r.wallMs.max)} | **${f1(r.agentCpuMs)}** | ${f1(r.simCpuMs)} | ${r.fds} |`,
    ),
  ];
  process.stdout.write(
    `${lines.join("\n")}\n\n${collections} collections per row after 5 warm-up ones, 50 ms apart. ${JSON.stringify(m)}\n`,
  );
  process.stdout.write(`${JSON.stringify(results)}\n`);
}
