// The few Kubernetes API calls the reflector and the agent make, as an interface: the agent implements it with
// its own small client (rest-client.ts), the operator with client-node (client-node-api.ts).

/** Query parameters; undefined values are left out. */
export type KubeQuery = Record<string, string | number | boolean | undefined>;

/** Options of one API request. */
export interface KubeRequestOptions {
  query?: KubeQuery;
  /** Sent as JSON (a string is sent as it is). */
  body?: unknown;
  /** The body's media type, e.g. `application/json-patch+json`. Defaults to `application/json`. */
  contentType?: string;
  /** e.g. `application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`. Defaults to `application/json`. */
  accept?: string;
}

/** Receives a watch event: its type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) and object. */
export type WatchEventHandler = (type: string, object: unknown) => void;

/**
 * Called once when a watch ends: `null` for a clean end (the server closed it), an error otherwise; an
 * abort through the returned controller gives an error named `AbortError`.
 */
export type WatchDoneHandler = (err: unknown) => void;

/** Opens watches, as client-node's `Watch` does. */
export interface KubeWatcher {
  /**
   * GETs `path` with `watch=true` and `query`, and hands on each event. Resolves with a controller that stops
   * the watch; a watch that cannot open ends through `onDone`, not by rejecting.
   */
  watch(
    path: string,
    query: KubeQuery,
    accept: string | undefined,
    onEvent: WatchEventHandler,
    onDone: WatchDoneHandler,
  ): Promise<AbortController>;
}

/** The HTTP methods of the API's verbs. */
export type KubeMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Requests and watches against one API server. */
export interface KubeApi extends KubeWatcher {
  /**
   * Sends one request and returns the answer's JSON. A non-2xx answer rejects with an error whose `code` is
   * the HTTP status (as client-node's ApiException), so `apiErrorCode`, `isNotFound` and `isConflict` read it.
   */
  request<T>(method: KubeMethod, path: string, opts?: KubeRequestOptions): Promise<T>;
}
