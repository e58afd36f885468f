import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { MonitoringProfile, MonitoringProfileStatus, NodeMonitor } from "../api/v1alpha1/types.ts";
import { validateMonitoringProfile } from "../api/v1alpha1/validators.ts";
import { isNotFound, patchStatus, serverSideApply } from "../kube/apply.ts";
import { forEachLimit } from "../kube/concurrency.ts";
import { findCondition } from "../kube/conditions.ts";
import { clusterCustomObjectLister, type KubeObject, type ListResult, Reflector } from "../kube/reflector.ts";
import type { Timers } from "../kube/timers.ts";
import { WorkQueue } from "../kube/work-queue.ts";
import { CREDENTIALS_HASH_ANNOTATION, referencedSecrets, renderCredentialsSecret } from "./credentials.ts";
import { canonicalJson, desiredNodeMonitors, MANAGED_BY, MANAGED_BY_LABEL, selectNodes } from "./render.ts";
import { rollUpStatus } from "./rollup.ts";
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
type Secret = Obj & { data?: Record<string, string>; metadata: { annotations?: Record<string, string> } };
type Node = Obj & { metadata: { uid?: string; labels?: Record<string, string> } };

const NODES_KEY = "nodemonitors";
/** NodeMonitor writes in flight at once: a fleet-wide change goes out in parallel, without flooding the server. */
const CONCURRENT_WRITES = 8;
/** How long a profile's roll-up waits after a NodeMonitor event, so a burst of them folds into one. */
const ROLLUP_DELAY_MS = 500;
const profileKey = (name: string) => `profile/${name}`;

/** Counters the controller keeps, for /metrics. */
export interface ControllerStats {
  reconciles: Record<string, number>;
  errors: number;
  writes: number;
  /** Summed reconcile time per kind, seconds (with `reconciles` it gives the mean). */
  seconds: Record<string, number>;
}

/**
 * The operator's reconcilers. One key renders every NodeMonitor from the accepted profiles and the nodes
 * (applied with server-side apply only when its config hash changed; stale ones deleted) and keeps the
 * managed credentials Secret in step; one key per profile rolls the NodeMonitor statuses up into the
 * profile's status. Informers feed a rate-limited work queue; only the leader runs it.
 */
export class Controller {
  readonly #opts: ControllerOptions;
  readonly queue: WorkQueue<string>;
  readonly #profiles: Reflector<Obj>;
  readonly #nodes: Reflector<Node>;
  readonly #monitors: Reflector<Obj>;
  readonly #secrets: Reflector<Secret>;
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;
  readonly stats: ControllerStats = { reconciles: {}, errors: 0, writes: 0, seconds: {} };
  #running: Promise<void> | undefined;
  /** Each profile's generation the NodeMonitors were last queued for. */
  readonly #renderedGenerations = new Map<string, number | undefined>();

  constructor(opts: ControllerOptions) {
    this.#opts = opts;
    const kc = opts.kubeConfig;
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.queue = new WorkQueue<string>({ timers: opts.timers, name: "operator" });
    const customList = (plural: string) =>
      clusterCustomObjectLister<Obj>(kc, { group: "vesmon.io", version: "v1alpha1", plural });
    const reflector = <T extends KubeObject>(path: string, list: () => Promise<ListResult<T>>) =>
      new Reflector<T>({ kubeConfig: kc, path, list, timers: opts.timers, log: opts.log });
    this.#profiles = reflector(
      "/apis/vesmon.io/v1alpha1/monitoringprofiles",
      customList("monitoringprofiles"),
    );
    this.#monitors = reflector("/apis/vesmon.io/v1alpha1/nodemonitors", customList("nodemonitors"));
    this.#nodes = reflector<Node>("/api/v1/nodes", async () => {
      const r = await this.#core.listNode();
      return { items: r.items as unknown as Node[], resourceVersion: r.metadata?.resourceVersion ?? "" };
    });
    this.#secrets = reflector<Secret>(`/api/v1/namespaces/${opts.namespace}/secrets`, async () => {
      const r = await this.#core.listNamespacedSecret({ namespace: opts.namespace });
      return { items: r.items as unknown as Secret[], resourceVersion: r.metadata?.resourceVersion ?? "" };
    });
  }

  /** Starts the informers; resolves once each has listed. */
  async start(): Promise<void> {
    const all = () => {
      this.queue.add(NODES_KEY);
      for (const name of this.#profiles.cache.keys()) this.queue.add(profileKey(name));
    };
    this.#profiles.start((e) => {
      const { name, generation } = e.object.metadata as { name: string; generation?: number };
      // NodeMonitors render the spec only: a status write (the operator's own roll-ups) changes none of them.
      const seen = this.#renderedGenerations;
      if (e.type === "DELETED") {
        seen.delete(name);
        this.queue.add(NODES_KEY);
      } else if (!seen.has(name) || seen.get(name) !== generation) {
        seen.set(name, generation);
        this.queue.add(NODES_KEY);
      }
      this.queue.add(profileKey(name));
    });
    this.#nodes.start(() => this.queue.add(NODES_KEY));
    this.#monitors.start((e) => {
      const nm = e.object as unknown as NodeMonitor;
      if (e.type === "DELETED") this.queue.add(NODES_KEY);
      // A rollout moves thousands of NodeMonitors, each naming up to 16 profiles: a roll-up per event would
      // cost O(nodes²). Delayed, the events of a burst fold into one roll-up per profile and delay.
      for (const p of [...(nm.spec?.profiles ?? []), ...(nm.status?.profiles ?? [])])
        this.queue.addAfter(profileKey(p.name), ROLLUP_DELAY_MS);
    });
    this.#secrets.start((e) => {
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
    this.queue.add(NODES_KEY);
    for (const name of this.#profiles.cache.keys()) this.queue.add(profileKey(name));
    this.#running = this.queue.run(concurrency, (key) => this.#reconcile(key));
    return this.#running;
  }

  async stop(): Promise<void> {
    for (const r of [this.#profiles, this.#nodes, this.#monitors, this.#secrets]) r.stop();
    await this.queue.shutDown();
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
    for (const raw of this.#profiles.cache.values()) {
      const r = validateMonitoringProfile(raw);
      if (r.ok) out.push({ ...r.value, metadata: raw.metadata as MonitoringProfile["metadata"] });
    }
    return out.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  #check(p: MonitoringProfile) {
    return checkProfile(p, {
      secretExists: (name) => this.#secrets.cache.has(`${this.#opts.namespace}/${name}`),
      secretKeys: (name) => {
        const s = this.#secrets.cache.get(`${this.#opts.namespace}/${name}`);
        return s ? Object.keys(s.data ?? {}) : undefined;
      },
    });
  }

  async #reconcileNodeMonitors(): Promise<void> {
    const accepted = this.#validProfiles().filter((p) => this.#check(p).ok);
    const nodes = [...this.#nodes.cache.values()].map((n) => ({
      name: n.metadata.name,
      uid: n.metadata.uid ?? "",
      labels: n.metadata.labels ?? {},
    }));
    const desired = desiredNodeMonitors(
      accepted.map((p) => ({ name: p.metadata.name, generation: p.metadata.generation ?? 1, spec: p.spec })),
      nodes,
    );
    // The Secret first: a NodeMonitor naming a new sink's credentials must not reach an agent before they exist.
    await this.#syncCredentials(accepted);
    const wanted = new Set(desired.map((d) => d.metadata.name));
    const changed = desired.filter(
      (nm) =>
        (this.#monitors.cache.get(nm.metadata.name) as unknown as NodeMonitor | undefined)?.spec
          ?.configHash !== nm.spec.configHash,
    );
    // A change to a fleet-wide profile rewrites every node's NodeMonitor: one at a time, the last node of 5000
    // would wait the sum of 5000 round trips.
    await forEachLimit(changed, CONCURRENT_WRITES, async (nm) => {
      await serverSideApply(this.#opts.kubeConfig, nm as never, {
        fieldManager: this.#fieldManager,
        force: true,
      });
      this.stats.writes++;
    });
    const orphans = [...this.#monitors.cache]
      .filter(([name, raw]) => {
        const labels = (raw.metadata as { labels?: Record<string, string> }).labels ?? {};
        return !wanted.has(name) && labels[MANAGED_BY_LABEL] === MANAGED_BY;
      })
      .map(([name]) => name);
    await forEachLimit(orphans, CONCURRENT_WRITES, async (name) => {
      await this.#custom
        .deleteClusterCustomObject({ group: "vesmon.io", version: "v1alpha1", plural: "nodemonitors", name })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      this.stats.writes++;
    });
  }

  async #syncCredentials(profiles: MonitoringProfile[]): Promise<void> {
    const ns = this.#opts.namespace;
    const sources = new Map<string, { data: Record<string, string> }>();
    for (const name of referencedSecrets(profiles)) {
      const s = this.#secrets.cache.get(`${ns}/${name}`);
      if (s) sources.set(name, { data: s.data ?? {} });
    }
    const secret = renderCredentialsSecret(ns, this.#credentialsName, sources, referencedSecrets(profiles));
    const current = this.#secrets.cache.get(`${ns}/${this.#credentialsName}`);
    const hash = secret.metadata.annotations?.[CREDENTIALS_HASH_ANNOTATION];
    if (current && current.metadata.annotations?.[CREDENTIALS_HASH_ANNOTATION] === hash) return;
    await serverSideApply(this.#opts.kubeConfig, secret as never, {
      fieldManager: this.#fieldManager,
      force: true,
    });
    this.stats.writes++;
  }

  async #reconcileProfile(name: string): Promise<void> {
    const raw = this.#profiles.cache.get(name);
    if (!raw) return;
    const r = validateMonitoringProfile(raw);
    if (!r.ok) return;
    const profile: MonitoringProfile = {
      ...r.value,
      metadata: raw.metadata as MonitoringProfile["metadata"],
    };
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
    const monitors = new Map<string, NodeMonitor>();
    for (const node of selected) {
      const nm = this.#monitors.cache.get(node);
      if (nm) monitors.set(node, nm as unknown as NodeMonitor);
    }
    const previous = (raw as { status?: MonitoringProfileStatus }).status;
    const status = rollUpStatus(profile, {
      selectedNodes: selected,
      nodeMonitors: monitors,
      accepted: this.#check(profile),
      ...(previous ? { previous } : {}),
      now: new Date(this.#opts.timers.now()),
    });
    // Compared in canonical form: the API server hands objects back with their keys in its own order.
    if (previous && canonicalJson(status) === canonicalJson(previous)) return;
    await patchStatus(
      this.#opts.kubeConfig,
      { group: "vesmon.io", version: "v1alpha1", plural: "monitoringprofiles", name },
      status,
    );
    this.stats.writes++;
    this.#notify(profile, previous, status);
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
