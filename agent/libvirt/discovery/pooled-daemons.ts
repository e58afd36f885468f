import type { VirtDaemon, VirtRead, VirtSources } from "../../collectors/virt-sources.ts";
import type { LifecycleEventInfo } from "../client.ts";
import type { DaemonPool, DaemonPoolOptions, PooledDaemon } from "./daemon-pool.ts";

/** The daemons of a DaemonPool as the virt collector reads them: KubeVirt's, named by their VMI. */
export class PooledDaemons implements VirtSources {
  readonly #make: (onLifecycle: DaemonPoolOptions["onLifecycle"]) => DaemonPool;
  #pool: DaemonPool | undefined;

  /** `make` builds the pool once the collector's lifecycle handler is known. */
  constructor(make: (onLifecycle: DaemonPoolOptions["onLifecycle"]) => DaemonPool) {
    this.#make = make;
  }

  async start(onLifecycle: (e: LifecycleEventInfo, daemon: VirtDaemon) => void): Promise<void> {
    this.#pool = this.#make((e, d) => onLifecycle(e, view(d)));
  }

  async read(groupsOf: (daemon: VirtDaemon) => number): Promise<VirtRead> {
    if (!this.#pool) throw new Error("virt: daemon pool not started");
    const r = await this.#pool.read((d) => groupsOf(view(d)));
    return {
      records: r.reads.flatMap(({ daemon, records }) => {
        const v = view(daemon);
        return records.map((record) => ({ record, daemon: v }));
      }),
      unread: r.unread,
      errors: r.errors,
    };
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }
}

function view(d: PooledDaemon): VirtDaemon {
  return { client: d.client, kubevirt: true, ...(d.target.vmi ? { vmi: d.target.vmi } : {}) };
}
