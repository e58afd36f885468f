import type { ServerResponse } from "node:http";
import { asPartialObjectMetadata } from "./metadata.ts";
import { apiVersionOf, type ResourceType } from "./registry.ts";
import type { Matcher } from "./selectors.ts";
import type { Store, StoreEvent } from "./store.ts";
import { failure, type K8sObject, type Status } from "./types.ts";

/** A watch failure to inject: the Status sent as an in-stream ERROR event, for watches whose path matches. */
export interface InjectedWatchError {
  pattern: RegExp;
  status: Status;
  remaining: number;
}

/** What a watch request asked for. */
export interface WatchRequest {
  rt: ResourceType;
  /** Send each object as PartialObjectMetadata (the request accepted `as=PartialObjectMetadata`). */
  metadataOnly?: boolean;
  /** undefined: every namespace (or a cluster-scoped kind). */
  namespace: string | undefined;
  matches: Matcher;
  resourceVersion: string | undefined;
  bookmarks: boolean;
  timeoutSeconds: number | undefined;
}

/**
 * Serves watch streams: NDJSON events, one chunk per event. A watch from no RV (or "0") starts with a
 * synthetic ADDED per current object; one from an RV replays the retained history after it, or gets an
 * in-stream 410 Expired and is closed when that history is gone. Selector transitions become ADDED/DELETED,
 * as the API server's watch cache does.
 */
export class WatchHub {
  readonly #store: Store;
  readonly #bookmarkIntervalMs: number;
  readonly #open = new Map<ServerResponse, string>();
  readonly #injected: InjectedWatchError[] = [];
  /** Delay of live events on every stream: the API server's watch cache lags etcd. */
  delayMs = 0;

  constructor(store: Store, bookmarkIntervalMs: number) {
    this.#store = store;
    this.#bookmarkIntervalMs = bookmarkIntervalMs;
  }

  /** Open watch streams. */
  get size(): number {
    return this.#open.size;
  }

  /** Ends every open stream cleanly; clients see the end of the response and must watch again. */
  cutAll(): void {
    for (const res of this.#open.keys()) res.end();
    this.#open.clear();
  }

  /**
   * Ends every open stream whose path matches with an ERROR event carrying `status`, as the API server does
   * when its watch fails (an etcd timeout, a watch cache error).
   */
  errorAll(status: Status, pattern = /./): void {
    for (const [res, path] of this.#open) {
      if (!pattern.test(path)) continue;
      res.write(`${JSON.stringify({ type: "ERROR", object: status })}\n`);
      res.end();
      this.#open.delete(res);
    }
  }

  /** Forgets the injected watch errors not yet used. */
  clearInjectedErrors(): void {
    this.#injected.length = 0;
  }

  /** The next `times` watches on a matching path get an ERROR event with `status` right after their headers. */
  injectErrors(pattern: RegExp, status: Status, times: number): void {
    this.#injected.push({ pattern, status, remaining: times });
  }

  serve(res: ServerResponse, path: string, w: WatchRequest): void {
    const { rt } = w;
    let from: number | undefined;
    if (w.resourceVersion && w.resourceVersion !== "0") {
      from = Number(w.resourceVersion);
      if (!Number.isInteger(from) || from < 0) {
        throw failure(400, "BadRequest", `invalid resource version: ${JSON.stringify(w.resourceVersion)}`);
      }
    }
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    const send = (type: string, o: unknown) => {
      // Status objects (ERROR events) go out as they are, as kube-apiserver's transform leaves them.
      const object = w.metadataOnly && type !== "ERROR" ? asPartialObjectMetadata(o as K8sObject) : o;
      if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const selected = (o: K8sObject | undefined) =>
      o !== undefined &&
      (!rt.namespaced || w.namespace === undefined || o.metadata.namespace === w.namespace) &&
      w.matches(o);
    const injected = this.#injected.find((i) => i.remaining > 0 && i.pattern.test(path));
    if (injected) {
      injected.remaining--;
      send("ERROR", injected.status);
      res.end();
      return;
    }
    const deliver = (e: StoreEvent) => {
      if (e.rt !== rt) return;
      const now = selected(e.object);
      const before = selected(e.old);
      if (e.type === "ADDED") {
        if (now) send("ADDED", e.object);
      } else if (e.type === "DELETED") {
        if (now || before) send("DELETED", e.object);
      } else if (now) send(before ? "MODIFIED" : "ADDED", e.object);
      else if (before) send("DELETED", e.object);
    };

    if (from !== undefined && from > Number(this.#store.resourceVersion)) {
      // The watch cache has not seen this RV (a restored etcd, a lagging replica): the API server gives up
      // with a 504 whose cause says so, and clients must relist.
      send("ERROR", tooLargeResourceVersion(from, this.#store.resourceVersion).status);
      res.end();
      return;
    }
    if (from === undefined) {
      for (const o of this.#store.list(rt, w.namespace, selected)) send("ADDED", o);
    } else {
      const events = this.#store.eventsSince(from, rt);
      if (!events) {
        const status = failure(
          410,
          "Expired",
          `too old resource version: ${from} (${this.#store.resourceVersion})`,
        );
        send("ERROR", status.status);
        res.end();
        return;
      }
      for (const e of events) deliver(e);
    }

    const unsubscribe = this.#store.subscribe((e) => {
      if (this.delayMs > 0) setTimeout(() => deliver(e), this.delayMs).unref();
      else deliver(e);
    });
    this.#open.set(res, path);
    const timers: NodeJS.Timeout[] = [];
    if (w.bookmarks) {
      timers.push(
        setInterval(() => {
          send("BOOKMARK", {
            kind: rt.kind,
            apiVersion: apiVersionOf(rt),
            metadata: { resourceVersion: this.#store.resourceVersion },
          });
        }, this.#bookmarkIntervalMs),
      );
    }
    if (w.timeoutSeconds !== undefined && w.timeoutSeconds > 0) {
      timers.push(setTimeout(() => res.end(), w.timeoutSeconds * 1000));
    }
    res.on("close", () => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      this.#open.delete(res);
    });
  }
}

/** kube-apiserver's `NewTooLargeResourceVersionError`: 504 Timeout with a `ResourceVersionTooLarge` cause. */
export function tooLargeResourceVersion(requested: number, current: string) {
  return failure(504, "Timeout", `Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
    retryAfterSeconds: 1,
  });
}
