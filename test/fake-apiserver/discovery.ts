import type { Registry, ResourceType } from "./registry.ts";
import type { JsonObject } from "./types.ts";

const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];

function resources(rt: ResourceType): JsonObject[] {
  const main: JsonObject = {
    name: rt.plural,
    singularName: rt.singular,
    namespaced: rt.namespaced,
    kind: rt.kind,
    verbs: VERBS,
    ...(rt.shortNames.length > 0 ? { shortNames: rt.shortNames } : {}),
  };
  if (!rt.statusSubresource) return [main];
  return [
    main,
    {
      name: `${rt.plural}/status`,
      singularName: "",
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: ["get", "patch", "update"],
    },
  ];
}

/** `GET /api`: the core versions. */
export function apiVersions(host: string): JsonObject {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: host }],
  };
}

/** `GET /apis`: every non-core group with its versions. */
export function apiGroupList(registry: Registry): JsonObject {
  const groups = new Map<string, string[]>();
  for (const { group, version } of registry.groupVersions()) {
    if (!group) continue;
    const versions = groups.get(group) ?? [];
    versions.push(version);
    groups.set(group, versions);
  }
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...groups].map(([name, versions]) => ({
      name,
      versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
      preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
    })),
  };
}

/** `GET /api/v1` or `/apis/<group>/<version>`: the APIResourceList, or undefined for an unserved version. */
export function apiResourceList(registry: Registry, group: string, version: string): JsonObject | undefined {
  const types = registry.types.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/${version}` : version,
    resources: types.flatMap(resources),
  };
}
