import type { Logger } from "pino";
import type { KubeApi } from "../../../kube/api.ts";
import { apiLister, Reflector } from "../../../kube/reflector.ts";
import type { Timers } from "../../../kube/timers.ts";
import type { DaemonDiscovery, DaemonTarget } from "./daemon-target.ts";
import { isSocket, launcherSocket } from "./kubelet-pods.ts";
import { type PodNamingMetadata, vmiOfPod } from "./kubevirt-naming.ts";

/** The label KubeVirt puts on every virt-launcher pod. */
export const LAUNCHER_SELECTOR = "kubevirt.io=virt-launcher";
/** Pods are read as metadata only: a pod's spec and status are large, and naming needs neither. */
const LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

/** A pod as the metadata-only list and watch give it. */
interface PodMetadata {
  metadata: PodNamingMetadata & { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/** Settings of a KubevirtPodDiscovery. */
export interface KubevirtPodDiscoveryOptions {
  /** The agent's API client (KubeRestClient). */
  api: KubeApi;
  nodeName: string;
  hostRoot: string;
  /** How long the first read waits for the first list before failing the collection, ms. Defaults to 10 s. */
  firstListTimeout?: number;
  socketExists?: (path: string) => Promise<boolean>;
  timers?: Timers;
  log?: Logger;
}

/** Only what naming reads is cached. */
function forCache(p: PodMetadata): PodMetadata {
  const { name, namespace, uid, resourceVersion, labels, ownerReferences } = p.metadata;
  return {
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      ...(uid ? { uid } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(labels ? { labels } : {}),
      ...(ownerReferences ? { ownerReferences } : {}),
    },
  };
}

/**
 * The virt-launcher pods on this node, from the API (list and watch, field-selected by `spec.nodeName`,
 * metadata only): each pod's uid gives its `libvirt-runtime` emptyDir under the host root, and its metadata
 * the VMI. A pod whose daemon socket is not there (yet) is skipped until it is.
 */
export class KubevirtPodDiscovery implements DaemonDiscovery {
  readonly #opts: KubevirtPodDiscoveryOptions;
  readonly #reflector: Reflector<PodMetadata>;
  /** The socket each listed pod's daemon was last found at. */
  readonly #known = new Map<string, string>();
  #synced = false;
  /** Whether a read already waited for the first list. */
  #waited = false;

  constructor(opts: KubevirtPodDiscoveryOptions) {
    this.#opts = opts;
    const fieldSelector = `spec.nodeName=${opts.nodeName}`;
    this.#reflector = new Reflector<PodMetadata>({
      watcher: opts.api,
      path: "/api/v1/pods",
      fieldSelector,
      labelSelector: LAUNCHER_SELECTOR,
      accept: WATCH_ACCEPT,
      transform: forCache,
      list: apiLister<PodMetadata>(opts.api, "/api/v1/pods", {
        fieldSelector,
        labelSelector: LAUNCHER_SELECTOR,
        accept: LIST_ACCEPT,
      }),
      ...(opts.timers ? { timers: opts.timers } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
    void this.#reflector.synced.then(() => {
      this.#synced = true;
    });
    this.#reflector.start(() => {});
  }

  async targets(): Promise<DaemonTarget[]> {
    if (!this.#synced) await this.#firstList();
    const out: DaemonTarget[] = [];
    const listed = new Set<string>();
    for (const pod of this.#reflector.cache.values()) {
      const uid = pod.metadata.uid;
      if (!uid) continue;
      listed.add(uid);
      // A daemon that stopped took its socket with it; while its pod is there the VM is not gone, and its client
      // keeps trying the path it had.
      const socketPath =
        (await launcherSocket(
          this.#opts.hostRoot,
          uid,
          this.#opts.socketExists ?? isSocket,
          this.#known.get(uid),
        )) ?? this.#known.get(uid);
      if (!socketPath) continue;
      this.#known.set(uid, socketPath);
      const vmi = vmiOfPod(pod.metadata);
      out.push({ key: uid, socketPath, ...(vmi ? { vmi } : {}) });
    }
    for (const uid of this.#known.keys()) if (!listed.has(uid)) this.#known.delete(uid);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  /**
   * Waits for the first list, once, up to `firstListTimeout`; after that a read fails at once until the list
   * succeeds, so an API server that refuses the list does not hold every collection up.
   */
  async #firstList(): Promise<void> {
    const error = () =>
      new Error(
        `virt-launcher pods of node ${this.#opts.nodeName} not listed yet (the API server is unreachable or refuses the list; see the agent's log)`,
      );
    if (this.#waited) throw error();
    this.#waited = true;
    const ms = this.#opts.firstListTimeout ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(error()), ms);
      timer.unref();
    });
    try {
      await Promise.race([this.#reflector.synced, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#reflector.stop();
  }
}
