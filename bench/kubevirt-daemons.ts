// The virt collector on a KubeVirt node (one libvirt daemon per VM) against one daemon holding the same guests:
// what one collection costs the agent with 10 and 40 daemons of one guest each, and with one daemon of 10 and 40.
// The daemons are simulated (bench/libvirt-sim-fleet.ts, in a process of their own), so libvirtd's and QEMU's
// own cost is absent: the figures are the agent's side. The collector runs in this process, as the agent runs it.
// A section of `npm run bench` (bench/sections.ts); `node bench/kubevirt-daemons.ts [--quick]` prints the markdown
// section and the raw result (stderr) without storing anything.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pino } from "pino";
import type { Collector } from "../agent/collectors/collector.ts";
import { virtCollector } from "../agent/collectors/virt.ts";
import { HostPaths } from "../agent/host-paths.ts";
import { DAEMONS_AT_ONCE } from "../agent/libvirt/discovery/daemon-pool.ts";
import { libvirtRuntimeDir } from "../agent/libvirt/discovery/kubelet-pods.ts";
import { spread } from "./collection.ts";
import {
  type KubevirtDaemonsPlan,
  type KubevirtDaemonsResult,
  type KubevirtDaemonsRun,
  kubevirtDaemonsMarkdown,
  type Scenario,
} from "./kubevirt-daemons-report.ts";
import { cpuSeconds, describeMachine, terminate } from "./proc.ts";

/** 10 and 40 guests, each held by one daemon and by one daemon per guest. */
const SCENARIOS: readonly Scenario[] = [
  { vms: 10, daemons: 1 },
  { vms: 10, daemons: 10 },
  { vms: 40, daemons: 1 },
  { vms: 40, daemons: 40 },
];

/** The quick and the full plan. */
export const KUBEVIRT_DAEMONS_PLANS = {
  quick: { scenarios: SCENARIOS, repetitions: 1, collections: 15, warmup: 5, pauseMs: 50 },
  full: { scenarios: SCENARIOS, repetitions: 2, collections: 60, warmup: 5, pauseMs: 50 },
} as const satisfies Record<string, KubevirtDaemonsPlan>;

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

async function measureOnce(
  s: Scenario,
  plan: KubevirtDaemonsPlan,
  repetition: number,
): Promise<KubevirtDaemonsRun> {
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
        libvirt: pooled
          ? { discovery: "kubelet-dir", uri: "qemu:///system", timeout: "5s" }
          : { socket: join(sims, "d0", "libvirt-sock-ro"), uri: "qemu:///system", timeout: "5s" },
      } as Parameters<typeof virtCollector.create>[0],
      // The default sources, with this host's /proc and cgroups as a KubeVirt node has them: no tap or cgroup of a
      // simulated VM is found there, as none of a virt-launcher's is (pod netns, kubepods).
      {
        paths: new HostPaths({ root: dir, proc: "/proc", cgroup: "/sys/fs/cgroup" }),
        now: Date.now,
        log: pino({ level: "warn" }),
      },
    );
    const check = async () => {
      const r = await collector!.collect();
      const vms = new Set(r.samples.map((x) => (x.source.kind === "vm" ? x.source.uuid : "")));
      if (vms.size !== s.vms || r.errors.length)
        throw new Error(`${vms.size} VMs read; ${r.errors.join("; ")}`);
    };
    for (let i = 0; i < plan.warmup; i++) await check();
    const walls: number[] = [];
    const simBefore = await cpuSeconds(fleet.pid!);
    let cpu = 0;
    for (let i = 0; i < plan.collections; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await check();
      walls.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu += (c.user + c.system) / 1000;
      await new Promise((r) => setTimeout(r, plan.pauseMs));
    }
    const simMs = ((await cpuSeconds(fleet.pid!)) - simBefore) * 1000;
    const sorted = [...walls].sort((a, b) => a - b);
    const fds = (await readdir("/proc/self/fd")).length;
    return {
      ...s,
      repetition,
      wallMs: {
        median: spread(walls).median,
        p95: sorted[Math.floor(sorted.length * 0.95)]!,
        max: sorted.at(-1)!,
      },
      agentCpuMs: cpu / plan.collections,
      simCpuMs: simMs / plan.collections,
      fds,
    };
  } finally {
    await collector?.close();
    await terminate(fleet, 5000);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * For every scenario and repetition: a simulator fleet in its own process, the virt collector in this one (as the
 * agent runs it), warm-up collections and measured ones. Stops every process it started.
 */
export async function measureKubevirtDaemons(opts: {
  quick: boolean;
  log: (line: string) => void;
}): Promise<KubevirtDaemonsResult> {
  const mode = opts.quick ? "quick" : "full";
  const plan: KubevirtDaemonsPlan = KUBEVIRT_DAEMONS_PLANS[mode];
  const load = { start: loadavg()[0] ?? 0, end: 0 };
  const runs: KubevirtDaemonsRun[] = [];
  for (let rep = 1; rep <= plan.repetitions; rep++)
    for (const s of plan.scenarios) {
      opts.log(`kubevirt-daemons: ${s.vms} VMs in ${s.daemons} daemon(s), run ${rep}`);
      runs.push(await measureOnce(s, plan, rep));
    }
  load.end = loadavg()[0] ?? 0;
  return {
    mode,
    plan,
    concurrency: DAEMONS_AT_ONCE,
    machine: await describeMachine(),
    load,
    runs,
  };
}

if (import.meta.main) {
  const result = await measureKubevirtDaemons({
    quick: process.argv.includes("--quick"),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stderr.write(`${JSON.stringify(result, null, 1)}\n`);
  process.stdout.write(kubevirtDaemonsMarkdown(result));
}
