import type { VmiIdentity } from "./kubevirt-naming.ts";

/** One libvirt daemon found on the node: its socket, and what is known of the VM it serves. */
export interface DaemonTarget {
  /** Stable while the daemon's pod lives (the pod uid): a client is kept per key. */
  key: string;
  socketPath: string;
  /** The VMI, when the API named it; otherwise it is read from the domain name. */
  vmi?: VmiIdentity;
}

/** Finds the daemons to read; asked before every collection. */
export interface DaemonDiscovery {
  /** The daemons present now. Rejects only when nothing can be known (then the collection fails). */
  targets(): Promise<DaemonTarget[]>;
  /** Stops watching; idempotent. */
  close(): Promise<void>;
}
