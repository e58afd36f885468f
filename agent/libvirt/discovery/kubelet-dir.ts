import type { DaemonDiscovery, DaemonTarget } from "./daemon-target.ts";
import { isSocket, kubeletPodUids, launcherSocket } from "./kubelet-pods.ts";

/**
 * Daemons found by scanning the kubelet's pods directory (no API needed): every pod with a daemon socket in its
 * `libvirt-runtime` emptyDir. The VMI is read from the domain name.
 */
export class KubeletDirDiscovery implements DaemonDiscovery {
  readonly #hostRoot: string;
  readonly #socketExists: (path: string) => Promise<boolean>;

  constructor(hostRoot: string, socketExists: (path: string) => Promise<boolean> = isSocket) {
    this.#hostRoot = hostRoot;
    this.#socketExists = socketExists;
  }

  async targets(): Promise<DaemonTarget[]> {
    const out: DaemonTarget[] = [];
    for (const uid of await kubeletPodUids(this.#hostRoot)) {
      const socketPath = await launcherSocket(this.#hostRoot, uid, this.#socketExists);
      if (socketPath) out.push({ key: uid, socketPath });
    }
    return out;
  }

  async close(): Promise<void> {}
}
