import { readFileSync } from "node:fs";
import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import { detectLayout, discoverVmScopes, type VmScope } from "./cgroup-layout.ts";
import { parseCount, parseCpuacctStat, parseCpuStatV2 } from "./cgroup-parse.ts";

/** Where a VM's CPU time was read: a pure v2 host, a hybrid v1 host's unified tree, or v1 cpuacct. */
export type CpuHierarchy = "v2" | "unified" | "cpuacct";

/** One VM's CPU time as its cgroup counts it, ns; per vCPU from the `vcpuN` sub-cgroups where they exist. */
export interface VmCgroupCpu extends VmScope {
  hierarchy: CpuHierarchy;
  totalNs: bigint;
  userNs?: bigint;
  systemNs?: bigint;
  vcpuNs: Map<number, bigint>;
}

/** A tree that may hold VM CPU time: its kind and its directory relative to the cgroup root. */
export interface CpuTree {
  hierarchy: CpuHierarchy;
  dir: string;
}

/** v1 `cpuacct.stat` counts USER_HZ ticks, 100 per second on every Linux ABI. */
const NS_PER_TICK = 10_000_000n;

/**
 * The trees that can count a VM's CPU time, best first, from the names in the cgroup root: the root itself on a v2
 * host; on a v1 host the cpuacct hierarchy, then the unified (v2) tree of a hybrid host, whose `cpu.stat` counts
 * usage whatever controllers it has (libvirt may leave a VM at the cpuacct root yet give it a unified cgroup).
 */
export function cpuTrees(entries: readonly string[]): CpuTree[] {
  const layout = detectLayout(entries);
  if (layout?.version === 2) return [{ hierarchy: "v2", dir: "" }];
  const trees: CpuTree[] = [];
  const cpuacct = layout?.controllers.cpuacct;
  if (cpuacct !== undefined) trees.push({ hierarchy: "cpuacct", dir: cpuacct });
  if (entries.includes("unified")) trees.push({ hierarchy: "unified", dir: "unified" });
  return trees;
}

async function subdirs(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/** Reads a file now, or undefined when it is not there (a VM that went away after it was found). */
function maybeRead(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Total CPU ns of one cgroup directory in a tree, with user and system where the tree splits them. */
function cgroupCpu(
  dir: string,
  hierarchy: CpuHierarchy,
): { totalNs: bigint; userNs?: bigint; systemNs?: bigint } | undefined {
  if (hierarchy === "cpuacct") {
    const usage = maybeRead(join(dir, "cpuacct.usage"));
    if (usage === undefined) return undefined;
    const stat = maybeRead(join(dir, "cpuacct.stat"));
    const split = stat === undefined ? undefined : parseCpuacctStat(stat);
    return {
      totalNs: parseCount(usage),
      ...(split ? { userNs: split.userTicks * NS_PER_TICK, systemNs: split.systemTicks * NS_PER_TICK } : {}),
    };
  }
  const text = maybeRead(join(dir, "cpu.stat"));
  if (text === undefined) return undefined;
  const stat = parseCpuStatV2(text);
  return {
    totalNs: stat.usageUsec * 1000n,
    userNs: stat.userUsec * 1000n,
    systemNs: stat.systemUsec * 1000n,
  };
}

/** A VM's cgroup found in a tree, with the directories of its vCPUs (`vcpuN`, or `libvirt/vcpuN` on libvirt >= 7.1). */
export interface VmCgroup extends VmScope {
  hierarchy: CpuHierarchy;
  dir: string;
  vcpuDirs: [index: number, dir: string][];
}

async function vcpuDirs(scopeDir: string): Promise<[number, string][]> {
  for (const base of [scopeDir, join(scopeDir, "libvirt")]) {
    const found: [number, string][] = [];
    for (const name of await subdirs(base)) {
      const m = /^vcpu(\d+)$/.exec(name);
      if (m) found.push([Number(m[1]), join(base, name)]);
    }
    if (found.length) return found.sort((a, b) => a[0] - b[0]);
  }
  return [];
}

/**
 * Finds every VM's cgroup under `cgroupRoot`, each VM in the first tree (`cpuTrees`) that counts it. Listing the
 * trees takes many reads; the counters themselves are read apart, at one instant (`readVmCgroupCpu`).
 */
export async function findVmCgroups(cgroupRoot: string): Promise<VmCgroup[]> {
  const trees = cpuTrees(await subdirsAndFiles(cgroupRoot));
  const found = new Map<string, VmCgroup>();
  for (const tree of trees) {
    const root = join(cgroupRoot, tree.dir);
    const file = tree.hierarchy === "cpuacct" ? "cpuacct.usage" : "cpu.stat";
    for (const scope of await discoverVmScopes((rel) => subdirs(join(root, rel)))) {
      const key = `${scope.id}\0${scope.name}`;
      const dir = join(root, scope.path);
      if (found.has(key) || !(await exists(join(dir, file)))) continue;
      found.set(key, { ...scope, hierarchy: tree.hierarchy, dir, vcpuDirs: await vcpuDirs(dir) });
    }
  }
  return [...found.values()].sort((a, b) => Number(a.id) - Number(b.id));
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the CPU counters of cgroups found before, synchronously, so that they are all read at the instant the caller
 * records (a few small /sys files per VM; awaiting each read let a loaded machine spread them over hundreds of ms,
 * which shifted the span the rates cover). A VM gone since it was found is left out; a file that cannot be parsed
 * is named in `errors`.
 */
export function readCgroupCpu(cgroups: readonly VmCgroup[]): { vms: VmCgroupCpu[]; errors: string[] } {
  const vms: VmCgroupCpu[] = [];
  const errors: string[] = [];
  for (const { vcpuDirs: dirs, dir, ...scope } of cgroups) {
    try {
      const cpu = cgroupCpu(dir, scope.hierarchy);
      if (!cpu) continue;
      const vcpuNs = new Map<number, bigint>();
      for (const [index, vdir] of dirs) {
        const v = cgroupCpu(vdir, scope.hierarchy);
        if (v) vcpuNs.set(index, v.totalNs);
      }
      vms.push({ ...scope, ...cpu, vcpuNs });
    } catch (err) {
      errors.push(`${dir}: ${(err as Error).message}`);
    }
  }
  return { vms, errors };
}

/** Finds the VM cgroups under `cgroupRoot` and reads their CPU time. */
export async function readVmCgroupCpu(cgroupRoot: string): Promise<{ vms: VmCgroupCpu[]; errors: string[] }> {
  return readCgroupCpu(await findVmCgroups(cgroupRoot));
}

async function subdirsAndFiles(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}

/**
 * The cgroup of a running domain: libvirt names it `qemu-<id>-<name>`, the name cut short on long names, so the id
 * must match and the domain's name must start with the scope's.
 */
export function cgroupOfDomain<T extends VmScope>(
  scopes: readonly T[],
  domain: { id: number; name: string },
): T | undefined {
  if (!(domain.id > 0)) return undefined;
  return scopes.find((s) => s.id === String(domain.id) && domain.name.startsWith(s.name));
}
