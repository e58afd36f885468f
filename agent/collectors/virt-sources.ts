import type { LifecycleEventInfo } from "../libvirt/client.ts";
import type { VmiIdentity } from "../libvirt/discovery/kubevirt-naming.ts";
import type { Domain, DomainStatsRecord } from "../libvirt/remote.ts";

/** The libvirt calls the virt collector makes of one daemon (a LibvirtClient; a stand-in that records them in tests). */
export interface VirtLibvirt {
  connect(): Promise<void>;
  /** The bulk stats call; `domains` narrows it to those domains (VIR_CONNECT_GET_ALL_DOMAINS_STATS by list). */
  getAllDomainStats(stats: number, flags?: number, domains?: readonly Domain[]): Promise<DomainStatsRecord[]>;
  getXmlDesc(dom: Domain): Promise<string>;
  onLifecycle(handler: (e: LifecycleEventInfo) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A daemon the virt collector reads: its client, and how its VMs are named. */
export interface VirtDaemon {
  readonly client: Pick<VirtLibvirt, "getXmlDesc" | "getAllDomainStats">;
  /** A KubeVirt virt-launcher's daemon: its VMs are named by their VMI. */
  readonly kubevirt: boolean;
  /** The VMI, when the API named it; otherwise it comes from the domain name. */
  readonly vmi?: VmiIdentity;
}

/** What one read over the daemons gave. */
export interface VirtRead {
  records: { record: DomainStatsRecord; daemon: VirtDaemon }[];
  /** Domain uuids of daemons that could not be read this time (their VMs are not gone). */
  unread: string[];
  /** One line per daemon that failed while others were read. */
  errors: string[];
}

/** Where the virt collector's domains come from: one daemon, or many found on the node. */
export interface VirtSources {
  /** Opens what is to be opened and subscribes to lifecycle events. */
  start(onLifecycle: (e: LifecycleEventInfo, daemon: VirtDaemon) => void): Promise<void>;
  /**
   * The bulk stats of every daemon, of the groups `groupsOf` gives for it; rejects only when nothing could be
   * read at all.
   */
  read(groupsOf: (daemon: VirtDaemon) => number): Promise<VirtRead>;
  close(): Promise<void>;
}

/** The one daemon at a socket (`libvirt.discovery: socket`): a failed read fails the collection. */
export class SingleDaemon implements VirtSources {
  readonly #client: VirtLibvirt;
  readonly #daemon: VirtDaemon;
  #unsubscribe: (() => Promise<void>) | undefined;

  constructor(client: VirtLibvirt) {
    this.#client = client;
    this.#daemon = { client, kubevirt: false };
  }

  async start(onLifecycle: (e: LifecycleEventInfo, daemon: VirtDaemon) => void): Promise<void> {
    await this.#client.connect();
    try {
      this.#unsubscribe = await this.#client.onLifecycle((e) => onLifecycle(e, this.#daemon));
    } catch (err) {
      await this.#client.close();
      throw err;
    }
  }

  async read(groupsOf: (daemon: VirtDaemon) => number): Promise<VirtRead> {
    const records = await this.#client.getAllDomainStats(groupsOf(this.#daemon));
    return { records: records.map((record) => ({ record, daemon: this.#daemon })), unread: [], errors: [] };
  }

  async close(): Promise<void> {
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    await unsubscribe?.().catch(() => {});
    await this.#client.close();
  }
}
