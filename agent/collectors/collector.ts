import type { Logger } from "pino";
import type { CollectorName } from "../../api/v1alpha1/collectors.ts";
import type { CollectorSpec } from "../../api/v1alpha1/types.ts";
import type { HostPaths } from "../host-paths.ts";
import type { CollectResult } from "./sample.ts";

/** What a collector gets from the agent: where the host is, a clock, a logger. */
export interface CollectorEnv {
  paths: HostPaths;
  /** Wall clock in ms since the epoch; injectable for tests. */
  now: () => number;
  log: Logger;
  /** Set when the agent can reach its cluster's API (cluster credentials and NODE_NAME). */
  cluster?: ClusterAccess;
}

/** How a collector reaches the API server of the agent's cluster. */
export interface ClusterAccess {
  nodeName: string;
  /** A kubeconfig file; the pod's service account when absent. */
  kubeconfig?: string;
}

/**
 * A running collector: one read per call. A collector is stateful (rates need the previous read), so one
 * instance serves one job. `collect` rejects only when nothing could be read, with an error naming what
 * is missing (`/proc/diskstats: ENOENT`); partial failures go into the result's `errors`.
 */
export interface Collector {
  readonly name: CollectorName;
  collect(): Promise<CollectResult>;
  /** Frees everything the collector holds (sockets, timers, callbacks). Idempotent. */
  close(): Promise<void>;
}

/** Creates collectors of one kind. `create` may reject (e.g. libvirt unreachable): the job is then Failed. */
export interface CollectorFactory {
  readonly name: CollectorName;
  create(spec: CollectorSpec, env: CollectorEnv): Promise<Collector>;
}

/** Thrown by `collect` when the source is missing altogether; the message names the path or socket. */
export class SourceUnavailableError extends Error {
  override name = "SourceUnavailableError";
}
