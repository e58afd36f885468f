import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { NodeMonitor } from "../../api/v1alpha1/types.ts";
import { validateNodeMonitor } from "../../api/v1alpha1/validators.ts";
import { formatFieldErrors } from "../../api/validate.ts";
import { clusterCustomObjectLister, type KubeObject, Reflector } from "../../kube/reflector.ts";
import type { Timers } from "../../kube/timers.ts";
import type { PipelineProfile } from "../pipeline/profile-pipeline.ts";

/** The NodeMonitor's desired configuration, or why it cannot be run. */
export type NodeMonitorConfig =
  | {
      ok: true;
      generation: number;
      configHash: string;
      profiles: PipelineProfile[];
      /** Profiles that select the node but did not fit in its NodeMonitor (reported in Degraded). */
      omittedProfiles?: string[];
    }
  | { ok: false; generation: number; configHash?: string; message: string };

/** Settings of the cluster configuration source. */
export interface NodeMonitorSourceOptions {
  kubeConfig: KubeConfig;
  /** This node's name, which is also its NodeMonitor's name. */
  nodeName: string;
  timers?: Timers;
  log?: Logger;
  watchdogMs?: number;
}

const GROUP = "vesmon.io";
const VERSION = "v1alpha1";
const PLURAL = "nodemonitors";

/**
 * The agent's configuration in a cluster: its own NodeMonitor (named after the node), kept in step by a
 * reflector (list+watch with resourceVersion, bookmarks, 410 relist, backoff). A new spec generation is
 * validated and handed over; status-only changes (the agent's own writes) are not. A deleted NodeMonitor
 * means no profile selects the node: an empty configuration.
 */
export class NodeMonitorSource {
  readonly #opts: NodeMonitorSourceOptions;
  readonly #reflector: Reflector<KubeObject & { metadata: { generation?: number } }>;
  #lastGeneration: number | undefined;

  constructor(opts: NodeMonitorSourceOptions) {
    this.#opts = opts;
    const fieldSelector = `metadata.name=${opts.nodeName}`;
    this.#reflector = new Reflector({
      kubeConfig: opts.kubeConfig,
      path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      fieldSelector,
      list: clusterCustomObjectLister(opts.kubeConfig, {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        fieldSelector,
      }),
      ...(opts.timers ? { timers: opts.timers } : {}),
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.watchdogMs ? { watchdogMs: opts.watchdogMs } : {}),
    });
  }

  /** Starts watching; `onConfig` gets each new spec generation (and an empty one when the object goes away). */
  start(onConfig: (c: NodeMonitorConfig) => void): void {
    // A node no profile selects has no NodeMonitor: after the first list that is an empty configuration,
    // so the agent still becomes ready (and runs nothing) instead of waiting for an event that never comes.
    void this.#reflector.synced.then(() => {
      if (this.#lastGeneration === undefined && !this.#reflector.cache.has(this.#opts.nodeName))
        onConfig({ ok: true, generation: 0, configHash: "", profiles: [] });
    });
    this.#reflector.start((e) => {
      if (e.object.metadata.name !== this.#opts.nodeName) return;
      if (e.type === "DELETED") {
        this.#lastGeneration = undefined;
        onConfig({ ok: true, generation: 0, configHash: "", profiles: [] });
        return;
      }
      const generation = e.object.metadata.generation ?? 0;
      if (generation === this.#lastGeneration) return;
      this.#lastGeneration = generation;
      onConfig(toConfig(e.object, generation));
    });
  }

  /** Resolves after the first list. */
  get synced(): Promise<void> {
    return this.#reflector.synced;
  }

  /** The NodeMonitor as last seen (for its generation and configHash). */
  current(): unknown {
    return this.#reflector.cache.get(this.#opts.nodeName);
  }

  stop(): void {
    this.#reflector.stop();
  }
}

/** Validates a NodeMonitor and turns its profiles into what the agent runs. */
export function toConfig(raw: unknown, generation: number): NodeMonitorConfig {
  const r = validateNodeMonitor(raw);
  if (!r.ok) return { ok: false, generation, message: formatFieldErrors(r.errors) };
  const nm: NodeMonitor = r.value;
  return {
    ok: true,
    generation,
    configHash: nm.spec.configHash,
    profiles: (nm.spec.profiles ?? []).map((p) => ({ name: p.name, generation: p.generation, spec: p.spec })),
    ...(nm.spec.omittedProfiles?.length ? { omittedProfiles: nm.spec.omittedProfiles } : {}),
  };
}
