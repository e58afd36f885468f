import { posix } from "node:path";

/** The v1 controllers the cgroups collector reads. */
export const V1_CONTROLLERS = ["cpu", "cpuacct", "memory", "blkio", "pids"] as const;
/** A v1 controller the cgroups collector reads. */
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/**
 * How the cgroup filesystem is laid out: one unified v2 tree, or v1 hierarchies, each mounted in a directory
 * of the cgroup root (`memory`, or `cpu,cpuacct` when co-mounted) named here per controller.
 */
export type CgroupLayout =
  | { readonly version: 2 }
  | { readonly version: 1; readonly controllers: Readonly<Partial<Record<V1Controller, string>>> };

/**
 * Tells the layout from the names in the cgroup root. A `cgroup.controllers` file at the root means v2; a hybrid
 * host has it only in `unified/`, which makes it v1. Undefined when no controller the collector reads is there.
 */
export function detectLayout(entries: readonly string[]): CgroupLayout | undefined {
  if (entries.includes("cgroup.controllers")) return { version: 2 };
  const controllers: Partial<Record<V1Controller, string>> = {};
  for (const controller of V1_CONTROLLERS) {
    // A mount of the controller alone wins over a co-mount; systemd hosts have both, as symlinks to the co-mount.
    const dir =
      entries.find((e) => e === controller) ?? entries.find((e) => e.split(",").includes(controller));
    if (dir !== undefined) controllers[controller] = dir;
  }
  return Object.keys(controllers).length > 0 ? { version: 1, controllers } : undefined;
}

/**
 * Normalises a configured cgroup path (`machine.slice/`, `./machine`) to the relative form used in labels.
 * Undefined for the root itself and for paths that leave the cgroup root.
 */
export function normalizeCgroupPath(path: string): string | undefined {
  const normal = posix.normalize(path).replace(/\/+$/, "");
  if (
    normal === "." ||
    normal === "" ||
    normal.startsWith("/") ||
    normal === ".." ||
    normal.startsWith("../")
  )
    return undefined;
  return normal;
}

/** Undoes systemd's unit-name escaping (`\x2d` → `-`); malformed escapes stay as they are. */
export function unescapeUnitName(name: string): string {
  return name.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/** A VM as named by its cgroup: libvirt's domain id and (possibly truncated) machine name. */
export interface VmScopeName {
  id: string;
  name: string;
}

function machineName(machine: string): VmScopeName | undefined {
  // libvirt builds `qemu-<id>-<name>`, cut to 64 characters and stripped of trailing dashes, so the name
  // may be shortened and, for a name of only invalid characters, empty.
  const m = /^qemu-(\d+)(?:-(.*))?$/s.exec(machine);
  return m?.[1] === undefined ? undefined : { id: m[1], name: m[2] ?? "" };
}

/**
 * Parses a VM's cgroup directory name: the systemd scope `machine-qemu\x2d<ID>\x2d<NAME>.scope` or the
 * non-systemd `qemu-<ID>-<NAME>.libvirt-qemu`. Undefined for any other directory.
 */
export function parseVmScopeName(dirName: string): VmScopeName | undefined {
  const scope = /^machine-(.+)\.scope$/s.exec(dirName);
  if (scope?.[1] !== undefined) return machineName(unescapeUnitName(scope[1]));
  // libvirt prefixes `_` to partition-style names that could clash with cgroup files.
  const plain = /^_?(.+)\.libvirt-qemu$/s.exec(dirName);
  if (plain?.[1] !== undefined) return machineName(plain[1]);
  return undefined;
}

/** True for a custom libvirt partition directory: `machine-<part>.slice` (systemd) or `<part>.partition`. */
export function isMachinePartition(dirName: string): boolean {
  return /^machine-.+\.slice$/s.test(dirName) || /^.+\.partition$/s.test(dirName);
}

/** A VM's cgroup, relative to the cgroup root (or to each v1 controller's root). */
export interface VmScope extends VmScopeName {
  path: string;
}

/** Lists the subdirectory names of a cgroup path relative to the root; an absent path lists nothing. */
export type DirLister = (relPath: string) => Promise<readonly string[]>;

/** Where libvirt puts VMs: `machine.slice` on systemd hosts, `machine` elsewhere. */
export const MACHINE_ROOTS = ["machine.slice", "machine"] as const;

/**
 * Finds VM scopes in libvirt's layouts, directly under a machine root or one custom partition below it.
 * Sorted by path. The scope directory itself is reported, not its `libvirt/` child, as it aggregates all of them.
 */
export async function discoverVmScopes(list: DirLister): Promise<VmScope[]> {
  const found = new Map<string, VmScope>();
  const visit = async (dir: string, partitions: boolean) => {
    for (const entry of await list(dir)) {
      const path = `${dir}/${entry}`;
      const vm = parseVmScopeName(entry);
      if (vm) found.set(path, { path, ...vm });
      else if (partitions && isMachinePartition(entry)) await visit(path, false);
    }
  };
  for (const root of MACHINE_ROOTS) await visit(root, true);
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
