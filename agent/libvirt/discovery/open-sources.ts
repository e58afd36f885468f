import { parseDuration } from "../../../api/duration.ts";
import type { CollectorSpec } from "../../../api/v1alpha1/types.ts";
import type { CollectorEnv } from "../../collectors/collector.ts";
import { SingleDaemon, type VirtSources } from "../../collectors/virt-sources.ts";
import { LibvirtClient } from "../client.ts";
import { libvirtHealth } from "../health.ts";
import { DaemonPool } from "./daemon-pool.ts";
import type { DaemonDiscovery } from "./daemon-target.ts";
import { KubeletDirDiscovery } from "./kubelet-dir.ts";
import { PooledDaemons } from "./pooled-daemons.ts";
import { dialUnix } from "./unix-dial.ts";
import { KUBEVIRT_URIS, UriFallbackClient } from "./uri-fallback.ts";

/** The virt collector's daemons as its `libvirt` settings say: one socket, or one per KubeVirt VM. */
export async function openVirtSources(spec: CollectorSpec, env: CollectorEnv): Promise<VirtSources> {
  const settings = spec.libvirt;
  const client = (socketPath: string | undefined, uri = settings?.uri) =>
    new LibvirtClient({
      ...(socketPath ? { socketPath } : {}),
      ...(uri ? { uri } : {}),
      ...(settings?.timeout ? { callTimeout: parseDuration(settings.timeout) } : {}),
      // Kubelet paths to a launcher's socket are longer than a socket address holds.
      dial: dialUnix,
      log: env.log,
    });
  const mode = settings?.discovery ?? "socket";
  if (mode === "socket") return new SingleDaemon(client(settings?.socket));
  const discovery =
    mode === "kubevirt" ? await kubevirtDiscovery(env) : new KubeletDirDiscovery(env.paths.root);
  return new PooledDaemons(
    (onLifecycle) =>
      new DaemonPool({
        discovery,
        // Without a `uri`, each launcher's daemon is asked for the system URI, then the session one.
        client: (t) =>
          settings?.uri
            ? client(t.socketPath)
            : new UriFallbackClient(t.socketPath, KUBEVIRT_URIS, (uri) => client(t.socketPath, uri)),
        onLifecycle,
        onForget: (socket) => libvirtHealth.forget(socket),
        // Half an interval: a hung daemon costs its own VM, not every VM's tick.
        deadline: Math.min(
          parseDuration(settings?.timeout ?? "5s"),
          parseDuration(spec.interval ?? "10s") / 2,
        ),
        now: env.now,
        log: env.log,
      }),
  );
}

/** The API-backed discovery; the API client is loaded only here, so standalone agents never load it. */
async function kubevirtDiscovery(env: CollectorEnv): Promise<DaemonDiscovery> {
  const cluster = env.cluster;
  if (!cluster)
    throw new Error(
      "libvirt.discovery kubevirt needs the cluster's API: run the agent with NODE_NAME set and in-cluster credentials or --kubeconfig (or use kubelet-dir)",
    );
  const [{ KubeRestClient }, { loadRestConfig }, { KubevirtPodDiscovery }] = await Promise.all([
    import("../../../kube/rest-client.ts"),
    import("../../../kube/rest-config.ts"),
    import("./kubevirt-pods.ts"),
  ]);
  return new KubevirtPodDiscovery({
    api: new KubeRestClient(await loadRestConfig(cluster.kubeconfig)),
    nodeName: cluster.nodeName,
    hostRoot: env.paths.root,
    log: env.log,
  });
}
