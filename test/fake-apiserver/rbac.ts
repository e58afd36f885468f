import type { Registry, ResourceType } from "./registry.ts";
import type { Store } from "./store.ts";
import { failure, type JsonObject } from "./types.ts";

/** Who makes a request, as kube-apiserver's authenticators report it. */
export interface UserInfo {
  username: string;
  groups?: string[];
  /** e.g. `authentication.kubernetes.io/node-name` for a service-account token bound to a pod. */
  extra?: Record<string, string[]>;
}

/** The RBAC attributes of a resource request (kube-apiserver's `authorizer.Attributes`). */
export interface RequestAttributes {
  verb: string;
  rt: ResourceType;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** The user that bypasses authorization, as members of `system:masters` do. */
export const ADMIN: UserInfo = {
  username: "system:admin",
  groups: ["system:masters", "system:authenticated"],
};

/** The user of a service-account token, with the groups kube-apiserver adds. */
export function serviceAccountUser(
  namespace: string,
  name: string,
  extra?: Record<string, string[]>,
): UserInfo {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
    ...(extra ? { extra } : {}),
  };
}

/** The RBAC verb of an HTTP request: get/list/watch, create, update, patch, delete/deletecollection. */
export function verbOf(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case "GET":
      return named ? "get" : watch ? "watch" : "list";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return named ? "delete" : "deletecollection";
    default:
      return method.toLowerCase();
  }
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

function ruleAllows(rule: Rule, a: RequestAttributes): boolean {
  const resource = a.subresource ? `${a.rt.plural}/${a.subresource}` : a.rt.plural;
  const any = (list: string[] | undefined, value: string) =>
    (list ?? []).some((x) => x === "*" || x === value);
  if (!any(rule.verbs, a.verb) || !any(rule.apiGroups, a.rt.group)) return false;
  const resources = rule.resources ?? [];
  const resourceOk =
    resources.includes("*") ||
    resources.includes(resource) ||
    (a.subresource !== undefined && resources.includes(`${a.rt.plural}/*`)) ||
    (a.subresource === undefined && resources.includes(`*/${a.rt.plural}`));
  if (!resourceOk) return false;
  // resourceNames narrow only requests that name an object (create, and list/watch without a
  // metadata.name field selector, have no name).
  if (rule.resourceNames?.length) return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

function subjectMatches(s: Subject, user: UserInfo): boolean {
  if (s.kind === "User") return s.name === user.username;
  if (s.kind === "Group") return (user.groups ?? []).includes(s.name);
  if (s.kind === "ServiceAccount") return user.username === `system:serviceaccount:${s.namespace}:${s.name}`;
  return false;
}

/**
 * kube-apiserver's RBAC authorizer over the Roles, ClusterRoles and their bindings in the store: a request
 * is allowed when a binding names the user (or one of its groups, or its service account) and the role it
 * refers to has a rule covering the verb, API group, resource (or `resource/subresource`) and, when the
 * rule lists resourceNames, the object's name. RoleBindings grant only in their namespace. Members of
 * `system:masters` bypass it.
 */
export function authorize(registry: Registry, store: Store, user: UserInfo, a: RequestAttributes): boolean {
  if ((user.groups ?? []).includes("system:masters")) return true;
  const type = (kind: string) => registry.byKind("rbac.authorization.k8s.io/v1", kind) as ResourceType;
  const clusterRoles = new Map(store.list(type("ClusterRole")).map((r) => [r.metadata.name, r]));
  const rulesOf = (role: JsonObject | undefined) => (role?.rules as Rule[] | undefined) ?? [];
  const bound = (b: JsonObject) =>
    ((b.subjects as Subject[] | undefined) ?? []).some((s) => subjectMatches(s, user));
  for (const b of store.list(type("ClusterRoleBinding"))) {
    const ref = b.roleRef as { kind: string; name: string };
    if (bound(b) && rulesOf(clusterRoles.get(ref.name)).some((r) => ruleAllows(r, a))) return true;
  }
  if (a.namespace === undefined) return false;
  for (const b of store.list(type("RoleBinding"), a.namespace)) {
    if (!bound(b)) continue;
    const ref = b.roleRef as { kind: string; name: string };
    const role =
      ref.kind === "ClusterRole"
        ? clusterRoles.get(ref.name)
        : store.get(type("Role"), ref.name, a.namespace);
    if (rulesOf(role).some((r) => ruleAllows(r, a))) return true;
  }
  return false;
}

/** kube-apiserver's 403 for a request RBAC does not allow. */
export function forbidden(user: UserInfo, a: RequestAttributes) {
  const resource = a.subresource ? `${a.rt.plural}/${a.subresource}` : a.rt.plural;
  const qualified = a.rt.group ? `${a.rt.plural}.${a.rt.group}` : a.rt.plural;
  const where = a.namespace === undefined ? "at the cluster scope" : `in the namespace "${a.namespace}"`;
  return failure(
    403,
    "Forbidden",
    `${qualified}${a.name ? ` "${a.name}"` : ""} is forbidden: User "${user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.rt.group}" ${where}`,
    {
      ...(a.name ? { name: a.name } : {}),
      ...(a.rt.group ? { group: a.rt.group } : {}),
      kind: a.rt.plural,
    },
  );
}
