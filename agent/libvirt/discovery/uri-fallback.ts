import type { LifecycleEventInfo } from "../client.ts";
import { LibvirtConnectionError } from "../errors.ts";
import type { Domain, DomainStatsRecord } from "../remote.ts";
import type { PoolClient } from "./daemon-pool.ts";

/**
 * KubeVirt's virt-launcher runs virtqemud as root for root VMIs (`qemu:///system`) and as the qemu user in
 * session mode for non-root ones (`qemu:///session`, KubeVirt's default for years now). A node may hold both.
 */
export const KUBEVIRT_URIS = ["qemu:///system", "qemu:///session"] as const;

/**
 * A client that opens the first of `uris` the daemon accepts: a daemon that refuses the handshake for one URI
 * (a session daemon asked for `qemu:///system`) is asked for the next. Any other failure is final for this
 * attempt. Once connected it is the client of that URI.
 */
export class UriFallbackClient implements PoolClient {
  readonly socketPath: string;
  readonly #uris: readonly string[];
  readonly #make: (uri: string) => PoolClient;
  #client: PoolClient | undefined;

  constructor(socketPath: string, uris: readonly string[], make: (uri: string) => PoolClient) {
    this.socketPath = socketPath;
    this.#uris = uris;
    this.#make = make;
  }

  async connect(): Promise<void> {
    let last: unknown;
    for (const uri of this.#uris) {
      const c = this.#make(uri);
      try {
        await c.connect();
        this.#client = c;
        return;
      } catch (err) {
        last = err;
        await c.close().catch(() => {});
        if (!(err instanceof LibvirtConnectionError && err.reason === "handshake")) throw err;
      }
    }
    throw last;
  }

  #connected(): PoolClient {
    if (!this.#client) throw new LibvirtConnectionError(`not connected to ${this.socketPath}`, "client");
    return this.#client;
  }

  async close(): Promise<void> {
    await this.#client?.close();
  }

  async onLifecycle(handler: (e: LifecycleEventInfo) => void): Promise<() => Promise<void>> {
    return this.#connected().onLifecycle(handler);
  }

  async getAllDomainStats(
    stats: number,
    flags?: number,
    domains?: readonly Domain[],
  ): Promise<DomainStatsRecord[]> {
    return this.#connected().getAllDomainStats(stats, flags, domains);
  }

  async getXmlDesc(dom: Domain): Promise<string> {
    return this.#connected().getXmlDesc(dom);
  }
}
