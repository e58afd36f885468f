import { CoreV1Api, CustomObjectsApi, type KubeConfig, setHeaderOptions } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { MonitoringProfile, MonitoringProfileStatus, NodeMonitor } from "../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import { isNotFound, patchStatus, serverSideApply } from "../kube/apply.ts";
import { clientNodeWatcher, clusterCustomObjectLister } from "../kube/client-node-api.ts";
import { forEachLimit } from "../kube/concurrency.ts";
import { findCondition } from "../kube/conditions.ts";
import { MutationCache } from "../kube/mutation-cache.ts";
import { type KubeObject, type ListResult, Reflector } from "../kube/reflector.ts";
import type { Timers } from "../kube/timers.ts";
import { WorkQueue } from "../kube/work-queue.ts";
import {
  type CachedNode,
  nodeForCache,
  nodeMonitorForCache,
  withoutManagedFields,
} from "./cache-transforms.ts";
import {
  CREDENTIALS_HASH_ANNOTATION,
  type CredentialsRefusal,
  credentialsKey,
  fitCredentials,
  isCredentialsSource,
  referencedSecrets,
  renderCredentialsSecret,
  type SecretSource,
} from "./credentials.ts";
import { OperatorReason } from "./reasons.ts";
import {
  canonicalJson,
  changedProfiles,
  desiredNodeMonitor,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type ProfileInput,
  selectNodes,
} from "./render.ts";
import { rollUpStatus } from "./rollup.ts";
import { matchesSelector } from "./selector.ts";
import { checkProfile } from "./validate-profile.ts";

/** Settings of the operator's controller. */
export interface ControllerOptions {
  kubeConfig: KubeConfig;
  /** The operator's namespace: referenced Secrets and the managed credentials Secret live here. */
  namespace: string;
  /** Name of the managed credentials Secret the agents mount. Defaults to `vesmon-agent-credentials`. */
  credentialsSecret?: string;
  /** Field manager of every server-side apply. Defaults to `vesmon-operator`. */
  fieldManager?: string;
  timers: Timers;
  log: Logger;
  /** Told of notable transitions, for Kubernetes Events. */
  onTransition?: (
    profile: MonitoringProfile,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ) => void;
}

type Obj = KubeObject & Record<string, unknown>;
type Secret = Obj & {
  data?: Record<string, string>;
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
};
type Node = CachedNode;

const NODES_KEY = "nodemonitors";
/**
 * Nodes are read as metadata only (kube-apiserver's PartialObjectMetadata): a kubelet's Node is 10-30 KB,
 * almost all status (images, conditions), and rendering reads only its name, uid and labels.
 */
export const NODE_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
/** The Accept of the Node watch: each event is one PartialObjectMetadata. */
export const NODE_WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
/** NodeMonitor writes in flight at once: a fleet-wide change goes out in parallel, without flooding the server. */
const CONCURRENT_WRITES = 8;
/** How long a profile's roll-up waits after a NodeMonitor event, so a burst of them folds into one. */
const ROLLUP_DELAY_MS = 500;
const profileKey = (name: string) => `profile/${name}`;
/** The uid of the Node a NodeMonitor belongs to, from its owner reference. */
const ownerUid = (meta: { ownerReferences?: { kind: string; uid: string }[] }) =>
  meta.ownerReferences?.find((r) => r.kind === "Node")?.uid;

/** Whether a Node changed in what rendering reads: its uid (re-created under the same name) or labels. */
function nodeRenderChanged(before: Node, after: Node): boolean {
  return (
    before.metadata.uid !== after.metadata.uid ||
    canonicalJson(before.metadata.labels ?? {}) !== canonicalJson(after.metadata.labels ?? {})
  );
}

/** Counters the controller keeps, for /metrics. */
export interface ControllerStats {
  reconciles: Record<string, number>;
  errors: number;
  writes: number;
  /** NodeMonitors rendered (one node's desired object computed), whether or not a write followed. */
  rendered: number;
  /** Summed reconcile time per kind, seconds (with `reconciles` it gives the mean). */
  seconds: Record<string, number>;
}

/**
 * The operator's reconcilers. One key runs the render pass: it validates the profiles, keeps the managed
 * credentials Secret in step, and renders the NodeMonitors of only the nodes that may have changed (applied
 * with server-side apply when the config hash or owner differs; deleted when no profile selects the node):
 * the nodes a profile whose selector, uid or acceptance changed selected or now selects, and the nodes whose
 * labels or uid changed. NodeMonitors name the profiles and carry no spec, so an edit of the rest of a spec
 * writes none: agents read the profile and run the generation its Accepted condition accepts. A Node status
 * update changes nothing it reads and queues nothing. One key per profile rolls the NodeMonitor statuses up
 * into the profile's status; it marks a generation Accepted only after a render pass has taken it in (and
 * written the credentials Secret it needs). Informers feed a rate-limited work queue; only the leader runs it.
 */
export class Controller {
  readonly #opts: ControllerOptions;
  readonly queue: WorkQueue<string>;
  readonly #profiles: Reflector<Obj>;
  readonly #nodes: Reflector<Node>;
  readonly #monitors: Reflector<Obj>;
  readonly #secrets: Reflector<Secret>;
  // The informers' caches overlaid with this controller's own writes, so that a reconcile running before the
  // watch delivers a write does not make it again (client-go's MutationCache).
  readonly #profilesView: MutationCache<Obj>;
  readonly #monitorsView: MutationCache<Obj>;
  readonly #secretsView: MutationCache<Secret>;
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;
  readonly stats: ControllerStats = {
    reconciles: {},
    errors: 0,
    writes: 0,
    rendered: 0,
    seconds: {},
  };
  #running: Promise<void> | undefined;
  /** The accepted profiles as last rendered; undefined until the first render pass since leading. */
  #renderedProfiles: Map<string, ProfileInput> | undefined;
  /** Nodes whose labels or uid changed, or whose NodeMonitor was deleted, since the last render pass. */
  #dirtyNodes = new Set<string>();
  /** Moves with every Node event that changes what selection reads (a node added or deleted, its labels). */
  #nodesVersion = 0;
  /**
   * Each profile's selected nodes, as of a nodes version and selector. A roll-up follows every burst of agent
   * status reports; selecting anew each time would match every node of the fleet against the selector.
   */
  readonly #selections = new Map<string, { key: string; nodes: string[] }>();
  /** Each profile's generation the NodeMonitors were last queued for. */
  readonly #renderedGenerations = new Map<string, number | undefined>();
  /** Profiles refused because their credentials cannot be copied (too large, or the Secret write failed). */
  #credentialRefusals = new Map<string, CredentialsRefusal>();
  /** Whether the last write of the managed credentials Secret failed: logged once per transition. */
  #credentialsFailing = false;

  constructor(opts: ControllerOptions) {
    this.#opts = opts;
    const kc = opts.kubeConfig;
    const watcher = clientNodeWatcher(kc);
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.queue = new WorkQueue<string>({ timers: opts.timers, name: "operator" });
    const customList = (plural: string) =>
      clusterCustomObjectLister<Obj>(kc, { group: "vesmon.io", version: "v1alpha1", plural });
    const reflector = <T extends KubeObject>(
      path: string,
      list: () => Promise<ListResult<T>>,
      transform: (o: T) => T = withoutManagedFields,
    ) => new Reflector<T>({ watcher, path, list, transform, timers: opts.timers, log: opts.log });
    this.#profiles = reflector(
      "/apis/vesmon.io/v1alpha1/monitoringprofiles",
      customList("monitoringprofiles"),
    );
    this.#monitors = reflector(
      "/apis/vesmon.io/v1alpha1/nodemonitors",
      customList("nodemonitors"),
      nodeMonitorForCache,
    );
    this.#nodes = new Reflector<Node>({
      watcher,
      path: "/api/v1/nodes",
      accept: NODE_WATCH_ACCEPT,
      transform: nodeForCache,
      list: async () => {
        const r = await this.#core.listNode({}, setHeaderOptions("Accept", NODE_LIST_ACCEPT));
        return { items: r.items as unknown as Node[], resourceVersion: r.metadata?.resourceVersion ?? "" };
      },
      timers: opts.timers,
      log: opts.log,
    });
    this.#secrets = reflector<Secret>(`/api/v1/namespaces/${opts.namespace}/secrets`, async () => {
      const r = await this.#core.listNamespacedSecret({ namespace: opts.namespace });
      return { items: r.items as unknown as Secret[], resourceVersion: r.metadata?.resourceVersion ?? "" };
    });
    const timers = opts.timers;
    this.#profilesView = new MutationCache(() => this.#profiles.cache, { timers });
    this.#monitorsView = new MutationCache(() => this.#monitors.cache, { timers });
    this.#secretsView = new MutationCache(() => this.#secrets.cache, { timers });
  }

  /** Starts the informers; resolves once each has listed. */
  async start(): Promise<void> {
    const all = () => {
      this.queue.add(NODES_KEY);
      for (const name of this.#profiles.cache.keys()) this.queue.add(profileKey(name));
    };
    this.#profiles.start((e) => {
      const { name, generation } = e.object.metadata as { name: string; generation?: number };
      this.#profilesView.observe(name, e.object);
      // NodeMonitors render the spec only: a status write (the operator's own roll-ups) changes none of them.
      const seen = this.#renderedGenerations;
      if (e.type === "DELETED") {
        seen.delete(name);
        this.#selections.delete(name);
        this.queue.add(NODES_KEY);
      } else if (!seen.has(name) || seen.get(name) !== generation) {
        seen.set(name, generation);
        this.queue.add(NODES_KEY);
      }
      this.queue.add(profileKey(name));
    });
    // Rendering reads a node's name, uid and labels: a kubelet's status heartbeat (about one per node every
    // few minutes, 17/s at 5000 nodes) changes none of them and must not cost a render.
    this.#nodes.start((e) => {
      if (e.type === "MODIFIED" && e.old && !nodeRenderChanged(e.old, e.object)) return;
      this.#nodesVersion++;
      this.#dirtyNodes.add(e.object.metadata.name);
      this.queue.add(NODES_KEY);
    });
    this.#monitors.start((e) => {
      this.#monitorsView.observe(e.object.metadata.name, e.object);
      const nm = e.object as unknown as NodeMonitor;
      if (e.type === "DELETED") {
        this.#dirtyNodes.add(e.object.metadata.name);
        this.queue.add(NODES_KEY);
      }
      // A rollout moves thousands of NodeMonitors, each naming up to 16 profiles: a roll-up per event would
      // cost O(nodes²). Delayed, the events of a burst fold into one roll-up per profile and delay.
      // The profiles it named before too: a node that left a profile's selection changes that profile's count.
      const old = e.old as unknown as NodeMonitor | undefined;
      for (const p of [
        ...(nm.spec?.profiles ?? []),
        ...(nm.status?.profiles ?? []),
        ...(old?.spec?.profiles ?? []),
      ])
        this.queue.addAfter(profileKey(p.name), ROLLUP_DELAY_MS);
    });
    this.#secrets.start((e) => {
      this.#secretsView.observe(`${this.#opts.namespace}/${e.object.metadata.name}`, e.object);
      if (e.object.metadata.name !== this.#credentialsName) all();
    });
    await Promise.all([
      this.#profiles.synced,
      this.#nodes.synced,
      this.#monitors.synced,
      this.#secrets.synced,
    ]);
  }

  /** Runs the work queue (call when leading); resolves when the queue shuts down. */
  run(concurrency = 2): Promise<void> {
    // Another leader may have written meanwhile: the first pass renders every node again.
    this.#renderedProfiles = undefined;
    this.queue.add(NODES_KEY);
    for (const name of this.#profiles.cache.keys()) this.queue.add(profileKey(name));
    this.#running = this.queue.run(concurrency, (key) => this.#reconcile(key));
    return this.#running;
  }

  async stop(): Promise<void> {
    for (const r of [this.#profiles, this.#nodes, this.#monitors, this.#secrets]) r.stop();
    await this.queue.shutDown();
  }

  /** Failed lists and watches of each informer, by resource, for /metrics. */
  get listWatchFailures(): Record<string, number> {
    return {
      monitoringprofiles: this.#profiles.failures,
      nodes: this.#nodes.failures,
      nodemonitors: this.#monitors.failures,
      secrets: this.#secrets.failures,
    };
  }

  get #credentialsName(): string {
    return this.#opts.credentialsSecret ?? "vesmon-agent-credentials";
  }

  get #fieldManager(): string {
    return this.#opts.fieldManager ?? "vesmon-operator";
  }

  async #reconcile(key: string): Promise<void> {
    const kind = key === NODES_KEY ? "nodemonitors" : "profile";
    const started = this.#opts.timers.now();
    try {
      if (key === NODES_KEY) await this.#reconcileNodeMonitors();
      else await this.#reconcileProfile(key.slice("profile/".length));
      this.stats.reconciles[`${kind}/ok`] = (this.stats.reconciles[`${kind}/ok`] ?? 0) + 1;
    } catch (err) {
      this.stats.errors++;
      this.stats.reconciles[`${kind}/error`] = (this.stats.reconciles[`${kind}/error`] ?? 0) + 1;
      this.#opts.log.warn({ key, err: (err as Error).message }, "reconcile failed; requeued");
      throw err;
    } finally {
      this.stats.seconds[kind] = (this.stats.seconds[kind] ?? 0) + (this.#opts.timers.now() - started) / 1000;
    }
  }

  /** Each profile's status as last stored (what the roll-ups wrote), for /metrics. */
  profileStatuses(): { name: string; status?: MonitoringProfileStatus }[] {
    return [...this.#profiles.cache.values()].map((raw) => {
      const status = (raw as { status?: MonitoringProfileStatus }).status;
      return { name: raw.metadata.name, ...(status ? { status } : {}) };
    });
  }

  /** Profiles as validated (defaults applied); a stored object the validator refuses is left out. */
  #validProfiles(): MonitoringProfile[] {
    const out: MonitoringProfile[] = [];
    for (const [, raw] of this.#profilesView.entries()) {
      const r = validateMonitoringProfile(raw);
      if (r.ok) out.push({ ...r.value, metadata: raw.metadata as MonitoringProfile["metadata"] });
    }
    return out.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /** The checks on the profile alone (CRD-independent): Secrets referenced, labelled, keys present. */
  #checkAlone(p: MonitoringProfile) {
    const secret = (name: string) => this.#secrets.cache.get(`${this.#opts.namespace}/${name}`);
    return checkProfile(p, {
      secretExists: (name) => secret(name) !== undefined,
      secretKeys: (name) => {
        const s = secret(name);
        return s ? Object.keys(s.data ?? {}) : undefined;
      },
      secretLabelled: (name) => isCredentialsSource(secret(name)?.metadata.labels),
      managedSecret: this.#credentialsName,
    });
  }

  /** The profile's acceptance: its own checks, then whether its credentials could be copied. */
  #check(p: MonitoringProfile) {
    const alone = this.#checkAlone(p);
    const refusal = alone.ok ? this.#credentialRefusals.get(p.metadata.name) : undefined;
    return refusal ? { ok: false as const, ...refusal, warnings: alone.warnings } : alone;
  }

  /** The opt-in Secrets the profiles reference, never the managed one. */
  #credentialSources(profiles: MonitoringProfile[]): Map<string, SecretSource> {
    const sources = new Map<string, SecretSource>();
    for (const name of referencedSecrets(profiles)) {
      const s = this.#secrets.cache.get(`${this.#opts.namespace}/${name}`);
      if (s && name !== this.#credentialsName && isCredentialsSource(s.metadata.labels))
        sources.set(name, { data: s.data ?? {} });
    }
    return sources;
  }

  /** Replaces the credential refusals and queues the roll-up of every profile whose refusal changed. */
  #setCredentialRefusals(next: Map<string, CredentialsRefusal>): void {
    const before = this.#credentialRefusals;
    this.#credentialRefusals = next;
    for (const name of new Set([...before.keys(), ...next.keys()]))
      if (JSON.stringify(before.get(name)) !== JSON.stringify(next.get(name)))
        this.queue.add(profileKey(name));
  }

  async #reconcileNodeMonitors(): Promise<void> {
    const checked = this.#validProfiles().filter((p) => this.#checkAlone(p).ok);
    const sources = this.#credentialSources(checked);
    const fit = fitCredentials(checked, sources, this.#credentialsName);
    const refusals = new Map(fit.refused);
    // The Secret first: a NodeMonitor naming a new sink's credentials must not reach an agent before they
    // exist. A failed write holds back only the profiles whose credentials the stored Secret lacks.
    const credentialsError = await this.#syncCredentials(fit.admitted, sources).then(
      () => undefined,
      (err: unknown) => err,
    );
    if (credentialsError !== undefined) {
      for (const [name, refusal] of this.#heldBack(fit.admitted, sources, credentialsError))
        refusals.set(name, refusal);
    }
    this.#setCredentialRefusals(refusals);
    const accepted = fit.admitted.filter((p) => !refusals.has(p.metadata.name));
    const next = new Map<string, ProfileInput>(
      accepted.map((p) => [
        p.metadata.name,
        {
          name: p.metadata.name,
          ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
          generation: p.metadata.generation ?? 1,
          spec: p.spec,
          ...(p.metadata.creationTimestamp ? { created: String(p.metadata.creationTimestamp) } : {}),
        },
      ]),
    );
    // Only the nodes whose NodeMonitor may differ: those a changed profile selected or selects now, and those
    // whose labels or uid changed. The first pass after becoming leader renders every node.
    const previous = this.#renderedProfiles;
    let dirty: Set<string>;
    if (previous === undefined) dirty = new Set(this.#nodes.cache.keys());
    else {
      dirty = this.#dirtyNodes;
      const changed = changedProfiles(previous, next);
      if (changed.length > 0)
        for (const [name, n] of this.#nodes.cache)
          if (changed.some((p) => matchesSelector(p.spec.nodeSelector, n.metadata.labels ?? {})))
            dirty.add(name);
    }
    this.#dirtyNodes = new Set();
    this.#renderedProfiles = next;
    // Agents run a generation once the profile's status accepts it, and the roll-up accepts it only after this
    // pass (the credentials Secret is in step): each new generation gets its roll-up now. No NodeMonitor event
    // would bring it, since a spec edit writes none.
    for (const [name, p] of next)
      if (previous?.get(name)?.generation !== p.generation) this.queue.add(profileKey(name));
    const profiles = [...next.values()];
    // A node whose write fails is rendered again on the retry, whatever changes meanwhile.
    const failed = new Set<string>();
    // A change to a fleet-wide profile rewrites every node's NodeMonitor: one at a time, the last node of 5000
    // would wait the sum of 5000 round trips.
    await forEachLimit(dirty, CONCURRENT_WRITES, (name) =>
      this.#syncNodeMonitor(name, profiles).catch((err: unknown) => {
        failed.add(name);
        throw err;
      }),
    ).finally(() => {
      for (const name of failed) this.#dirtyNodes.add(name);
    });
    // Requeued with backoff: the Secret write is retried, while the NodeMonitors above are already out.
    if (credentialsError !== undefined) throw credentialsError;
  }

  /**
   * Brings one node's NodeMonitor in line with the accepted profiles: applied when its configHash or owner
   * uid differs from the stored one, deleted when no profile selects the node any more. A node absent from
   * the cache is left alone: its NodeMonitor is the garbage collector's, which owns it through the owner
   * reference (deleting it here would also delete it when the node is only being re-created).
   */
  async #syncNodeMonitor(name: string, profiles: readonly ProfileInput[]): Promise<void> {
    const node = this.#nodes.cache.get(name);
    if (!node) return;
    this.stats.rendered++;
    const nm = desiredNodeMonitor(profiles, {
      name,
      uid: node.metadata.uid ?? "",
      labels: node.metadata.labels ?? {},
    });
    const stored = this.#monitorsView.get(name) as unknown as NodeMonitor | undefined;
    if (nm) {
      // A node deleted and re-created under the same name has a new uid: the NodeMonitor must follow it
      // before the garbage collector, which compares owner uids, takes it for an orphan.
      if (
        stored?.spec?.configHash === nm.spec.configHash &&
        ownerUid(stored.metadata) === ownerUid(nm.metadata as NodeMonitor["metadata"])
      )
        return;
      const written = await serverSideApply(this.#opts.kubeConfig, nm as never, {
        fieldManager: this.#fieldManager,
        force: true,
      });
      this.#monitorsView.mutated(name, nodeMonitorForCache(written as unknown as Obj));
      this.stats.writes++;
      return;
    }
    if (stored?.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) return;
    const gone = (await this.#custom
      .deleteClusterCustomObject({ group: "vesmon.io", version: "v1alpha1", plural: "nodemonitors", name })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
        return undefined;
      })) as KubeObject | undefined;
    this.#monitorsView.deleted(name, gone?.metadata?.resourceVersion);
    this.stats.writes++;
  }

  /** After a failed Secret write: the admitted profiles whose credentials the stored Secret does not hold. */
  #heldBack(
    admitted: MonitoringProfile[],
    sources: ReadonlyMap<string, SecretSource>,
    err: unknown,
  ): Map<string, CredentialsRefusal> {
    const stored = this.#secretsView.get(`${this.#opts.namespace}/${this.#credentialsName}`)?.data ?? {};
    const out = new Map<string, CredentialsRefusal>();
    for (const p of admitted) {
      const missing = [...referencedSecrets([p])].filter((s) =>
        Object.keys(sources.get(s)?.data ?? {}).some((k) => stored[credentialsKey(s, k)] === undefined),
      );
      if (missing.length === 0) continue;
      out.set(p.metadata.name, {
        reason: OperatorReason.CredentialsNotWritten,
        message: `the managed credentials Secret "${this.#credentialsName}" could not be written (${(err as Error)?.message ?? String(err)}) and lacks the keys of ${missing.map((s) => `"${s}"`).join(", ")}`,
      });
    }
    return out;
  }

  async #syncCredentials(
    profiles: MonitoringProfile[],
    sources: ReadonlyMap<string, SecretSource>,
  ): Promise<void> {
    const ns = this.#opts.namespace;
    const secret = renderCredentialsSecret(ns, this.#credentialsName, sources, referencedSecrets(profiles));
    const current = this.#secretsView.get(`${ns}/${this.#credentialsName}`);
    const hash = secret.metadata.annotations?.[CREDENTIALS_HASH_ANNOTATION];
    if (current && current.metadata.annotations?.[CREDENTIALS_HASH_ANNOTATION] === hash) return;
    try {
      const stored = await serverSideApply(this.#opts.kubeConfig, secret as never, {
        fieldManager: this.#fieldManager,
        force: true,
      });
      this.#secretsView.mutated(
        `${ns}/${this.#credentialsName}`,
        withoutManagedFields(stored as unknown as Secret),
      );
    } catch (err) {
      if (!this.#credentialsFailing)
        this.#opts.log.warn(
          { secret: this.#credentialsName, err: (err as Error)?.message ?? String(err) },
          "cannot write the managed credentials Secret; profiles whose credentials it lacks are held back",
        );
      this.#credentialsFailing = true;
      throw err;
    }
    if (this.#credentialsFailing)
      this.#opts.log.info({ secret: this.#credentialsName }, "managed credentials Secret written again");
    this.#credentialsFailing = false;
    this.stats.writes++;
  }

  async #reconcileProfile(name: string): Promise<void> {
    const raw = this.#profilesView.get(name);
    if (!raw) return;
    const r = validateMonitoringProfile(raw);
    if (!r.ok) return;
    const profile: MonitoringProfile = {
      ...r.value,
      metadata: raw.metadata as MonitoringProfile["metadata"],
    };
    const accepted = this.#check(profile);
    // Accepted=True at a generation is what lets agents run it: not before the render pass has taken this
    // generation in and written the credentials Secret it needs. That pass queues this roll-up again.
    if (accepted.ok && this.#renderedProfiles?.get(name)?.generation !== (profile.metadata.generation ?? 1))
      return;
    const selected = this.#selected(name, profile);
    const monitors = new Map<string, NodeMonitor>();
    for (const node of selected) {
      const nm = this.#monitorsView.get(node);
      if (nm) monitors.set(node, nm as unknown as NodeMonitor);
    }
    const previous = (raw as { status?: MonitoringProfileStatus }).status;
    const status = rollUpStatus(profile, {
      selectedNodes: selected,
      nodeMonitors: monitors,
      accepted,
      ...(previous ? { previous } : {}),
      now: new Date(this.#opts.timers.now()),
    });
    // Compared in canonical form: the API server hands objects back with their keys in its own order.
    if (previous && canonicalJson(status) === canonicalJson(previous)) return;
    const written = await patchStatus(
      this.#opts.kubeConfig,
      { group: "vesmon.io", version: "v1alpha1", plural: "monitoringprofiles", name },
      status,
    );
    this.#profilesView.mutated(name, withoutManagedFields(written as unknown as Obj));
    this.stats.writes++;
    this.#notify(profile, previous, status);
  }

  /** The names of the nodes a profile selects, sorted; selected anew only when its selector or the nodes changed. */
  #selected(name: string, profile: MonitoringProfile): string[] {
    const key = `${this.#nodesVersion}/${canonicalJson(profile.spec.nodeSelector ?? null)}`;
    const known = this.#selections.get(name);
    if (known?.key === key) return known.nodes;
    const nodes = [...this.#nodes.cache.values()].map((n) => ({
      name: n.metadata.name,
      uid: n.metadata.uid ?? "",
      labels: n.metadata.labels ?? {},
    }));
    const selected = [
      ...selectNodes(
        [{ name, generation: profile.metadata.generation ?? 1, spec: profile.spec }],
        nodes,
      ).keys(),
    ].sort();
    this.#selections.set(name, { key, nodes: selected });
    return selected;
  }

  #notify(
    profile: MonitoringProfile,
    before: MonitoringProfileStatus | undefined,
    after: MonitoringProfileStatus,
  ): void {
    const report = this.#opts.onTransition;
    if (!report) return;
    for (const type of ["Accepted", "Ready", "Degraded"]) {
      const was = findCondition(before?.conditions as never, type);
      const now = findCondition(after.conditions as never, type);
      if (!now || was?.status === now.status) continue;
      const bad = (type === "Degraded") === (now.status === "True");
      report(profile, bad ? "Warning" : "Normal", now.reason, now.message);
    }
  }
}
