import type { ServerResponse } from "node:http";
import { apiVersionOf, type ResourceType } from "./registry.ts";
import type { Matcher } from "./selectors.ts";
import type { Store, StoreEvent } from "./store.ts";
import { failure, type K8sObject } from "./types.ts";

/** What a watch request asked for. */
export interface WatchRequest {
  rt: ResourceType;
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
  readonly #open = new Set<ServerResponse>();

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
    for (const res of this.#open) res.end();
    this.#open.clear();
  }

  serve(res: ServerResponse, w: WatchRequest): void {
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
    const send = (type: string, object: unknown) => {
      if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const selected = (o: K8sObject | undefined) =>
      o !== undefined &&
      (!rt.namespaced || w.namespace === undefined || o.metadata.namespace === w.namespace) &&
      w.matches(o);
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

    if (from === undefined) {
      for (const o of this.#store.list(rt, w.namespace)) if (selected(o)) send("ADDED", o);
    } else {
      const events = this.#store.eventsSince(from);
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

    const unsubscribe = this.#store.subscribe(deliver);
    this.#open.add(res);
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
