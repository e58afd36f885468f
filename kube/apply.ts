import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1ObjectMeta,
} from "@kubernetes/client-node";
import { type CustomResourceRef, statusPatch } from "./status-patch.ts";

/** Options of a server-side apply. */
export interface ApplyOptions {
  /** Who owns the applied fields; keep it fixed per controller so re-applies update rather than conflict. */
  fieldManager: string;
  /** Take over fields other managers own instead of failing with 409. Defaults to false. */
  force?: boolean;
}

// KubernetesObjectApi caches discovery per instance; one per KubeConfig keeps that cache useful.
const objectApis = new WeakMap<KubeConfig, KubernetesObjectApi>();
const customApis = new WeakMap<KubeConfig, CustomObjectsApi>();

function objectApi(kc: KubeConfig): KubernetesObjectApi {
  let api = objectApis.get(kc);
  if (!api) {
    api = KubernetesObjectApi.makeApiClient(kc);
    objectApis.set(kc, api);
  }
  return api;
}

function customApi(kc: KubeConfig): CustomObjectsApi {
  let api = customApis.get(kc);
  if (!api) {
    api = kc.makeApiClient(CustomObjectsApi);
    customApis.set(kc, api);
  }
  return api;
}

/**
 * Server-side apply (`PATCH`, `application/apply-patch+yaml`, `?fieldManager=…&force=…`) of a whole object,
 * creating it if absent; returns the object as stored. The object should carry only the fields this manager
 * owns: fields it applied before and leaves out are removed.
 */
export async function serverSideApply<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  obj: T,
  opts: ApplyOptions,
): Promise<T & { metadata: V1ObjectMeta }> {
  // managedFields and resourceVersion in an apply body would be taken as assertions; drop them.
  const { managedFields: _m, resourceVersion: _rv, ...metadata } = obj.metadata ?? {};
  return objectApi(kubeConfig).patch<T & { metadata: V1ObjectMeta }>(
    { ...obj, metadata: metadata as V1ObjectMeta },
    undefined,
    undefined,
    opts.fieldManager,
    opts.force ?? false,
    PatchStrategy.ServerSideApply,
  );
}

/**
 * Replaces the whole status of a custom resource through its `/status` subresource, and returns the object:
 * the JSON patch of `statusPatch`, through client-node (the agent's `patchStatusWith` sends the same). Pass
 * the complete status.
 */
export async function patchStatus<S extends object>(
  kubeConfig: KubeConfig,
  ref: CustomResourceRef,
  status: S,
  opts: { fieldManager?: string } = {},
): Promise<KubernetesObject & { status?: S }> {
  const api = customApi(kubeConfig);
  const header = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
  const common = {
    group: ref.group,
    version: ref.version,
    plural: ref.plural,
    name: ref.name,
    body: statusPatch(status),
    ...(opts.fieldManager ? { fieldManager: opts.fieldManager } : {}),
  };
  const out: unknown = ref.namespace
    ? await api.patchNamespacedCustomObjectStatus({ ...common, namespace: ref.namespace }, header)
    : await api.patchClusterCustomObjectStatus(common, header);
  return out as KubernetesObject & { status?: S };
}

/**
 * The HTTP status of a failed API call (client-node 2.x `ApiException.code`, or the agent client's
 * `KubeApiError.code`), if it is one.
 */
export function apiErrorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

/** Whether an API call failed with 404 Not Found. */
export function isNotFound(err: unknown): boolean {
  return apiErrorCode(err) === 404;
}

/** Whether an API call failed with 409: a stale resourceVersion, an existing name, or an apply conflict. */
export function isConflict(err: unknown): boolean {
  return apiErrorCode(err) === 409;
}
