import { join } from "node:path";

/** Where the host's files are, so tests and containers can point at a different root (node_exporter's --path.procfs). */
export interface HostPathOptions {
  /** Root of the host's filesystem as this process sees it. Defaults to `/` (in a pod: where the host is mounted). */
  root?: string;
  /** The host's /proc. Defaults to `<root>/proc`. */
  proc?: string;
  /** The host's /sys. Defaults to `<root>/sys`. */
  sys?: string;
  /** The cgroup filesystem root. Defaults to `<sys>/fs/cgroup`. */
  cgroup?: string;
}

/** Resolves host paths under configurable roots. */
export class HostPaths {
  readonly root: string;
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly cgroupRoot: string;

  constructor(opts: HostPathOptions = {}) {
    this.root = opts.root ?? "/";
    this.procRoot = opts.proc ?? join(this.root, "proc");
    this.sysRoot = opts.sys ?? join(this.root, "sys");
    this.cgroupRoot = opts.cgroup ?? join(this.sysRoot, "fs/cgroup");
  }

  /** A path under the host's /proc, e.g. `proc("stat")`. */
  proc(...parts: string[]): string {
    return join(this.procRoot, ...parts);
  }

  /** A path under the host's /sys. */
  sys(...parts: string[]): string {
    return join(this.sysRoot, ...parts);
  }

  /** A path under the cgroup root, e.g. `cgroup("memory", "machine.slice")` on v1. */
  cgroup(...parts: string[]): string {
    return join(this.cgroupRoot, ...parts);
  }
}
