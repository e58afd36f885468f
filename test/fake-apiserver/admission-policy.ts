import { type CelInput, celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { UserInfo } from "./rbac.ts";
import type { Registry, ResourceType } from "./registry.ts";
import type { Store } from "./store.ts";
import { failure, isObject, type JsonObject, type K8sObject } from "./types.ts";

/** One write as admission sees it. */
export interface AdmissionRequest {
  operation: "CREATE" | "UPDATE" | "DELETE";
  rt: ResourceType;
  subresource?: string;
  name: string;
  namespace?: string;
  /** The object after the write; undefined for a delete. */
  object?: K8sObject;
  /** The object before the write; undefined for a create. */
  oldObject?: K8sObject;
  user: UserInfo;
}

const env = celEnv();
const compiled = new Map<string, ReturnType<typeof plan>>();

function evaluate(expr: string, input: Record<string, CelInput>): unknown {
  let run = compiled.get(expr);
  if (!run) {
    run = plan(env, parse(expr));
    compiled.set(expr, run);
  }
  return run(input);
}

/** JSON to CEL input: objects become maps, whole numbers ints (as the API server types integer fields). */
function toCel(value: unknown): CelInput {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.map(toCel);
  if (isObject(value)) return new Map(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  return value as CelInput;
}

interface ResourceRule {
  apiGroups?: string[];
  apiVersions?: string[];
  operations?: string[];
  resources?: string[];
}

function matches(rule: ResourceRule, r: AdmissionRequest): boolean {
  const any = (list: string[] | undefined, v: string) => (list ?? []).some((x) => x === "*" || x === v);
  const resource = r.subresource ? `${r.rt.plural}/${r.subresource}` : r.rt.plural;
  const resources = rule.resources ?? [];
  return (
    any(rule.apiGroups, r.rt.group) &&
    any(rule.apiVersions, r.rt.version) &&
    any(rule.operations, r.operation) &&
    (resources.includes("*") ||
      resources.includes(resource) ||
      (r.subresource !== undefined && resources.includes(`${r.rt.plural}/*`)))
  );
}

// The Status code of each `reason` a validation may give (kube-apiserver's `reasonToCode`).
const CODES: Record<string, number> = {
  Unauthorized: 401,
  Forbidden: 403,
  Invalid: 422,
  RequestEntityTooLarge: 413,
};

/**
 * kube-apiserver's ValidatingAdmissionPolicy plugin over the policies and bindings in the store: for each
 * policy with a binding (validationActions Deny), a request its matchConstraints.resourceRules cover and all
 * of its matchConditions accept is checked against every validation; the first that is not true denies the
 * request with its messageExpression (or message) and reason (default Invalid, 422). Variables are
 * evaluated in order and visible as `variables.<name>`. CEL sees `request` (operation, name, namespace,
 * userInfo {username, groups, extra}, resource, subResource), `object` and `oldObject`. An expression that
 * fails to evaluate counts as a denial (failurePolicy Fail). Not modelled: paramKind/params, binding
 * matchResources, namespace and object selectors, auditAnnotations, Warn/Audit actions, type checking.
 */
export function admit(registry: Registry, store: Store, r: AdmissionRequest): void {
  const policyType = registry.byKind("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy");
  const bindingType = registry.byKind("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding");
  if (!policyType || !bindingType) return;
  const bindings = store.list(bindingType);
  for (const policy of store.list(policyType)) {
    const spec = (policy.spec ?? {}) as JsonObject;
    const binding = bindings.find(
      (b) => (b.spec as JsonObject | undefined)?.policyName === policy.metadata.name,
    );
    if (
      !binding ||
      !((binding.spec as JsonObject).validationActions as string[] | undefined)?.includes("Deny")
    )
      continue;
    const rules = ((spec.matchConstraints as JsonObject | undefined)?.resourceRules as ResourceRule[]) ?? [];
    if (!rules.some((rule) => matches(rule, r))) continue;
    const input: Record<string, CelInput> = {
      request: toCel({
        operation: r.operation,
        name: r.name,
        namespace: r.namespace ?? "",
        userInfo: { username: r.user.username, groups: r.user.groups ?? [], extra: r.user.extra ?? {} },
        resource: { group: r.rt.group, version: r.rt.version, resource: r.rt.plural },
        subResource: r.subresource ?? "",
      }),
      object: toCel(r.object),
      oldObject: toCel(r.oldObject),
    };
    const deny = (message: string, reason = "Invalid") => {
      throw failure(
        CODES[reason] ?? 422,
        reason,
        `ValidatingAdmissionPolicy '${policy.metadata.name}' with binding '${binding.metadata.name}' denied request: ${message}`,
      );
    };
    const conditions = (spec.matchConditions as { name: string; expression: string }[] | undefined) ?? [];
    for (const c of conditions) {
      const out = evaluate(c.expression, input);
      if (isCelError(out)) deny(`matchCondition '${c.name}' could not be evaluated: ${out.message}`);
      if (out !== true) return;
    }
    const variables = new Map<string, CelInput>();
    input.variables = variables;
    for (const v of (spec.variables as { name: string; expression: string }[] | undefined) ?? []) {
      const out = evaluate(v.expression, input);
      if (isCelError(out)) deny(`variable '${v.name}' could not be evaluated: ${out.message}`);
      variables.set(v.name, out as CelInput);
    }
    const validations =
      (spec.validations as
        | { expression: string; message?: string; messageExpression?: string; reason?: string }[]
        | undefined) ?? [];
    for (const v of validations) {
      const out = evaluate(v.expression, input);
      if (out === true) continue;
      if (isCelError(out)) deny(`expression '${v.expression}' resulted in error: ${out.message}`);
      const custom = v.messageExpression ? evaluate(v.messageExpression, input) : undefined;
      const message =
        typeof custom === "string" ? custom : (v.message ?? `failed expression: ${v.expression}`);
      deny(message, v.reason);
    }
  }
}
