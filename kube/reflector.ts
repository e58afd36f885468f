import type { KubeConfig } from "@kubernetes/client-node";
import { CustomObjectsApi, Watch } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type BackoffOptions, backoffDelay } from "./backoff.ts";
import { realTimers, type Timers } from "./timers.ts";

/** The part of an object a reflector reads. */
export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

/** A change the reflector saw: added, modified or deleted, after a list or from the watch. */
export interface ReflectorEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: T;
}

/** What a list returns. */
export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/** Settings of a reflector. */
export interface ReflectorOptions<T> {
  kubeConfig: KubeConfig;
  /** The collection's path, e.g. `/apis/vesmon.io/v1alpha1/nodemonitors`. */
  path: string;
  /** Lists the collection (with the same selectors as the watch). */
  list: () => Promise<ListResult<T>>;
  fieldSelector?: string;
  labelSelector?: string;
  /** Backoff between failed lists or watches. Defaults to 800 ms doubling to 30 s, as client-go's reflector. */
  backoff?: BackoffOptions;
  /** A watch that delivers nothing (not even a bookmark) for this long is restarted. Defaults to 5 min. */
  watchdogMs?: number;
  /** Server-side watch timeout, seconds; each watch picks one between this and twice this. Defaults to 300. */
  timeoutSeconds?: number;
  timers?: Timers;
  random?: () => number;
  log?: Logger;
}

const keyOf = (o: KubeObject) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

/**
 * Keeps a local copy of a collection in step with the API server, as client-go's reflector does: list, then
 * watch from the list's resourceVersion with bookmarks; a 410 (in the stream or as the answer) means relist
 * and diff; a failed list or watch is retried with capped, jittered backoff; a clean end resumes from the
 * last resourceVersion; a silent watch is restarted by a watchdog.
 */
export class Reflector<T extends KubeObject> {
  readonly #opts: ReflectorOptions<T>;
  readonly #timers: Timers;
  readonly #cache = new Map<string, T>();
  #handler: ((e: ReflectorEvent<T>) => void) | undefined;
  #rv = "";
  #attempt = 0;
  #abort: AbortController | undefined;
  #timer: unknown;
  #watchdog: unknown;
  #stopped = false;
  #synced!: () => void;
  /** Resolves after the first successful list. */
  readonly synced = new Promise<void>((r) => {
    this.#synced = r;
  });
  /** Lists done (the first and every relist), for tests and metrics. */
  lists = 0;

  constructor(opts: ReflectorOptions<T>) {
    this.#opts = opts;
    this.#timers = opts.timers ?? realTimers;
  }

  /** Starts listing and watching; `handler` sees every change, starting with ADDED for what the first list finds. */
  start(handler: (e: ReflectorEvent<T>) => void): void {
    this.#handler = handler;
    void this.#relist();
  }

  /** The objects as last seen, by `name` or `namespace/name`. */
  get cache(): ReadonlyMap<string, T> {
    return this.#cache;
  }

  stop(): void {
    this.#stopped = true;
    this.#timers.clearTimeout(this.#timer);
    this.#timers.clearTimeout(this.#watchdog);
    this.#abort?.abort();
  }

  #emit(type: ReflectorEvent<T>["type"], object: T): void {
    try {
      this.#handler?.({ type, object });
    } catch (err) {
      this.#opts.log?.error({ err: (err as Error).message }, "reflector handler failed");
    }
  }

  #retry(what: string, err: unknown, fn: () => void): void {
    if (this.#stopped) return;
    const delay = backoffDelay(this.#attempt++, {
      initial: 800,
      max: 30_000,
      ...this.#opts.backoff,
      ...(this.#opts.random ? { random: this.#opts.random } : {}),
    });
    this.#opts.log?.warn(
      { path: this.#opts.path, err: (err as Error)?.message ?? String(err), delay },
      `${what} failed; retrying`,
    );
    this.#timer = this.#timers.setTimeout(fn, delay);
  }

  async #relist(): Promise<void> {
    if (this.#stopped) return;
    let listed: ListResult<T>;
    try {
      listed = await this.#opts.list();
    } catch (err) {
      this.#retry("list", err, () => void this.#relist());
      return;
    }
    if (this.#stopped) return;
    this.lists++;
    const seen = new Set<string>();
    for (const item of listed.items) {
      const key = keyOf(item);
      seen.add(key);
      const prev = this.#cache.get(key);
      this.#cache.set(key, item);
      if (!prev) this.#emit("ADDED", item);
      else if (prev.metadata.resourceVersion !== item.metadata.resourceVersion) this.#emit("MODIFIED", item);
    }
    for (const [key, prev] of this.#cache)
      if (!seen.has(key)) {
        this.#cache.delete(key);
        this.#emit("DELETED", prev);
      }
    this.#rv = listed.resourceVersion;
    this.#synced();
    await this.#watch();
  }

  #armWatchdog(): void {
    this.#timers.clearTimeout(this.#watchdog);
    this.#watchdog = this.#timers.setTimeout(() => {
      this.#opts.log?.warn({ path: this.#opts.path }, "watch silent for too long; restarting it");
      this.#abort?.abort();
    }, this.#opts.watchdogMs ?? 300_000);
  }

  async #watch(): Promise<void> {
    if (this.#stopped) return;
    const base = this.#opts.timeoutSeconds ?? 300;
    const query: Record<string, string | number | boolean> = {
      allowWatchBookmarks: true,
      resourceVersion: this.#rv,
      timeoutSeconds: Math.round(base * (1 + (this.#opts.random ?? Math.random)())),
    };
    if (this.#opts.fieldSelector) query.fieldSelector = this.#opts.fieldSelector;
    if (this.#opts.labelSelector) query.labelSelector = this.#opts.labelSelector;
    let gone = false;
    let ended = false;
    const onDone = (err: unknown) => {
      if (ended) return;
      ended = true;
      this.#timers.clearTimeout(this.#watchdog);
      if (this.#stopped) return;
      const status = (err as { statusCode?: number; code?: number } | null)?.statusCode;
      if (gone || status === 410) {
        void this.#relist();
        return;
      }
      if (err && (err as Error).name !== "AbortError") this.#retry("watch", err, () => void this.#watch());
      else void this.#watch();
    };
    try {
      this.#abort = await new Watch(this.#opts.kubeConfig).watch(
        this.#opts.path,
        query,
        (type: string, object: T & { code?: number; resourceVersion?: string }) => {
          this.#armWatchdog();
          if (type === "ERROR") {
            // In-stream errors are a Status; 410 Expired means our resourceVersion is too old: relist.
            if (object.code === 410) gone = true;
            else this.#opts.log?.warn({ path: this.#opts.path, status: object }, "watch error event");
            this.#abort?.abort();
            return;
          }
          this.#attempt = 0;
          if (object.metadata?.resourceVersion) this.#rv = object.metadata.resourceVersion;
          if (type === "BOOKMARK") return;
          const key = keyOf(object);
          if (type === "DELETED") {
            this.#cache.delete(key);
            this.#emit("DELETED", object);
          } else if (type === "ADDED" || type === "MODIFIED") {
            const had = this.#cache.has(key);
            this.#cache.set(key, object);
            this.#emit(had ? "MODIFIED" : "ADDED", object);
          }
        },
        onDone,
      );
      this.#armWatchdog();
    } catch (err) {
      onDone(err);
    }
  }
}

/** A `list` for a reflector over a cluster-scoped custom resource, with an optional field selector. */
export function clusterCustomObjectLister<T extends KubeObject>(
  kubeConfig: KubeConfig,
  ref: { group: string; version: string; plural: string; fieldSelector?: string },
): () => Promise<ListResult<T>> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  return async () => {
    const r = (await api.listClusterCustomObject(ref)) as {
      items: T[];
      metadata: { resourceVersion: string };
    };
    return { items: r.items, resourceVersion: r.metadata.resourceVersion };
  };
}
