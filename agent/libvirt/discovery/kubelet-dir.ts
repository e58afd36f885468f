import { existsSync } from "node:fs";
import type { DaemonDiscovery, DaemonTarget } from "./daemon-target.ts";
import { isSocket, kubeletPodUids, launcherSocket, libvirtRuntimeDir } from "./kubelet-pods.ts";

/**
 * Daemons found by scanning the kubelet's pods directory (no API needed): every pod with a daemon socket in its
 * `libvirt-runtime` emptyDir. The VMI is read from the domain name.
 */
export class KubeletDirDiscovery implements DaemonDiscovery {
  readonly #hostRoot: string;
  readonly #socketExists: (path: string) => Promise<boolean>;
  /** The socket each pod's daemon was last found at. */
  readonly #known = new Map<string, string>();

  constructor(hostRoot: string, socketExists: (path: string) => Promise<boolean> = isSocket) {
    this.#hostRoot = hostRoot;
    this.#socketExists = socketExists;
  }

  async targets(): Promise<DaemonTarget[]> {
    const out: DaemonTarget[] = [];
    const present = new Set<string>();
    for (const uid of await kubeletPodUids(this.#hostRoot)) {
      // A daemon that stopped took its socket with it; while the pod's runtime directory is there the VM is not
      // gone, and its client keeps trying the path it had.
      const socketPath =
        (await launcherSocket(this.#hostRoot, uid, this.#socketExists, this.#known.get(uid))) ??
        (existsSync(libvirtRuntimeDir(this.#hostRoot, uid)) ? this.#known.get(uid) : undefined);
      if (!socketPath) continue;
      present.add(uid);
      this.#known.set(uid, socketPath);
      out.push({ key: uid, socketPath });
    }
    for (const uid of this.#known.keys()) if (!present.has(uid)) this.#known.delete(uid);
    return out;
  }

  async close(): Promise<void> {}
}
