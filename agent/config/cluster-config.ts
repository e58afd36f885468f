import type { Reflector } from "../../kube/reflector.ts";
import { realTimers, type Timers } from "../../kube/timers.ts";
import {
  type ClusterSourceOptions,
  nodeMonitorReflector,
  profileReflector,
  type RawNodeMonitor,
} from "./cluster-sources.ts";
import type { NodeMonitorView, SpecResult, ValidationRequest } from "./cluster-validation.ts";
import { combine, type ProfileNote, type RunningProfile, specKey } from "./combine.ts";
import type { IsolatedOutcome } from "./isolated-validator.ts";
import { type AgentProfile, verdictOf } from "./profile-view.ts";

/** The node's desired configuration, or why its NodeMonitor cannot be run. */
export type ClusterConfig =
  | {
      ok: true;
      /** The NodeMonitor's metadata.generation (0 without one). */
      generation: number;
      configHash: string;
      profiles: RunningProfile[];
      /** Named profiles not run at their current generation, and why. */
      notes: ProfileNote[];
      /** Profiles that select the node but did not fit in its NodeMonitor (reported in Degraded). */
      omittedProfiles?: string[];
    }
  | { ok: false; generation: number; message: string };

/** Validates in isolation (IsolatedValidator, or anything answering alike). */
export type Validate = (request: ValidationRequest) => Promise<IsolatedOutcome>;

/** Settings of the cluster configuration. */
export interface ClusterConfigOptions extends ClusterSourceOptions {
  validate: Validate;
  /** Retry delay after the validator failed. Defaults to 5 s. */
  retryMs?: number;
}

const EMPTY: ClusterConfig = { ok: true, generation: 0, configHash: "", profiles: [], notes: [] };

/** Names a NodeMonitor's spec lists, read leniently: validation decides later whether it is acceptable. */
function namesIn(nm: RawNodeMonitor): string[] {
  const profiles = (nm.spec as { profiles?: unknown } | undefined)?.profiles;
  if (!Array.isArray(profiles)) return [];
  return profiles.flatMap((p) => (typeof p?.name === "string" ? [p.name] : []));
}

/**
 * The agent's configuration in a cluster: its NodeMonitor names the profiles that select the node, and each
 * MonitoringProfile (watched cluster-wide) gives its spec at the generation the operator accepted (see
 * combine). A profile edit reaches the agent through the profile's own watch: no NodeMonitor changes. What
 * comes from the server is validated in isolation (the NodeMonitor once per generation, a spec once per uid
 * and generation) before it is run. A deleted NodeMonitor means no profile selects the node: an empty
 * configuration. Changes are handed on only when what runs, or what is reported about it, changes.
 */
export class ClusterConfigSource {
  readonly #opts: ClusterConfigOptions;
  readonly #timers: Timers;
  readonly #monitors: Reflector<RawNodeMonitor>;
  readonly #profiles: Reflector<AgentProfile>;
  #onConfig: ((c: ClusterConfig) => void) | undefined;
  #view: { key: string; view: NodeMonitorView } | undefined;
  #specs = new Map<string, SpecResult>();
  #running = new Map<string, RunningProfile>();
  #emitted: string | undefined;
  #busy = false;
  #again = false;
  #synced = false;
  #retry: unknown;
  #stopped = false;
  /** Whether the last validation failed (the worker could not answer): logged once per transition. */
  #validatorFailing = false;

  constructor(opts: ClusterConfigOptions) {
    this.#opts = opts;
    this.#timers = opts.timers ?? realTimers;
    this.#monitors = nodeMonitorReflector(opts);
    this.#profiles = profileReflector(opts);
  }

  /** Starts watching; `onConfig` gets each new configuration (and an empty one when the node has none). */
  start(onConfig: (c: ClusterConfig) => void): void {
    this.#onConfig = onConfig;
    const changed = () => this.#schedule();
    this.#monitors.start(changed);
    this.#profiles.start(changed);
    // A node no profile selects has no NodeMonitor: after the first lists that is an empty configuration, so
    // the agent still becomes ready (and runs nothing) instead of waiting for an event that never comes.
    void this.synced.then(() => {
      this.#synced = true;
      this.#schedule();
    });
  }

  /** Resolves after the first lists. */
  get synced(): Promise<void> {
    return Promise.all([this.#monitors.synced, this.#profiles.synced]).then(() => undefined);
  }

  /** The NodeMonitor as last seen; undefined when the node has none. */
  current(): RawNodeMonitor | undefined {
    return this.#monitors.cache.get(this.#opts.nodeName);
  }

  /** Failed lists and watches, by resource. */
  get failures(): { nodemonitors: number; monitoringprofiles: number } {
    return { nodemonitors: this.#monitors.failures, monitoringprofiles: this.#profiles.failures };
  }

  stop(): void {
    this.#stopped = true;
    this.#timers.clearTimeout(this.#retry);
    this.#monitors.stop();
    this.#profiles.stop();
  }

  #schedule(): void {
    if (!this.#synced || this.#stopped) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    void this.#update().finally(() => {
      this.#busy = false;
      if (this.#again) {
        this.#again = false;
        this.#schedule();
      }
    });
  }

  async #update(): Promise<void> {
    const nm = this.current();
    if (!nm) {
      this.#view = undefined;
      this.#running = new Map();
      this.#emit(EMPTY);
      return;
    }
    const generation = nm.metadata.generation ?? 0;
    // A NodeMonitor's spec is fixed for one uid and generation: its status (the agent's own writes) is not read.
    const nmKey = `${nm.metadata.uid ?? ""}/${generation}`;
    const request: ValidationRequest = { profiles: [] };
    if (this.#view?.key !== nmKey) request.nodeMonitor = nm;
    const named = new Set(namesIn(nm));
    const wanted = new Set<string>();
    for (const name of named) {
      const p = this.#profiles.cache.get(name);
      if (!p || verdictOf(p) !== "accepted") continue;
      const key = specKey(p);
      wanted.add(key);
      if (!this.#specs.has(key)) request.profiles.push({ key, name, spec: p.spec });
    }
    if (request.nodeMonitor !== undefined || request.profiles.length > 0) {
      const outcome = await this.#opts.validate(request);
      if (this.#stopped) return;
      if (!outcome.ok) {
        if (!this.#validatorFailing)
          this.#opts.log?.error(
            { err: outcome.message },
            "cannot validate the configuration; the running one stays, retrying",
          );
        this.#validatorFailing = true;
        this.#retry = this.#timers.setTimeout(() => this.#schedule(), this.#opts.retryMs ?? 5000);
        return;
      }
      if (this.#validatorFailing) this.#opts.log?.info("configuration validated again");
      this.#validatorFailing = false;
      if (outcome.result.nodeMonitor) this.#view = { key: nmKey, view: outcome.result.nodeMonitor };
      for (const [key, r] of Object.entries(outcome.result.profiles)) this.#specs.set(key, r);
    }
    // Specs no named profile is at any more are dropped: the cache holds at most one per profile.
    for (const key of this.#specs.keys()) if (!wanted.has(key)) this.#specs.delete(key);
    const view = this.#view?.view;
    if (!view) return;
    if (!view.ok) {
      this.#emit({ ok: false, generation, message: view.message });
      return;
    }
    const { profiles, notes } = combine({
      entries: view.entries,
      profiles: this.#profiles.cache,
      specs: this.#specs,
      running: this.#running,
    });
    this.#running = new Map(profiles.map((p) => [p.name, p]));
    this.#emit({
      ok: true,
      generation,
      configHash: view.configHash,
      profiles,
      notes,
      ...(view.omittedProfiles ? { omittedProfiles: view.omittedProfiles } : {}),
    });
  }

  #emit(config: ClusterConfig): void {
    // What runs is fixed by each profile's name, uid and generation (an embedded spec's by the configHash).
    const fingerprint = JSON.stringify(
      config.ok
        ? {
            g: config.generation,
            h: config.configHash,
            p: config.profiles.map((p) => [p.name, p.uid, p.generation]),
            n: config.notes,
            o: config.omittedProfiles,
          }
        : config,
    );
    if (fingerprint === this.#emitted) return;
    this.#emitted = fingerprint;
    this.#onConfig?.(config);
  }
}
