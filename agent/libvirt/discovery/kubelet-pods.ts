import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

/** Where the kubelet keeps its pods' volumes, under the host root. */
export const KUBELET_PODS_DIR = "var/lib/kubelet/pods";

/**
 * The daemon sockets a virt-launcher may hold in its `libvirt-runtime` emptyDir (mounted in the pod at
 * /var/run/libvirt), best first: virtqemud (current KubeVirt), then libvirtd (older releases); read-only
 * before read-write since the agent only reads.
 */
export const LAUNCHER_SOCKETS = [
  "virtqemud-sock-ro",
  "virtqemud-sock",
  "libvirt-sock-ro",
  "libvirt-sock",
] as const;

/** A pod's `libvirt-runtime` emptyDir on the node. */
export function libvirtRuntimeDir(hostRoot: string, podUid: string): string {
  return join(hostRoot, KUBELET_PODS_DIR, podUid, "volumes/kubernetes.io~empty-dir/libvirt-runtime");
}

/** Whether `path` is a UNIX socket (following symbolic links); false when it is absent. */
export async function isSocket(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}

/**
 * The first daemon socket in a pod's libvirt-runtime dir, or undefined when it has none (yet). `known`, the
 * socket found last time, is checked first: one stat per pod and collection while nothing changes.
 */
export async function launcherSocket(
  hostRoot: string,
  podUid: string,
  socketExists: (path: string) => Promise<boolean> = isSocket,
  known?: string,
): Promise<string | undefined> {
  if (known && (await socketExists(known))) return known;
  const dir = libvirtRuntimeDir(hostRoot, podUid);
  for (const name of LAUNCHER_SOCKETS) {
    const path = join(dir, name);
    if (await socketExists(path)) return path;
  }
  return undefined;
}

/** The uids of the pods the kubelet has a directory for; none when the directory is absent. */
export async function kubeletPodUids(hostRoot: string): Promise<string[]> {
  try {
    return (await readdir(join(hostRoot, KUBELET_PODS_DIR), { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
