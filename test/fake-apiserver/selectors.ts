import { failure, type K8sObject } from "./types.ts";

/** A parsed selector: true when an object matches. */
export type Matcher = (obj: K8sObject) => boolean;

interface Requirement {
  key: string;
  op: "=" | "!=" | "in" | "notin" | "exists" | "!";
  values: string[];
}

/** Splits on commas outside parentheses (`a in (x,y),b` is two terms). */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

function parseTerm(term: string, selector: string): Requirement {
  const set = /^([^\s!=()]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (set) {
    const values = set[3]!
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "");
    return { key: set[1]!, op: set[2] as "in" | "notin", values };
  }
  const eq = /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
  if (eq) return { key: eq[1]!, op: eq[2] === "!=" ? "!=" : "=", values: [eq[3]!] };
  const not = /^!\s*([^\s!=()]+)$/.exec(term);
  if (not) return { key: not[1]!, op: "!", values: [] };
  if (/^[^\s!=()]+$/.test(term)) return { key: term, op: "exists", values: [] };
  throw failure(400, "BadRequest", `unable to parse requirement: found '${term}' in selector "${selector}"`);
}

function matches(req: Requirement, value: string | undefined): boolean {
  switch (req.op) {
    case "=":
      return value === req.values[0];
    case "!=":
      return value !== req.values[0];
    case "in":
      return value !== undefined && req.values.includes(value);
    case "notin":
      return value === undefined || !req.values.includes(value);
    case "exists":
      return value !== undefined;
    case "!":
      return value === undefined;
  }
}

/** Parses a label selector: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-ANDed. */
export function parseLabelSelector(selector: string | null | undefined): Matcher {
  if (!selector) return () => true;
  const reqs = terms(selector).map((t) => parseTerm(t, selector));
  return (obj) => reqs.every((r) => matches(r, obj.metadata.labels?.[r.key]));
}

type Field = (obj: K8sObject) => string | undefined;

const FIELDS: Record<string, Field> = {
  "metadata.name": (o) => o.metadata.name,
  "metadata.namespace": (o) => o.metadata.namespace ?? "",
};

const involved =
  (key: string): Field =>
  (o) => {
    const ref = o.involvedObject as Record<string, unknown> | undefined;
    return typeof ref?.[key] === "string" ? (ref[key] as string) : "";
  };

/** The fields kube-apiserver selects Events by (`EventToSelectableFields`), besides the metadata ones. */
const EVENT_FIELDS: Record<string, Field> = {
  "involvedObject.kind": involved("kind"),
  "involvedObject.namespace": involved("namespace"),
  "involvedObject.name": involved("name"),
  "involvedObject.uid": involved("uid"),
  "involvedObject.apiVersion": involved("apiVersion"),
  reason: (o) => (typeof o.reason === "string" ? o.reason : ""),
  reportingComponent: (o) => (typeof o.reportingComponent === "string" ? o.reportingComponent : ""),
  type: (o) => (typeof o.type === "string" ? o.type : ""),
};

const podSpec =
  (key: string): Field =>
  (o) => {
    const v = (o.spec as Record<string, unknown> | undefined)?.[key];
    return typeof v === "string" ? v : typeof v === "boolean" ? String(v) : "";
  };
const podStatus =
  (key: string): Field =>
  (o) => {
    const v = (o.status as Record<string, unknown> | undefined)?.[key];
    return typeof v === "string" ? v : "";
  };

/** The fields kube-apiserver selects Pods by (`PodToSelectableFields`), besides the metadata ones. */
const POD_FIELDS: Record<string, Field> = {
  "spec.nodeName": podSpec("nodeName"),
  "spec.restartPolicy": podSpec("restartPolicy"),
  "spec.schedulerName": podSpec("schedulerName"),
  "spec.serviceAccountName": podSpec("serviceAccountName"),
  "spec.hostNetwork": (o) => String((o.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork === true),
  "status.phase": podStatus("phase"),
  "status.podIP": podStatus("podIP"),
  "status.nominatedNodeName": podStatus("nominatedNodeName"),
};

const KIND_FIELDS: Record<string, Record<string, Field>> = { Event: EVENT_FIELDS, Pod: POD_FIELDS };

/**
 * Parses a field selector, with `=`, `==` and `!=`: `metadata.name` and `metadata.namespace` (what custom
 * resources offer without selectableFields), for Events also `involvedObject.*`, `reason`,
 * `reportingComponent` and `type`, for Pods `spec.nodeName`, `status.phase` and the others kube-apiserver has. Anything else is a 400, as kube-apiserver answers.
 */
export function parseFieldSelector(selector: string | null | undefined, kind: string): Matcher {
  if (!selector) return () => true;
  const reqs = terms(selector).map((term) => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw failure(400, "BadRequest", `invalid selector: '${selector}'; can't understand '${term}'`);
    const get = FIELDS[m[1]!] ?? KIND_FIELDS[kind]?.[m[1]!];
    if (!get) {
      throw failure(
        400,
        "BadRequest",
        `"${m[1]}" is not a known field selector: only "metadata.name", "metadata.namespace"`,
        {
          kind,
        },
      );
    }
    return { get, neg: m[2] === "!=", value: m[3]! };
  });
  return (obj) => reqs.every((r) => (r.get(obj) === r.value) !== r.neg);
}
