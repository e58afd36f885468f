import { randomUUID } from "node:crypto";
import type { AdmissionRequest } from "./admission-policy.ts";
import { apply, recordUpdate } from "./fields.ts";
import { jsonPatch, mergePatch } from "./patch.ts";
import type { UserInfo } from "./rbac.ts";
import { apiVersionOf, qualifiedName, type ResourceType } from "./registry.ts";
import {
  clone,
  deepEqual,
  failure,
  isObject,
  type JsonObject,
  type K8sObject,
  nowTime,
  type StatusCause,
} from "./types.ts";

/** A change, as watches see it. `old` is the previous state, for selector transitions. */
export interface StoreEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  rv: number;
  rt: ResourceType;
  object: K8sObject;
  old?: K8sObject;
}

/** Who writes and to what. */
export interface WriteOptions {
  /** Field manager recorded in managedFields. */
  manager: string;
  /** Write only `.status` (the `/status` subresource). */
  subresource?: "status";
  /** Server-side apply: take conflicting fields from other managers. */
  force?: boolean;
  /** The requesting user (HTTP requests): the write goes through admission. */
  user?: UserInfo;
}

/** Options of a delete. */
export interface DeleteOptions {
  propagationPolicy?: "Orphan" | "Background" | "Foreground";
  preconditions?: { uid?: string; resourceVersion?: string };
  /** The requesting user (HTTP requests): the delete goes through admission. */
  user?: UserInfo;
}

/** The patch content types the fake understands. */
export const PATCH_TYPES = [
  "application/merge-patch+json",
  "application/json-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
] as const;

/** One of PATCH_TYPES. */
export type PatchType = (typeof PATCH_TYPES)[number];

const typeKey = (rt: ResourceType) => `${rt.group}/${rt.kind}`;
const keyOf = (rt: ResourceType, name: string, namespace?: string) =>
  `${rt.group}/${rt.kind}/${rt.namespaced ? (namespace ?? "") : ""}/${name}`;

/** Everything outside metadata and status: what bumps generation. */
function body(obj: K8sObject): JsonObject {
  const { metadata: _m, status: _s, ...rest } = obj;
  return rest;
}

/** The object as compared for no-op writes: RV and managedFields timestamps do not count. */
function comparable(obj: K8sObject): JsonObject {
  const meta: JsonObject = { ...obj.metadata };
  delete meta.resourceVersion;
  if (obj.metadata.managedFields)
    meta.managedFields = obj.metadata.managedFields.map((m) => ({ ...m, time: "" }));
  return { ...obj, metadata: meta };
}

/**
 * The object store: one global resourceVersion counter, a bounded event history for watch replay, and the
 * write rules of the API server (generation, status subresource, optimistic concurrency, finalizers, owner GC,
 * validation, managedFields). Both the HTTP layer and the direct test API go through it.
 */
export class Store {
  readonly #objects = new Map<string, K8sObject>();
  readonly #types = new Map<string, ResourceType>();
  readonly #uids = new Map<string, string>();
  /**
   * Recent events by resource type, `historySize` each, and the RV from which each type's are all retained:
   * kube-apiserver keeps one watch cache per resource, so churn on Nodes never expires a NodeMonitor watch.
   */
  readonly #history = new Map<string, { events: StoreEvent[]; start: number }>();
  readonly #historySize: number;
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  #rv = 1000;
  /** Events after this RV are all retained (compact() moves it); a watch from an older RV is told 410. */
  #historyStart = 1000;
  readonly #gcDelayMs: number;
  #gcTimer: NodeJS.Timeout | undefined;
  /** Garbage-collection passes run, for tests. */
  gcPasses = 0;
  /** Validating admission (ValidatingAdmissionPolicies), run on writes made by a user; throws to refuse. */
  admission: ((r: AdmissionRequest) => void) | undefined;

  /**
   * Whether an owner reference's apiVersion and kind are served. The garbage collector cannot resolve the others
   * (KubeVirt's VirtualMachineInstance here), so, as kube-controller-manager's, it leaves their dependents alone.
   */
  served: (apiVersion: string, kind: string) => boolean = () => true;

  /** `gcDelayMs`: how long after a change the garbage collector looks at owner references. */
  constructor(historySize: number, gcDelayMs = 50) {
    this.#historySize = historySize;
    this.#gcDelayMs = gcDelayMs;
  }

  /** Stops the pending garbage-collection pass (the server is closing). */
  stopGc(): void {
    clearTimeout(this.#gcTimer);
    this.#gcTimer = undefined;
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** Registers a listener for every committed change; returns the unsubscribe function. */
  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Events of one resource type after `rv`, or undefined when some were already dropped (the watch must get 410). */
  eventsSince(rv: number, rt: ResourceType): StoreEvent[] | undefined {
    const h = this.#history.get(typeKey(rt));
    if (rv < (h?.start ?? this.#historyStart)) return undefined;
    return (h?.events ?? []).filter((e) => e.rv > rv);
  }

  /** Forgets the history: watches from any RV before now get 410. */
  compact(): void {
    this.#history.clear();
    this.#historyStart = this.#rv;
  }

  get(rt: ResourceType, name: string, namespace?: string): K8sObject | undefined {
    const o = this.#objects.get(keyOf(rt, name, namespace));
    return o && clone(o);
  }

  /**
   * Objects of a kind, in one namespace or all, sorted by namespace then name; with `keep`, only those it
   * keeps (tested before copying, so a selective list of a large kind costs what it returns).
   */
  list(rt: ResourceType, namespace?: string, keep?: (o: K8sObject) => boolean): K8sObject[] {
    const prefix = `${rt.group}/${rt.kind}/`;
    const out: K8sObject[] = [];
    for (const [k, o] of this.#objects) {
      if (!k.startsWith(prefix)) continue;
      if (rt.namespaced && namespace !== undefined && o.metadata.namespace !== namespace) continue;
      if (keep && !keep(o)) continue;
      out.push(clone(o));
    }
    return out.sort((a, b) =>
      `${a.metadata.namespace ?? ""}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace ?? ""}/${b.metadata.name}`,
      ),
    );
  }

  #notFound(rt: ResourceType, name: string): never {
    throw failure(404, "NotFound", `${qualifiedName(rt)} "${name}" not found`, {
      name,
      ...(rt.group ? { group: rt.group } : {}),
      kind: rt.plural,
    });
  }

  #conflict(rt: ResourceType, name: string, why: string): never {
    throw failure(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${qualifiedName(rt)} "${name}": ${why}`,
      {
        name,
        ...(rt.group ? { group: rt.group } : {}),
        kind: rt.plural,
      },
    );
  }

  #invalid(rt: ResourceType, name: string, causes: StatusCause[]): never {
    const text = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(", ");
    throw failure(
      422,
      "Invalid",
      `${rt.kind}${rt.group ? `.${rt.group}` : ""} "${name}" is invalid: ${text}`,
      {
        name,
        ...(rt.group ? { group: rt.group } : {}),
        kind: rt.kind,
        causes,
      },
    );
  }

  #checkType(rt: ResourceType, obj: unknown): asserts obj is K8sObject {
    if (!isObject(obj) || !isObject(obj.metadata))
      throw failure(400, "BadRequest", "the object has no metadata");
    if (obj.apiVersion !== apiVersionOf(rt) || obj.kind !== rt.kind) {
      throw failure(
        400,
        "BadRequest",
        `the API version in the data (${String(obj.apiVersion)}) and kind (${String(obj.kind)}) do not match ${apiVersionOf(rt)} ${rt.kind}`,
      );
    }
  }

  #namespace(rt: ResourceType, obj: K8sObject, namespace: string | undefined): void {
    if (!rt.namespaced) {
      delete obj.metadata.namespace;
      return;
    }
    const ns = namespace ?? obj.metadata.namespace ?? "default";
    if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== ns) {
      throw failure(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    obj.metadata.namespace = ns;
  }

  #validate(rt: ResourceType, obj: K8sObject): K8sObject {
    if (!rt.validate) return obj;
    const r = rt.validate(obj);
    if (!r.ok) {
      this.#invalid(
        rt,
        obj.metadata.name,
        r.errors.map((e) => ({ reason: "FieldValueInvalid", message: e.message, field: e.field })),
      );
    }
    return r.value as K8sObject;
  }

  #emit(e: StoreEvent): void {
    // Like kube-controller-manager's garbage collector, which reacts to every change it sees, but later.
    if (e.type === "DELETED" || e.object.metadata.ownerReferences) this.#scheduleGc();
    const key = typeKey(e.rt);
    const h = this.#history.get(key) ?? { events: [], start: this.#historyStart };
    this.#history.set(key, h);
    h.events.push(e);
    while (h.events.length > this.#historySize) h.start = h.events.shift()!.rv;
    for (const fn of this.#listeners) fn(e);
  }

  #put(rt: ResourceType, obj: K8sObject): void {
    const key = keyOf(rt, obj.metadata.name, obj.metadata.namespace);
    this.#objects.set(key, clone(obj));
    this.#types.set(key, rt);
    if (obj.metadata.uid) this.#uids.set(obj.metadata.uid, key);
  }

  /** Creates an object (POST). `namespace` is the request's, for namespaced kinds. */
  create(
    rt: ResourceType,
    input: unknown,
    opts: WriteOptions,
    namespace?: string,
    applied = false,
  ): K8sObject {
    this.#checkType(rt, input);
    const obj = clone(input);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    if (!meta.name) {
      this.#invalid(rt, "", [
        {
          reason: "FieldValueRequired",
          field: "metadata.name",
          message: "Required value: name or generateName is required",
        },
      ]);
    }
    this.#namespace(rt, obj, namespace);
    if (this.#objects.has(keyOf(rt, meta.name, meta.namespace))) {
      throw failure(409, "AlreadyExists", `${qualifiedName(rt)} "${meta.name}" already exists`, {
        name: meta.name,
        ...(rt.group ? { group: rt.group } : {}),
        kind: rt.plural,
      });
    }
    for (const k of ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"]) {
      delete meta[k];
    }
    const time = nowTime();
    meta.uid = randomUUID();
    meta.creationTimestamp = time;
    if (rt.generation) meta.generation = 1;
    // Custom resources with a status subresource ignore status on create.
    if (rt.custom && rt.statusSubresource) delete obj.status;
    if (!applied) {
      delete meta.managedFields;
      recordUpdate(undefined, obj, rt, opts.manager, "main", time);
    }
    const valid = this.#validate(rt, obj);
    if (opts.user)
      this.admission?.({
        operation: "CREATE",
        rt,
        name: meta.name,
        ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}),
        object: valid,
        user: opts.user,
      });
    valid.metadata.resourceVersion = String(++this.#rv);
    this.#put(rt, valid);
    this.#emit({ type: "ADDED", rv: this.#rv, rt, object: clone(valid) });
    return clone(valid);
  }

  #checkRv(rt: ResourceType, old: K8sObject, rv: unknown): void {
    if (rv !== undefined && rv !== null && rv !== "" && rv !== old.metadata.resourceVersion) {
      this.#conflict(
        rt,
        old.metadata.name,
        "the object has been modified; please apply your changes to the latest version and try again",
      );
    }
  }

  /**
   * Replaces an object (PUT), or only its status with `subresource: "status"`. A set
   * `metadata.resourceVersion` that is not the current one is a 409; an unset one is an unconditional update.
   */
  update(rt: ResourceType, input: unknown, opts: WriteOptions, namespace?: string, name?: string): K8sObject {
    this.#checkType(rt, input);
    const ns = rt.namespaced ? (namespace ?? input.metadata.namespace ?? "default") : undefined;
    const target = name ?? input.metadata.name;
    if (input.metadata.name !== target) {
      throw failure(
        400,
        "BadRequest",
        `the name of the object (${input.metadata.name}) does not match the name on the URL (${target})`,
      );
    }
    const old = this.#objects.get(keyOf(rt, target, ns));
    if (!old) this.#notFound(rt, target);
    this.#checkRv(rt, old, input.metadata.resourceVersion);
    const time = nowTime();
    let next: K8sObject;
    if (opts.subresource === "status") {
      next = clone(old);
      if (input.status === undefined) delete next.status;
      else next.status = clone(input.status);
      recordUpdate(old, next, rt, opts.manager, "status", time);
    } else {
      next = clone(input);
      const keep = [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
      ];
      for (const k of keep) {
        if (old.metadata[k] === undefined) delete next.metadata[k];
        else next.metadata[k] = old.metadata[k];
      }
      next.metadata.name = old.metadata.name;
      if (old.metadata.namespace !== undefined) next.metadata.namespace = old.metadata.namespace;
      else delete next.metadata.namespace;
      // An omitted managedFields keeps the stored one; a given one (even []) replaces it.
      if (!Array.isArray(input.metadata.managedFields) && old.metadata.managedFields) {
        next.metadata.managedFields = clone(old.metadata.managedFields);
      }
      if (rt.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
      recordUpdate(old, next, rt, opts.manager, "main", time);
    }
    return this.#commit(rt, old, next, opts);
  }

  /** Validates, admits and stores an update; a no-op is not a write (no RV bump, no event). */
  #commit(rt: ResourceType, old: K8sObject, candidate: K8sObject, opts?: WriteOptions): K8sObject {
    const next = this.#validate(rt, candidate);
    if (opts?.user)
      this.admission?.({
        operation: "UPDATE",
        rt,
        ...(opts.subresource ? { subresource: opts.subresource } : {}),
        name: old.metadata.name,
        ...(old.metadata.namespace !== undefined ? { namespace: old.metadata.namespace } : {}),
        object: next,
        oldObject: old,
        user: opts.user,
      });
    if (old.metadata.deletionTimestamp) {
      const added = (next.metadata.finalizers ?? []).filter(
        (f) => !(old.metadata.finalizers ?? []).includes(f),
      );
      if (added.length > 0) {
        this.#invalid(rt, old.metadata.name, [
          {
            reason: "FieldValueForbidden",
            field: "metadata.finalizers",
            message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
          },
        ]);
      }
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    if (deepEqual(comparable(old), comparable(next))) return clone(old);
    if (rt.generation && !deepEqual(body(old), body(next))) {
      next.metadata.generation = (old.metadata.generation ?? 0) + 1;
    }
    next.metadata.resourceVersion = String(++this.#rv);
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      // The last finalizer went: the update is the deletion.
      this.#remove(rt, next, old, undefined);
      return clone(next);
    }
    this.#put(rt, next);
    this.#emit({ type: "MODIFIED", rv: this.#rv, rt, object: clone(next), old: clone(old) });
    return clone(next);
  }

  /** Patches an object or its status; `body` is the parsed patch (for apply, the parsed configuration). */
  patch(
    rt: ResourceType,
    name: string,
    namespace: string | undefined,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions,
  ): { object: K8sObject; created: boolean } {
    const ns = rt.namespaced ? (namespace ?? "default") : undefined;
    if (type === "application/apply-patch+yaml") return this.#apply(rt, name, ns, patch, opts);
    if (opts.force !== undefined) {
      throw failure(400, "BadRequest", "force is not allowed for non-apply patch requests");
    }
    if (type === "application/strategic-merge-patch+json" && rt.custom) {
      throw failure(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
      );
    }
    const old = this.#objects.get(keyOf(rt, name, ns));
    if (!old) this.#notFound(rt, name);
    const patched = type === "application/json-patch+json" ? jsonPatch(old, patch) : mergePatch(old, patch);
    if (!isObject(patched) || !isObject(patched.metadata)) {
      throw failure(422, "Invalid", "the patched object has no metadata");
    }
    if (patched.metadata.name !== name) {
      throw failure(
        400,
        "BadRequest",
        `the name of the object (${String(patched.metadata.name)}) does not match the name on the URL (${name})`,
      );
    }
    return { object: this.update(rt, patched, opts, ns, name), created: false };
  }

  #apply(
    rt: ResourceType,
    name: string,
    ns: string | undefined,
    config: unknown,
    opts: WriteOptions,
  ): { object: K8sObject; created: boolean } {
    if (!opts.manager) {
      throw failure(
        422,
        "Invalid",
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        {
          causes: [
            {
              reason: "FieldValueRequired",
              field: "fieldManager",
              message: "Required value: is required for apply patch",
            },
          ],
        },
      );
    }
    this.#checkType(rt, config);
    if (config.metadata.name !== name) {
      throw failure(
        400,
        "BadRequest",
        `the name of the object (${config.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    const scope = opts.subresource === "status" ? "status" : "main";
    const old = this.#objects.get(keyOf(rt, name, ns));
    const time = nowTime();
    if (!old) {
      if (scope === "status") this.#notFound(rt, name);
      const { object } = apply(undefined, config, rt, opts.manager, true, "main", time);
      if (ns !== undefined) object.metadata.namespace = ns;
      return { object: this.create(rt, object, opts, ns, true), created: true };
    }
    this.#checkRv(rt, old, config.metadata.resourceVersion);
    const { object, conflicts } = apply(old, config, rt, opts.manager, opts.force === true, scope, time);
    if (conflicts.length > 0) {
      const causes = conflicts.map((c) => ({
        reason: "FieldManagerConflict",
        message: `conflict with "${c.manager}"`,
        field: c.field,
      }));
      const lines = conflicts.map((c) => `- ${c.manager}: ${c.field}`).join("\n");
      throw failure(
        409,
        "Conflict",
        `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? "s" : ""}: ${conflicts
          .map((c) => `conflict with "${c.manager}": ${c.field}`)
          .join("\n")}\nPlease review the fields above--they currently have other managers:\n${lines}`,
        { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.kind, causes },
      );
    }
    return { object: this.#commit(rt, old, object, opts), created: false };
  }

  /**
   * Deletes an object. With finalizers it only gets `deletionTimestamp` (and a generation bump) and stays
   * until the last finalizer is removed; otherwise it goes at once and its dependents are collected.
   */
  delete(
    rt: ResourceType,
    name: string,
    namespace: string | undefined,
    opts: DeleteOptions = {},
  ): { object: K8sObject; deleted: boolean } {
    const ns = rt.namespaced ? (namespace ?? "default") : undefined;
    const old = this.#objects.get(keyOf(rt, name, ns));
    if (!old) this.#notFound(rt, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      this.#conflict(
        rt,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      this.#conflict(
        rt,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    }
    if (opts.user)
      this.admission?.({
        operation: "DELETE",
        rt,
        name,
        ...(old.metadata.namespace !== undefined ? { namespace: old.metadata.namespace } : {}),
        oldObject: old,
        user: opts.user,
      });
    if ((old.metadata.finalizers ?? []).length > 0) {
      if (old.metadata.deletionTimestamp) return { object: clone(old), deleted: false };
      const next = clone(old);
      next.metadata.deletionTimestamp = nowTime();
      next.metadata.deletionGracePeriodSeconds = 0;
      if ((old.metadata.generation ?? 0) > 0) next.metadata.generation = (old.metadata.generation ?? 0) + 1;
      next.metadata.resourceVersion = String(++this.#rv);
      this.#put(rt, next);
      this.#emit({ type: "MODIFIED", rv: this.#rv, rt, object: clone(next), old: clone(old) });
      return { object: clone(next), deleted: false };
    }
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.#rv);
    this.#remove(rt, gone, old, opts.propagationPolicy);
    return { object: gone, deleted: true };
  }

  #remove(
    rt: ResourceType,
    gone: K8sObject,
    old: K8sObject,
    policy: DeleteOptions["propagationPolicy"],
  ): void {
    this.#objects.delete(keyOf(rt, gone.metadata.name, gone.metadata.namespace));
    this.#types.delete(keyOf(rt, gone.metadata.name, gone.metadata.namespace));
    if (gone.metadata.uid) this.#uids.delete(gone.metadata.uid);
    this.#emit({ type: "DELETED", rv: this.#rv, rt, object: clone(gone), old: clone(old) });
    if (gone.metadata.uid) this.#collect(gone.metadata.uid, policy);
  }

  /**
   * Orphan propagation, at delete time: the reference to the deleted owner is removed from its dependents.
   * (The API server does this through the `orphan` finalizer and the garbage collector; the result is the same.)
   */
  #collect(uid: string, policy: DeleteOptions["propagationPolicy"]): void {
    if (policy !== "Orphan") return;
    for (const [key, live] of [...this.#objects.entries()]) {
      if (!(live.metadata.ownerReferences ?? []).some((r) => r.uid === uid)) continue;
      const rt = this.#types.get(key);
      if (!rt) continue;
      const next = clone(live);
      next.metadata.ownerReferences = (live.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      recordUpdate(live, next, rt, "generic-garbage-collector", "main", nowTime());
      this.#commit(rt, live, next);
    }
  }

  #scheduleGc(): void {
    if (this.#gcTimer) return;
    this.#gcTimer = setTimeout(() => {
      this.#gcTimer = undefined;
      this.collectGarbage();
    }, this.#gcDelayMs);
    this.#gcTimer.unref();
  }

  /** Whether an owner reference points at an object that exists now: same uid, kind and name. */
  #ownerExists(ref: { uid: string; kind: string; name: string }): boolean {
    const key = this.#uids.get(ref.uid);
    const owner = key === undefined ? undefined : this.#objects.get(key);
    return owner !== undefined && owner.kind === ref.kind && owner.metadata.name === ref.name;
  }

  /**
   * One pass of the garbage collector, as kube-controller-manager runs it some time after a change: every
   * object whose owner references all point to objects that no longer exist (by uid: an owner deleted and
   * re-created under the same name is a different owner) is deleted, with background propagation, until
   * nothing more goes. An owner of a kind not served cannot be looked up, so its dependents stay. Returns how
   * many objects it deleted.
   */
  collectGarbage(): number {
    this.gcPasses++;
    let deleted = 0;
    for (;;) {
      const doomed = [...this.#objects.entries()].filter(
        ([, o]) =>
          (o.metadata.ownerReferences ?? []).length > 0 &&
          !o.metadata.deletionTimestamp &&
          (o.metadata.ownerReferences ?? []).every((r) => this.served(r.apiVersion, r.kind)) &&
          !(o.metadata.ownerReferences ?? []).some((r) => this.#ownerExists(r)),
      );
      if (doomed.length === 0) return deleted;
      for (const [key, o] of doomed) {
        const rt = this.#types.get(key);
        if (!rt || this.#objects.get(key)?.metadata.uid !== o.metadata.uid) continue;
        this.delete(rt, o.metadata.name, o.metadata.namespace, { propagationPolicy: "Background" });
        deleted++;
      }
    }
  }
}
