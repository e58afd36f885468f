import type { Logger } from "pino";
import type { KubeApi } from "../../kube/api.ts";
import { apiLister, type KubeObject, Reflector } from "../../kube/reflector.ts";
import type { Timers } from "../../kube/timers.ts";
import { type AgentProfile, profileForAgent } from "./profile-view.ts";

/** Settings of the cluster sources. */
export interface ClusterSourceOptions {
  /** The agent's API client (KubeRestClient). */
  api: KubeApi;
  /** This node's name, which is also its NodeMonitor's name. */
  nodeName: string;
  timers?: Timers;
  log?: Logger;
  watchdogMs?: number;
}

/** A NodeMonitor as the agent caches it: whatever the server sent, checked later in the validator. */
export type RawNodeMonitor = KubeObject & {
  metadata: { generation?: number; uid?: string };
  spec?: unknown;
};

const GROUP = "vesmon.io";
const VERSION = "v1alpha1";

function reflector<T extends KubeObject>(
  opts: ClusterSourceOptions,
  plural: string,
  extra: { fieldSelector?: string; transform?: (o: T) => T },
): Reflector<T> {
  const path = `/apis/${GROUP}/${VERSION}/${plural}`;
  return new Reflector<T>({
    watcher: opts.api,
    path,
    ...extra,
    list: apiLister<T>(opts.api, path, extra.fieldSelector ? { fieldSelector: extra.fieldSelector } : {}),
    ...(opts.timers ? { timers: opts.timers } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.watchdogMs ? { watchdogMs: opts.watchdogMs } : {}),
  });
}

/**
 * This node's NodeMonitor (named after the node), kept in step by a reflector (list+watch with
 * resourceVersion, bookmarks, 410 relist, backoff) with a field selector on its name.
 */
export function nodeMonitorReflector(opts: ClusterSourceOptions): Reflector<RawNodeMonitor> {
  return reflector<RawNodeMonitor>(opts, "nodemonitors", {
    fieldSelector: `metadata.name=${opts.nodeName}`,
  });
}

/**
 * Every MonitoringProfile (cluster-wide, read-only), each reduced to what an agent reads (profileForAgent):
 * the NodeMonitor names profiles, and a profile's spec at the generation the operator accepted is what runs.
 */
export function profileReflector(opts: ClusterSourceOptions): Reflector<AgentProfile> {
  return reflector<AgentProfile>(opts, "monitoringprofiles", { transform: profileForAgent });
}
