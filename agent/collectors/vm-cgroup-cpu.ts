import { readdir, readFile } from "node:fs/promises";
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

/** Reads a file, or undefined when it is not there (a VM that went away between listing and reading). */
async function maybeRead(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Total CPU ns of one cgroup directory in a tree, with user and system where the tree splits them. */
async function cgroupCpu(
  dir: string,
  hierarchy: CpuHierarchy,
): Promise<{ totalNs: bigint; userNs?: bigint; systemNs?: bigint } | undefined> {
  if (hierarchy === "cpuacct") {
    const usage = await maybeRead(join(dir, "cpuacct.usage"));
    if (usage === undefined) return undefined;
    const stat = await maybeRead(join(dir, "cpuacct.stat"));
    const split = stat === undefined ? undefined : parseCpuacctStat(stat);
    return {
      totalNs: parseCount(usage),
      ...(split ? { userNs: split.userTicks * NS_PER_TICK, systemNs: split.systemTicks * NS_PER_TICK } : {}),
    };
  }
  const text = await maybeRead(join(dir, "cpu.stat"));
  if (text === undefined) return undefined;
  const stat = parseCpuStatV2(text);
  return {
    totalNs: stat.usageUsec * 1000n,
    userNs: stat.userUsec * 1000n,
    systemNs: stat.systemUsec * 1000n,
  };
}

/** Per-vCPU ns from `vcpuN` children of the scope, or of its `libvirt/` child (libvirt >= 7.1 on systemd). */
async function vcpuTimes(scopeDir: string, hierarchy: CpuHierarchy): Promise<Map<number, bigint>> {
  const out = new Map<number, bigint>();
  for (const base of [scopeDir, join(scopeDir, "libvirt")]) {
    for (const name of await subdirs(base)) {
      const m = /^vcpu(\d+)$/.exec(name);
      if (!m) continue;
      const cpu = await cgroupCpu(join(base, name), hierarchy);
      if (cpu) out.set(Number(m[1]), cpu.totalNs);
    }
    if (out.size) break;
  }
  return out;
}

/**
 * Reads every VM scope's CPU time under `cgroupRoot`, each VM from the first tree (`cpuTrees`) that counts it. A
 * scope whose files cannot be parsed is left out and named in `errors`.
 */
export async function readVmCgroupCpu(cgroupRoot: string): Promise<{ vms: VmCgroupCpu[]; errors: string[] }> {
  const trees = cpuTrees(await subdirsAndFiles(cgroupRoot));
  const found = new Map<string, VmCgroupCpu>();
  const errors: string[] = [];
  for (const tree of trees) {
    const root = join(cgroupRoot, tree.dir);
    const scopes = await discoverVmScopes((rel) => subdirs(join(root, rel)));
    await Promise.all(
      scopes.map(async (scope) => {
        const key = `${scope.id}\0${scope.name}`;
        if (found.has(key)) return;
        const dir = join(root, scope.path);
        try {
          const cpu = await cgroupCpu(dir, tree.hierarchy);
          if (!cpu) return;
          found.set(key, {
            ...scope,
            ...cpu,
            hierarchy: tree.hierarchy,
            vcpuNs: await vcpuTimes(dir, tree.hierarchy),
          });
        } catch (err) {
          errors.push(`${dir}: ${(err as Error).message}`);
        }
      }),
    );
  }
  return { vms: [...found.values()].sort((a, b) => Number(a.id) - Number(b.id)), errors };
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
