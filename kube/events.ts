import {
  CoreV1Api,
  type CoreV1Event,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { isNotFound } from "./apply.ts";
import { realTimers, type Timers } from "./timers.ts";

/** The object an event is about. */
export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  /** Absent for cluster-scoped objects; their events go to `default`. */
  namespace?: string;
}

/** Settings of an event recorder. */
export interface EventRecorderOptions {
  kubeConfig: KubeConfig;
  /** `source.component` and `reportingComponent`, e.g. "vesmon-operator". */
  component: string;
  /** `source.host` and `reportingInstance`, e.g. the pod or node name. */
  host?: string;
  timers?: Timers;
  /** Repeats within this window bump the existing event. Defaults to 10 min, as client-go's correlator. */
  aggregateWindowMs?: number;
  /** Recent events remembered for aggregation (least recently used dropped first). Defaults to 4096. */
  maxKeys?: number;
  log?: Logger;
}

interface Recent {
  name: string;
  namespace: string;
  count: number;
  lastSeen: number;
}

/**
 * Records core v1 Events the way client-go's recorder does: a new Event named `<object>.<hex time>`, and a
 * repeat of the same (object, type, reason, message) within the window bumps that Event's `count` and
 * `lastTimestamp` instead. Writes go one at a time in order; a failure is logged, never thrown.
 */
export class EventRecorder {
  readonly #opts: EventRecorderOptions;
  readonly #api: CoreV1Api;
  readonly #timers: Timers;
  readonly #recent = new Map<string, Recent>();
  #seq = 0;
  #tail: Promise<void> = Promise.resolve();
  /** Events written (created or bumped), for tests and metrics. */
  written = 0;
  /** Writes that failed. */
  failed = 0;

  constructor(opts: EventRecorderOptions) {
    this.#opts = opts;
    this.#api = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.#timers = opts.timers ?? realTimers;
  }

  /** Records an event; the promise resolves once it is written (or has failed) and never rejects. */
  record(
    involvedObject: InvolvedObject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const at = this.#timers.now();
    const seq = this.#seq++;
    this.#tail = this.#tail.then(() => this.#write(involvedObject, type, reason, message, at, seq));
    return this.#tail;
  }

  /** Resolves when every event recorded so far has been written or has failed. */
  flush(): Promise<void> {
    return this.#tail;
  }

  async #write(
    obj: InvolvedObject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
    at: number,
    seq: number,
  ): Promise<void> {
    // kube-apiserver accepts an event about a cluster-scoped object only in "" or "default" (client-go's
    // recorder uses "default"); one about a namespaced object only in that object's namespace.
    const namespace = obj.namespace ?? "default";
    const key = JSON.stringify([
      obj.apiVersion,
      obj.kind,
      namespace,
      obj.name,
      obj.uid,
      type,
      reason,
      message,
    ]);
    const now = new Date(at);
    try {
      const prev = this.#recent.get(key);
      if (prev && at - prev.lastSeen < (this.#opts.aggregateWindowMs ?? 600_000)) {
        try {
          await this.#api.patchNamespacedEvent(
            {
              name: prev.name,
              namespace: prev.namespace,
              body: { count: prev.count + 1, lastTimestamp: now.toISOString() },
            },
            setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
          );
          prev.count++;
          prev.lastSeen = at;
          this.#remember(key, prev);
          this.written++;
          return;
        } catch (err) {
          // The event was deleted or expired (events have a TTL): start a new one.
          if (!isNotFound(err)) throw err;
        }
      }
      // client-go names events after the object and the time in hex; the sequence keeps names unique when
      // the clock has not moved (tests, bursts within a millisecond).
      const name = `${obj.name}.${(BigInt(at) * 1_000_000n + BigInt(seq % 1_000_000)).toString(16)}`;
      const host = this.#opts.host;
      const body: CoreV1Event = {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.name,
          ...(obj.uid ? { uid: obj.uid } : {}),
          ...(obj.namespace ? { namespace: obj.namespace } : {}),
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: this.#opts.component, ...(host ? { host } : {}) },
        reportingComponent: this.#opts.component,
        ...(host ? { reportingInstance: host } : {}),
      };
      await this.#api.createNamespacedEvent({ namespace, body });
      this.#remember(key, { name, namespace, count: 1, lastSeen: at });
      this.written++;
    } catch (err) {
      this.failed++;
      this.#opts.log?.warn(
        { reason, object: `${obj.kind}/${obj.name}`, err: (err as Error)?.message ?? String(err) },
        "cannot record event",
      );
    }
  }

  /** Map order is insertion order: re-inserting marks a key as most recent, the first key is the oldest. */
  #remember(key: string, entry: Recent): void {
    this.#recent.delete(key);
    this.#recent.set(key, entry);
    const max = this.#opts.maxKeys ?? 4096;
    while (this.#recent.size > max) {
      const oldest = this.#recent.keys().next().value;
      if (oldest === undefined) break;
      this.#recent.delete(oldest);
    }
  }

  /** Keys remembered for aggregation, for tests. */
  get remembered(): number {
    return this.#recent.size;
  }
}
