import { CustomObjectsApi, type KubeConfig, Watch } from "@kubernetes/client-node";
import type { KubeWatcher } from "./api.ts";
import type { KubeObject, ListResult } from "./reflector.ts";

/**
 * The reflector's watches through client-node's `Watch` (the operator's, which keeps client-node for its
 * kubeconfig handling: exec plugins, OIDC and the rest that the agent's small client refuses).
 */
export function clientNodeWatcher(kubeConfig: KubeConfig): KubeWatcher {
  return {
    watch: (path, query, accept, onEvent, onDone) =>
      new Watch(withAccept(kubeConfig, accept)).watch(path, query, onEvent, onDone),
  };
}

/** The config a watch uses: the given one, setting the Accept header when one is asked for. */
function withAccept(kubeConfig: KubeConfig, accept: string | undefined): KubeConfig {
  if (accept === undefined) return kubeConfig;
  // Watch takes no headers; it asks its config to authenticate each request, so that is where one goes.
  const config: KubeConfig = Object.create(kubeConfig);
  config.applySecurityAuthentication = async (ctx) => {
    await kubeConfig.applySecurityAuthentication(ctx);
    ctx.setHeaderParam("Accept", accept);
  };
  return config;
}

/** A `list` for a reflector over a cluster-scoped custom resource, with an optional field selector. */
export function clusterCustomObjectLister<T extends KubeObject>(
  kubeConfig: KubeConfig,
  ref: { group: string; version: string; plural: string; fieldSelector?: string },
): () => Promise<ListResult<T>> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  return async () => {
    const r = (await api.listClusterCustomObject(ref)) as {
      items: T[];
      metadata: { resourceVersion: string };
    };
    return { items: r.items, resourceVersion: r.metadata.resourceVersion };
  };
}
