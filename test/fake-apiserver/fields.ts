import type { ResourceType } from "./registry.ts";
import {
  clone,
  deepEqual,
  isObject,
  type JsonObject,
  type K8sObject,
  type ManagedFieldsEntry,
} from "./types.ts";

/**
 * A field path as managedFields spell its steps: `f:spec`, `k:{"name":"cpu"}` for a list-map item,
 * `v:"x"` for a set member. Stored as the JSON of the step array so sets of paths are cheap.
 */
export type FieldPath = string[];

/** Which part of an object a write may touch. */
export type Scope = "main" | "status";

const key = (p: FieldPath) => JSON.stringify(p);
const unkey = (k: string) => JSON.parse(k) as FieldPath;

function childSchema(schema: JsonObject | undefined, field: string): JsonObject | undefined {
  if (!schema) return undefined;
  const props = schema.properties;
  if (isObject(props) && isObject(props[field])) return props[field];
  if (isObject(schema.additionalProperties)) return schema.additionalProperties;
  return undefined;
}

/** How an array merges: by key fields, as a set, or whole (atomic). */
function listKind(schema: JsonObject | undefined, field: string): { keys?: string[]; set?: boolean } {
  const t = schema?.["x-kubernetes-list-type"];
  if (t === "map") return { keys: schema?.["x-kubernetes-list-map-keys"] as string[] };
  if (t === "set") return { set: true };
  // Built-in kinds carry no schema here; these are their list-maps and sets that matter to us.
  if (!schema && field === "conditions") return { keys: ["type"] };
  if (!schema && field === "ownerReferences") return { keys: ["uid"] };
  if (!schema && field === "finalizers") return { set: true };
  return {};
}

function itemStep(item: unknown, keys: string[]): string | undefined {
  if (!isObject(item) || !keys.every((k) => item[k] !== undefined)) return undefined;
  const id: JsonObject = {};
  for (const k of [...keys].sort()) id[k] = item[k];
  return `k:${JSON.stringify(id)}`;
}

/** Every path a value provides: leaves, list-map items and set members; maps themselves are not fields. */
function walk(
  value: unknown,
  schema: JsonObject | undefined,
  field: string,
  at: FieldPath,
  out: FieldPath[],
) {
  if (Array.isArray(value)) {
    const { keys, set } = listKind(schema, field);
    const items = isObject(schema?.items) ? schema.items : undefined;
    if (set) {
      for (const v of value) out.push([...at, `v:${JSON.stringify(v)}`]);
      return;
    }
    const steps = keys ? value.map((v) => itemStep(v, keys)) : [];
    if (!keys || steps.some((s) => s === undefined)) {
      out.push(at);
      return;
    }
    value.forEach((v, i) => {
      const p = [...at, steps[i]!];
      out.push(p);
      walkObject(v as JsonObject, items, p, out);
    });
    return;
  }
  if (isObject(value) && Object.keys(value).length > 0) {
    walkObject(value, schema, at, out);
    return;
  }
  out.push(at);
}

function walkObject(obj: JsonObject, schema: JsonObject | undefined, at: FieldPath, out: FieldPath[]) {
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    walk(v, childSchema(schema, k), k, [...at, `f:${k}`], out);
  }
}

/** The paths of an object that a write in `scope` can own (metadata: labels, annotations, finalizers, owners). */
export function fieldPaths(obj: JsonObject, rt: ResourceType, scope: Scope): FieldPath[] {
  const out: FieldPath[] = [];
  const metadata = isObject(obj.metadata) ? obj.metadata : {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === "apiVersion" || k === "kind" || k === "metadata" || v === undefined) continue;
    const isStatus = k === "status" && rt.statusSubresource;
    if (isStatus !== (scope === "status")) continue;
    walk(v, childSchema(rt.schema, k), k, [`f:${k}`], out);
  }
  if (scope === "main") {
    for (const k of ["labels", "annotations", "finalizers", "ownerReferences"]) {
      if (metadata[k] !== undefined) walk(metadata[k], undefined, k, ["f:metadata", `f:${k}`], out);
    }
  }
  return out;
}

/** The value at a path, or undefined. */
export function valueAt(obj: unknown, path: FieldPath): unknown {
  let cur = obj;
  for (const step of path) {
    if (step.startsWith("f:") && isObject(cur)) cur = cur[step.slice(2)];
    else if (step.startsWith("k:") && Array.isArray(cur)) {
      const id = JSON.parse(step.slice(2)) as JsonObject;
      cur = cur.find((item) => isObject(item) && Object.entries(id).every(([k, v]) => deepEqual(item[k], v)));
    } else if (step.startsWith("v:") && Array.isArray(cur)) {
      const v = JSON.parse(step.slice(2)) as unknown;
      cur = cur.some((x) => deepEqual(x, v)) ? v : undefined;
    } else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** Removes the field, list item or set member at a path; empty containers are left in place. */
export function removeAt(obj: JsonObject, path: FieldPath): void {
  const parent = valueAt(obj, path.slice(0, -1));
  const step = path[path.length - 1]!;
  if (step.startsWith("f:") && isObject(parent)) delete parent[step.slice(2)];
  else if (Array.isArray(parent)) {
    const target = valueAt(obj, path);
    const i = parent.findIndex((x) => x === target || (step.startsWith("v:") && deepEqual(x, target)));
    if (i >= 0) parent.splice(i, 1);
  }
}

/** Merges an apply configuration into an object: maps recursively, list-maps by key, sets by union. */
export function mergeApplied(
  target: unknown,
  config: unknown,
  schema: JsonObject | undefined,
  field: string,
): unknown {
  if (isObject(config)) {
    const out: JsonObject = isObject(target) ? clone(target) : {};
    for (const [k, v] of Object.entries(config)) {
      if (v === undefined) continue;
      out[k] = mergeApplied(out[k], v, childSchema(schema, k), k);
    }
    return out;
  }
  if (Array.isArray(config) && Array.isArray(target)) {
    const { keys, set } = listKind(schema, field);
    if (set) return [...clone(target), ...clone(config).filter((v) => !target.some((t) => deepEqual(t, v)))];
    if (keys) {
      const out = clone(target);
      const items = isObject(schema?.items) ? schema.items : undefined;
      for (const item of config) {
        const step = itemStep(item, keys);
        const i = step === undefined ? -1 : out.findIndex((t) => itemStep(t, keys) === step);
        if (i >= 0) out[i] = mergeApplied(out[i], item, items, "");
        else out.push(clone(item));
      }
      return out;
    }
  }
  return clone(config);
}

/** One manager's ownership as a set of path keys. */
interface Owner {
  entry: ManagedFieldsEntry;
  paths: Set<string>;
}

function toFieldsV1(paths: Iterable<string>): JsonObject {
  const root: JsonObject = {};
  for (const k of paths) {
    let node = root;
    for (const step of unkey(k)) {
      if (!isObject(node[step])) node[step] = {};
      node = node[step] as JsonObject;
    }
    node["."] = {};
  }
  // A leaf is written `{}`; "." only marks a node that also has children.
  const tidy = (node: JsonObject): JsonObject => {
    const entries = Object.entries(node).filter(([k]) => k !== ".");
    if (entries.length === 0) return {};
    const out: JsonObject = "." in node ? { ".": {} } : {};
    for (const [k, v] of entries) out[k] = tidy(v as JsonObject);
    return out;
  };
  return tidy(root);
}

function fromFieldsV1(tree: unknown, at: FieldPath = [], out = new Set<string>()): Set<string> {
  if (!isObject(tree)) return out;
  const children = Object.keys(tree).filter((k) => k !== ".");
  if (at.length > 0 && (children.length === 0 || "." in tree)) out.add(key(at));
  for (const c of children) fromFieldsV1(tree[c], [...at, c], out);
  return out;
}

function owners(obj: K8sObject): Owner[] {
  return (obj.metadata.managedFields ?? []).map((entry) => ({ entry, paths: fromFieldsV1(entry.fieldsV1) }));
}

function store(obj: K8sObject, list: Owner[], time: string): void {
  const out = list
    .filter((o) => o.paths.size > 0)
    .map((o) => ({ ...o.entry, time: o.entry.time || time, fieldsV1: toFieldsV1([...o.paths].sort()) }));
  if (out.length > 0) obj.metadata.managedFields = out;
  else delete obj.metadata.managedFields;
}

function ownerFor(
  list: Owner[],
  manager: string,
  operation: "Apply" | "Update",
  scope: Scope,
  rt: ResourceType,
  time: string,
) {
  const sub = scope === "status" ? "status" : undefined;
  let o = list.find(
    (x) => x.entry.manager === manager && x.entry.operation === operation && x.entry.subresource === sub,
  );
  if (!o) {
    o = {
      entry: {
        manager,
        operation,
        apiVersion: rt.group ? `${rt.group}/${rt.version}` : rt.version,
        time,
        fieldsType: "FieldsV1",
        fieldsV1: {},
        ...(sub ? { subresource: sub } : {}),
      },
      paths: new Set(),
    };
    list.push(o);
  }
  o.entry = { ...o.entry, time };
  return o;
}

/**
 * Records a non-apply write (create, update, patch) in `next.metadata.managedFields`: the manager takes the
 * paths whose value changed, every other manager loses them, and paths that went away lose their owners.
 */
export function recordUpdate(
  old: K8sObject | undefined,
  next: K8sObject,
  rt: ResourceType,
  manager: string,
  scope: Scope,
  time: string,
): void {
  const list = owners(next);
  const now = new Set(fieldPaths(next, rt, scope).map(key));
  const changed = [...now].filter((k) => !old || !deepEqual(valueAt(old, unkey(k)), valueAt(next, unkey(k))));
  const gone = old
    ? fieldPaths(old, rt, scope)
        .map(key)
        .filter((k) => !now.has(k))
    : [];
  for (const o of list) for (const k of [...changed, ...gone]) o.paths.delete(k);
  if (changed.length > 0) {
    const me = ownerFor(list, manager, "Update", scope, rt, time);
    for (const k of changed) me.paths.add(k);
  }
  store(next, list, time);
}

/** A field another manager owns with a different value. */
export interface FieldConflict {
  manager: string;
  field: string;
}

/** Renders a path as the API server names it in conflicts: `.spec.collectors[name="cpu"].interval`. */
export function describePath(path: FieldPath): string {
  return path
    .map((s) => {
      if (s.startsWith("f:")) return `.${s.slice(2)}`;
      if (s.startsWith("k:")) {
        const id = JSON.parse(s.slice(2)) as JsonObject;
        return `[${Object.entries(id)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(",")}]`;
      }
      return `[=${s.slice(2)}]`;
    })
    .join("");
}

/**
 * Server-side apply (simplified): merges `config` into `current` (or into nothing, for a create) as
 * `manager`, returning the new object with managedFields updated, or the conflicts. Fields the manager applied
 * before and leaves out now are removed unless another manager owns them.
 */
export function apply(
  current: K8sObject | undefined,
  config: K8sObject,
  rt: ResourceType,
  manager: string,
  force: boolean,
  scope: Scope,
  time: string,
): { object: K8sObject; conflicts: FieldConflict[] } {
  const base: K8sObject = current
    ? clone(current)
    : { apiVersion: config.apiVersion, kind: config.kind, metadata: { name: config.metadata.name } };
  const list = owners(base);
  const me = ownerFor(list, manager, "Apply", scope, rt, time);
  const applied = fieldPaths(config, rt, scope);
  const appliedKeys = new Set(applied.map(key));
  const conflicts: FieldConflict[] = [];
  const leaf = (p: FieldPath) => !p[p.length - 1]!.startsWith("k:");
  for (const o of list) {
    if (o === me) continue;
    for (const k of o.paths) {
      const q = unkey(k);
      if (!leaf(q)) continue;
      const hit = applied.find((p) => p.length >= q.length && q.every((s, i) => p[i] === s));
      if (!hit) continue;
      const have = valueAt(base, q);
      const want = valueAt(config, q);
      if (deepEqual(have, want)) continue;
      // An empty map owns only the map itself; its (possibly defaulted) members are nobody's conflict.
      if (isObject(want) && Object.keys(want).length === 0 && isObject(have)) continue;
      if (force) o.paths.delete(k);
      else conflicts.push({ manager: o.entry.manager, field: describePath(q) });
    }
  }
  if (conflicts.length > 0) return { object: base, conflicts };
  // Fields this manager applied before and no longer applies go, unless someone else still owns them.
  const dropped = [...me.paths].filter((k) => !appliedKeys.has(k)).map(unkey);
  // Outermost first: a list item goes as a whole (its key fields are how it is found).
  dropped.sort((a, b) => a.length - b.length);
  const removed: string[] = [];
  for (const p of dropped) {
    const prefix = key(p).slice(0, -1);
    if (removed.some((r) => prefix.startsWith(r))) continue;
    const shared = list.some((o) => o !== me && [...o.paths].some((k) => k.startsWith(prefix)));
    if (shared) continue;
    removeAt(base, p);
    removed.push(prefix);
  }
  me.paths = appliedKeys;
  let merged: JsonObject = base;
  for (const [k, v] of Object.entries(config)) {
    if (k === "apiVersion" || k === "kind" || v === undefined) continue;
    if (k === "metadata") {
      const meta = clone(base.metadata) as JsonObject;
      for (const mk of ["labels", "annotations", "finalizers", "ownerReferences"]) {
        const mv = (v as JsonObject)[mk];
        if (mv !== undefined && scope === "main") meta[mk] = mergeApplied(meta[mk], mv, undefined, mk);
      }
      merged = { ...merged, metadata: meta };
      continue;
    }
    const isStatus = k === "status" && rt.statusSubresource;
    if (isStatus !== (scope === "status")) continue;
    const schema = isObject(rt.schema?.properties) ? (rt.schema.properties[k] as JsonObject) : undefined;
    merged = { ...merged, [k]: mergeApplied(base[k], v, schema, k) };
  }
  const object = merged as K8sObject;
  store(object, list, time);
  return { object, conflicts };
}
