import type { KubeObject } from "./reflector.ts";
import type { Timers } from "./timers.ts";

/** Settings of a mutation cache. */
export interface MutationCacheOptions {
  timers: Timers;
  /** How long a write is remembered if the informer never catches up with it. Defaults to 30 s. */
  ttlMs?: number;
}

interface Entry<T> {
  /** The object as the write returned it; undefined for a delete. */
  object: T | undefined;
  rv: bigint | undefined;
  at: number;
}

/** A resourceVersion as a number, when it is one (kube-apiserver's are etcd revisions); else undefined. */
function parseRv(rv: string | undefined): bigint | undefined {
  return rv !== undefined && /^\d+$/.test(rv) ? BigInt(rv) : undefined;
}

/**
 * An informer's cache overlaid with this controller's own writes, after client-go's MutationCache: the object
 * a write returned is read back until the informer holds a version at least as new (compared by
 * resourceVersion), or until the TTL passes. A reconcile that runs before the watch has delivered its own
 * write therefore sees that write and does not repeat it. Deletes are remembered the same way.
 */
export class MutationCache<T extends KubeObject> {
  readonly #backing: () => ReadonlyMap<string, T>;
  readonly #timers: Timers;
  readonly #ttlMs: number;
  readonly #writes = new Map<string, Entry<T>>();

  constructor(backing: () => ReadonlyMap<string, T>, opts: MutationCacheOptions) {
    this.#backing = backing;
    this.#timers = opts.timers;
    this.#ttlMs = opts.ttlMs ?? 30_000;
  }

  /** Remembers what a create, update, patch or apply returned. */
  mutated(key: string, object: T): void {
    this.#writes.set(key, { object, rv: parseRv(object.metadata.resourceVersion), at: this.#timers.now() });
  }

  /** Remembers a delete; `rv` is the resourceVersion the delete returned, when it returned one. */
  deleted(key: string, rv?: string): void {
    this.#writes.set(key, { object: undefined, rv: parseRv(rv), at: this.#timers.now() });
  }

  /**
   * Tells the cache what the informer delivered for `key` (including a DELETED event, which carries the
   * deletion's resourceVersion): a remembered write that is not newer is dropped.
   */
  observe(key: string, object: KubeObject): void {
    const write = this.#writes.get(key);
    const rv = parseRv(object.metadata.resourceVersion);
    if (write && (write.rv === undefined || rv === undefined || rv >= write.rv)) this.#writes.delete(key);
  }

  /** The newest known version of the object: the informer's, or this controller's own later write. */
  get(key: string): T | undefined {
    const seen = this.#backing().get(key);
    const write = this.#writes.get(key);
    if (!write) return seen;
    if (this.#timers.now() - write.at > this.#ttlMs) {
      this.#writes.delete(key);
      return seen;
    }
    // Absent from the informer: a create it has not delivered yet, or a delete it has already applied.
    if (!seen) return write.object;
    const seenRv = parseRv(seen.metadata.resourceVersion);
    // Not comparable (as client-go, the informer wins), or the informer caught up: drop the write.
    if (seenRv === undefined || write.rv === undefined || seenRv >= write.rv) {
      this.#writes.delete(key);
      return seen;
    }
    return write.object;
  }

  /** Whether `get(key)` finds an object. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Every object as `get` sees it: the informer's keys and the keys only this controller has written. */
  entries(): [string, T][] {
    const keys = new Set([...this.#backing().keys(), ...this.#writes.keys()]);
    const out: [string, T][] = [];
    for (const key of keys) {
      const obj = this.get(key);
      if (obj) out.push([key, obj]);
    }
    return out;
  }

  /** Writes remembered now (for tests and metrics). */
  get size(): number {
    return this.#writes.size;
  }
}
