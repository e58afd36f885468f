import type { Logger } from "pino";
import type { KubeApi, KubeWatcher } from "./api.ts";
import { upwardJitterDelay } from "./backoff.ts";
import { realTimers, type Timers } from "./timers.ts";

/** The part of an object a reflector reads. */
export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

/** A change the reflector saw: added, modified or deleted, after a list or from the watch. */
export interface ReflectorEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: T;
  /** For MODIFIED: the object as cached before (client-go's UpdateFunc old object). */
  old?: T;
}

/** What a list returns. */
export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/** Settings of a reflector. */
export interface ReflectorOptions<T> {
  /** Opens the watches: the agent's KubeRestClient, or client-node through clientNodeWatcher. */
  watcher: KubeWatcher;
  /** The collection's path, e.g. `/apis/vesmon.io/v1alpha1/nodemonitors`. */
  path: string;
  /** Lists the collection (with the same selectors as the watch). */
  list: () => Promise<ListResult<T>>;
  fieldSelector?: string;
  labelSelector?: string;
  /**
   * The watch's Accept header, e.g. `application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1` for
   * metadata-only events (the list's is `list`'s own). Defaults to the client's.
   */
  accept?: string;
  /**
   * Applied to every listed and watched object before it is cached or handed on, as client-go's
   * `SetTransform`: drop what no reconcile reads (managedFields, a Node's status) so the cache holds less.
   */
  transform?: (o: T) => T;
  /**
   * Backoff after a failed list or watch: `initial` doubling to `max`, each stretched by up to 100 %.
   * Defaults to 800 ms and 30 s, as client-go's reflector.
   */
  backoff?: { initial?: number; max?: number };
  /** A watch that delivers nothing (not even a bookmark) for this long is restarted. Defaults to 5 min. */
  watchdogMs?: number;
  /** Server-side watch timeout, seconds; each watch picks one between this and twice this. Defaults to 300. */
  timeoutSeconds?: number;
  timers?: Timers;
  random?: () => number;
  log?: Logger;
}

/** A watch ERROR event's object: a metav1.Status. */
interface WatchStatus {
  code?: number;
  reason?: string;
  message?: string;
}

/** Two minutes without a failure reset the backoff, as client-go's reflector backoff manager does. */
const BACKOFF_RESET_MS = 120_000;
/** A watch that ends sooner than this without an event counts as failed (client-go: "very short watch"). */
const SHORT_WATCH_MS = 1000;

const describe = (err: unknown) => (err as Error | null)?.message ?? String(err);

const keyOf = (o: KubeObject) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

/**
 * Keeps a local copy of a collection in step with the API server, as client-go's reflector does: list, then
 * watch from the list's resourceVersion with bookmarks. A watch that ends with an ERROR event (410 Expired,
 * 504 "too large resource version", an etcd timeout, anything), fails to open, or closes within a second
 * without an event is followed by a relist and diff after a backoff (800 ms doubling to 30 s, stretched by
 * up to 100 %, reset after two minutes without a failure), so a failing server sees fewer requests, not more.
 * A clean end resumes from the last resourceVersion at once; a silent watch is restarted by a watchdog. A
 * failure is logged once when it starts and once when a watch delivers again.
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
  /** Failed lists and watches, for metrics. */
  failures = 0;
  /** What is failing, while it fails: a transition is logged, a retry is not. */
  #failing: string | undefined;
  #lastFailureAt = Number.NEGATIVE_INFINITY;

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

  #emit(type: ReflectorEvent<T>["type"], object: T, old?: T): void {
    try {
      this.#handler?.({ type, object, ...(old ? { old } : {}) });
    } catch (err) {
      this.#opts.log?.error({ err: (err as Error).message }, "reflector handler failed");
    }
  }

  /** Relists after a backoff; logs only the transition into failing. */
  #fail(what: "list" | "watch", err: unknown): void {
    if (this.#stopped) return;
    this.failures++;
    const now = this.#timers.now();
    // As client-go's backoff manager: a failure after two quiet minutes starts again from the initial delay.
    if (now - this.#lastFailureAt > BACKOFF_RESET_MS) this.#attempt = 0;
    this.#lastFailureAt = now;
    const delay = upwardJitterDelay(this.#attempt++, {
      initial: this.#opts.backoff?.initial ?? 800,
      max: this.#opts.backoff?.max ?? 30_000,
      ...(this.#opts.random ? { random: this.#opts.random } : {}),
    });
    const fields = { path: this.#opts.path, err: describe(err), delay };
    if (this.#failing === undefined) this.#opts.log?.warn(fields, `${what} failed; backing off`);
    else this.#opts.log?.debug(fields, `${what} failed again`);
    this.#failing = what;
    this.#timer = this.#timers.setTimeout(() => void this.#relist(), delay);
  }

  #recovered(): void {
    if (this.#failing === undefined) return;
    this.#failing = undefined;
    this.#opts.log?.info({ path: this.#opts.path, failures: this.failures }, "list and watch recovered");
  }

  async #relist(): Promise<void> {
    if (this.#stopped) return;
    let listed: ListResult<T>;
    try {
      listed = await this.#opts.list();
    } catch (err) {
      this.#fail("list", err);
      return;
    }
    if (this.#stopped) return;
    this.lists++;
    const seen = new Set<string>();
    for (const raw of listed.items) {
      const item = this.#opts.transform ? this.#opts.transform(raw) : raw;
      const key = keyOf(item);
      seen.add(key);
      const prev = this.#cache.get(key);
      this.#cache.set(key, item);
      if (!prev) this.#emit("ADDED", item);
      else if (prev.metadata.resourceVersion !== item.metadata.resourceVersion)
        this.#emit("MODIFIED", item, prev);
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
    let failed: unknown;
    let delivered = false;
    let ended = false;
    const opened = this.#timers.now();
    const onDone = (err: unknown) => {
      if (ended) return;
      ended = true;
      this.#timers.clearTimeout(this.#watchdog);
      if (this.#stopped) return;
      const aborted = (err as Error | null)?.name === "AbortError";
      if (failed !== undefined) this.#fail("watch", failed);
      else if (err && !aborted) this.#fail("watch", err);
      else if (!aborted && !delivered && this.#timers.now() - opened < SHORT_WATCH_MS) {
        // client-go's "very short watch": a server that closes at once must not be asked again at once.
        this.#fail("watch", new Error("watch closed within a second without an event"));
      } else {
        if (!aborted) this.#recovered();
        void this.#watch();
      }
    };
    try {
      this.#abort = await this.#opts.watcher.watch(
        this.#opts.path,
        query,
        this.#opts.accept,
        (type: string, raw: unknown) => {
          const received = raw as T & WatchStatus;
          this.#armWatchdog();
          if (type === "ERROR") {
            const object = received;
            // A Status: 410 Expired, 504 too large resource version, or a server failure. Every one of them
            // may have lost events, so the cache is rebuilt by a relist.
            failed = new Error(
              `${object.code ?? "?"} ${object.reason ?? ""}: ${object.message ?? ""}`.trim(),
            );
            this.#abort?.abort();
            return;
          }
          delivered = true;
          this.#recovered();
          const object =
            this.#opts.transform && type !== "BOOKMARK" ? this.#opts.transform(received) : received;
          if (object.metadata?.resourceVersion) this.#rv = object.metadata.resourceVersion;
          if (type === "BOOKMARK") return;
          const key = keyOf(object);
          if (type === "DELETED") {
            this.#cache.delete(key);
            this.#emit("DELETED", object);
          } else if (type === "ADDED" || type === "MODIFIED") {
            const old = this.#cache.get(key);
            this.#cache.set(key, object);
            if (old) this.#emit("MODIFIED", object, old);
            else this.#emit("ADDED", object);
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

/**
 * A `list` for a reflector: GETs the collection at `path` with the same selectors as the watch, and with
 * `accept` (e.g. `as=PartialObjectMetadataList` for metadata only) when given.
 */
export function apiLister<T extends KubeObject>(
  api: KubeApi,
  path: string,
  opts: { fieldSelector?: string; labelSelector?: string; accept?: string } = {},
): () => Promise<ListResult<T>> {
  const query = { fieldSelector: opts.fieldSelector, labelSelector: opts.labelSelector };
  return async () => {
    const r = await api.request<{ items?: T[] | null; metadata?: { resourceVersion?: string } }>(
      "GET",
      path,
      {
        query,
        ...(opts.accept ? { accept: opts.accept } : {}),
      },
    );
    return { items: r.items ?? [], resourceVersion: r.metadata?.resourceVersion ?? "" };
  };
}
