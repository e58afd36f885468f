import type { KubeApi } from "./api.ts";

/** Names a custom resource for a status write. */
export interface CustomResourceRef {
  group: string;
  version: string;
  plural: string;
  name: string;
  /** Absent for cluster-scoped kinds. */
  namespace?: string;
}

/**
 * The JSON patch that replaces a whole status: "add" replaces an existing member, so a key the new status
 * leaves out is removed (a merge patch would keep it forever), and it works whether or not a status exists yet.
 */
export function statusPatch(status: object): [{ op: "add"; path: "/status"; value: object }] {
  return [{ op: "add", path: "/status", value: status }];
}

/**
 * Replaces the whole status of a custom resource through its `/status` subresource (a JSON patch, see
 * statusPatch) and returns the object; a failure rejects with the API's error, whose `code` is the HTTP status.
 */
export async function patchStatusWith<S extends object>(
  api: KubeApi,
  ref: CustomResourceRef,
  status: S,
  opts: { fieldManager?: string } = {},
): Promise<{ metadata?: { name?: string; resourceVersion?: string }; status?: S }> {
  const scope = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : "";
  const path = `/apis/${ref.group}/${ref.version}${scope}/${ref.plural}/${encodeURIComponent(ref.name)}/status`;
  return api.request("PATCH", path, {
    body: statusPatch(status),
    contentType: "application/json-patch+json",
    query: { fieldManager: opts.fieldManager },
  });
}
