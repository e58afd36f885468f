import { crdObjects } from "../../api/v1alpha1/crds.ts";
import { validateMonitoringProfile, validateNodeMonitor } from "../../api/v1alpha1/validators.ts";
import type { Validated } from "../../api/validate.ts";
import {
  validateCoreEvent,
  validateEventsV1Event,
  validateLease,
  validateSecret,
} from "./builtin-validation.ts";
import { isObject, type JsonObject } from "./types.ts";

/** One kind the fake serves. */
export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  /** A `/status` subresource: main-resource writes keep the stored status, `/status` writes change only it. */
  statusSubresource: boolean;
  /** Maintains `metadata.generation` (custom resources do; ConfigMap, Secret, Node, Lease and Event do not). */
  generation: boolean;
  /** A custom resource: strategic merge patch is refused with 415, as the API server does. */
  custom: boolean;
  /** The OpenAPI schema, read for `x-kubernetes-list-type: map` keys (server-side apply merges by them). */
  schema?: JsonObject;
  /** Validates and defaults a whole object; a failure becomes a 422. */
  validate?: (obj: unknown) => Validated<unknown>;
}

/** `apiVersion` of a resource type. */
export function apiVersionOf(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

/** `plural.group`, as Status messages name a resource (`monitoringprofiles.vesmon.io`, `secrets`). */
export function qualifiedName(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

type Builtin = Pick<ResourceType, "group" | "version" | "kind" | "plural" | "namespaced"> &
  Partial<ResourceType>;

// Adding a built-in kind is one line here.
const BUILTINS: Builtin[] = [
  {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
    shortNames: ["ns"],
  },
  { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false, shortNames: ["no"] },
  { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true, validate: validateSecret },
  { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true, shortNames: ["cm"] },
  {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    namespaced: true,
    shortNames: ["ev"],
    validate: validateCoreEvent,
  },
  {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    namespaced: true,
    validate: validateLease,
  },
  {
    group: "events.k8s.io",
    version: "v1",
    kind: "Event",
    plural: "events",
    namespaced: true,
    shortNames: ["ev"],
    validate: validateEventsV1Event,
  },
  // Pods are stored, never run: an agent lists and watches them (KubeVirt's virt-launcher pods).
  {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    namespaced: true,
    shortNames: ["po"],
    statusSubresource: true,
  },
  // What the Helm chart renders, so its manifests can be applied with kubectl (stored, not run).
  { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true, shortNames: ["svc"] },
  {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    namespaced: true,
    shortNames: ["sa"],
  },
  {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    namespaced: true,
    shortNames: ["deploy"],
    statusSubresource: true,
    generation: true,
  },
  {
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    namespaced: true,
    shortNames: ["ds"],
    statusSubresource: true,
    generation: true,
  },
  {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    namespaced: true,
    shortNames: ["pdb"],
    statusSubresource: true,
    generation: true,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    namespaced: false,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
    namespaced: false,
  },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", namespaced: true },
  // The chart's CRDs, applied with kubectl; stored only: the vesmon kinds are served whether or not they are.
  {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    namespaced: false,
    shortNames: ["crd", "crds"],
    statusSubresource: true,
  },
  {
    group: "scheduling.k8s.io",
    version: "v1",
    kind: "PriorityClass",
    plural: "priorityclasses",
    namespaced: false,
    shortNames: ["pc"],
  },
  {
    group: "admissionregistration.k8s.io",
    version: "v1",
    kind: "ValidatingAdmissionPolicy",
    plural: "validatingadmissionpolicies",
    namespaced: false,
    statusSubresource: true,
    generation: true,
  },
  {
    group: "admissionregistration.k8s.io",
    version: "v1",
    kind: "ValidatingAdmissionPolicyBinding",
    plural: "validatingadmissionpolicybindings",
    namespaced: false,
    generation: true,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    namespaced: true,
  },
];

const VALIDATORS: Record<string, (obj: unknown) => Validated<unknown>> = {
  MonitoringProfile: validateMonitoringProfile,
  NodeMonitor: validateNodeMonitor,
};

function fromBuiltin(b: Builtin): ResourceType {
  return {
    singular: b.kind.toLowerCase(),
    shortNames: [],
    // Node has a status subresource; the others have none unless their entry says so.
    statusSubresource: b.kind === "Node",
    generation: false,
    custom: false,
    ...b,
  };
}

/** Reads our CRD objects (api/v1alpha1/crds.ts), so a new CRD there is served without a change here. */
function fromCrds(): ResourceType[] {
  const out: ResourceType[] = [];
  for (const crd of crdObjects()) {
    const spec = crd.spec as JsonObject;
    const names = spec.names as JsonObject;
    for (const v of spec.versions as JsonObject[]) {
      if (!v.served) continue;
      const kind = names.kind as string;
      const schema = (v.schema as JsonObject | undefined)?.openAPIV3Schema;
      const validate = VALIDATORS[kind];
      out.push({
        group: spec.group as string,
        version: v.name as string,
        kind,
        plural: names.plural as string,
        singular: names.singular as string,
        namespaced: spec.scope === "Namespaced",
        shortNames: (names.shortNames as string[] | undefined) ?? [],
        statusSubresource: isObject(v.subresources) && isObject(v.subresources.status),
        generation: true,
        custom: true,
        ...(isObject(schema) ? { schema } : {}),
        ...(validate ? { validate } : {}),
      });
    }
  }
  return out;
}

/** Every kind the fake serves by default. */
export function defaultResourceTypes(): ResourceType[] {
  return [...BUILTINS.map(fromBuiltin), ...fromCrds()];
}

/** Looks kinds up by apiVersion+kind or by group/version/plural. */
export class Registry {
  readonly types: readonly ResourceType[];

  constructor(types: ResourceType[]) {
    this.types = types;
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.types.find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
  }

  byPlural(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  /** The served group/versions, core first. */
  groupVersions(): { group: string; version: string }[] {
    const seen = new Map<string, { group: string; version: string }>();
    for (const t of this.types) seen.set(`${t.group}/${t.version}`, { group: t.group, version: t.version });
    return [...seen.values()];
  }
}
