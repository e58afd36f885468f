import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeRestClient } from "../../kube/rest-client.ts";
import { admit } from "./admission-policy.ts";
import { ADMIN, type UserInfo } from "./rbac.ts";
import { defaultResourceTypes, Registry, type ResourceType } from "./registry.ts";
import { handle, type InjectedFailure, REASONS, type RecordedRequest } from "./router.ts";
import { Store } from "./store.ts";
import { failure, type K8sObject } from "./types.ts";
import { WatchHub } from "./watch.ts";

/** Settings of a FakeApiServer. */
export interface FakeApiServerOptions {
  /** Watch events kept for replay; a watch from an RV older than them gets 410. Defaults to 1000. */
  historySize?: number;
  /** Interval of BOOKMARK events on watches that allow them. Defaults to 1000 ms. */
  bookmarkIntervalMs?: number;
  /** Delay before every response. Defaults to 0. */
  latencyMs?: number;
  /** How long after a change the garbage collector runs a pass, as kube-controller-manager's does some time later. Defaults to 50 ms. */
  gcDelayMs?: number;
}

/** The field manager of writes made through the direct (non-HTTP) API. */
export const DIRECT_MANAGER = "fake-apiserver";

/**
 * An in-process fake Kubernetes API server on 127.0.0.1 for tests: discovery, CRUD, list/watch with
 * resourceVersion, bookmarks and 410, status subresources, patches including a simplified server-side apply,
 * finalizers, owner GC and validation of the vesmon CRDs. See README.md for what it leaves out.
 */
export class FakeApiServer {
  /** Every request seen, in order, for assertions. */
  readonly requests: RecordedRequest[] = [];
  readonly #registry = new Registry(defaultResourceTypes());
  readonly #store: Store;
  readonly #watches: WatchHub;
  readonly #failures: InjectedFailure[] = [];
  readonly #users = new Map<string, UserInfo>([["fake", ADMIN]]);
  readonly #server: Server;
  readonly #clients: KubeRestClient[] = [];
  #latencyMs: number;
  #url = "";

  constructor(opts: FakeApiServerOptions = {}) {
    this.#store = new Store(opts.historySize ?? 1000, opts.gcDelayMs ?? 50);
    this.#store.served = (apiVersion, kind) => this.#registry.byKind(apiVersion, kind) !== undefined;
    this.#watches = new WatchHub(this.#store, opts.bookmarkIntervalMs ?? 1000);
    this.#latencyMs = opts.latencyMs ?? 0;
    this.#store.admission = (r) => admit(this.#registry, this.#store, r);
    const ctx = {
      users: this.#users,
      registry: this.#registry,
      store: this.#store,
      watches: this.#watches,
      requests: this.requests,
      failures: this.#failures,
      latencyMs: () => this.#latencyMs,
    };
    this.#server = createServer((req, res) => {
      handle(ctx, req, res).catch(() => res.destroy());
    });
  }

  /** The base URL, `http://127.0.0.1:PORT`; empty before start(). */
  get url(): string {
    return this.#url;
  }

  /** Listens on an ephemeral loopback port and returns the base URL. */
  start(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(0, "127.0.0.1", () => {
        const { port } = this.#server.address() as AddressInfo;
        this.#url = `http://127.0.0.1:${port}`;
        resolve(this.#url);
      });
    });
  }

  /** Ends every watch and connection and stops listening. */
  close(): Promise<void> {
    this.#store.stopGc();
    this.#watches.cutAll();
    for (const c of this.#clients.splice(0)) c.close();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /**
   * Accepts `token` as a bearer token for `user`: its requests are authorized by RBAC over the Roles,
   * ClusterRoles and bindings stored here, and its writes pass the stored ValidatingAdmissionPolicies.
   * The token "fake" (and a request without an Authorization header) is `system:admin` in `system:masters`.
   */
  addUser(token: string, user: UserInfo): void {
    this.#users.set(token, user);
  }

  /**
   * A KubeConfig for client-node pointing here: plain http (hence skipTLSVerify), bearer token `token`
   * (default "fake", the admin).
   */
  kubeConfig(token = "fake"): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: this.#url, skipTLSVerify: true }],
      users: [{ name: "fake", token }],
      contexts: [{ name: "fake", cluster: "fake", user: "fake", namespace: "default" }],
      currentContext: "fake",
    });
    return kc;
  }

  /**
   * The agent's API client (KubeRestClient) pointing here, as `kubeConfig(token)` for client-node. Closed
   * with the server.
   */
  restClient(token = "fake"): KubeRestClient {
    const client = new KubeRestClient({ server: this.#url, token });
    this.#clients.push(client);
    return client;
  }

  #type(apiVersion: string, kind: string): ResourceType {
    const rt = this.#registry.byKind(apiVersion, kind);
    if (!rt)
      throw failure(
        404,
        "NotFound",
        `the server could not find the requested resource (${apiVersion} ${kind})`,
      );
    return rt;
  }

  /** Creates an object as a POST would (uid, creationTimestamp, generation, RV, validation, ADDED event). */
  create(obj: K8sObject): K8sObject {
    const rt = this.#type(obj.apiVersion, obj.kind);
    return this.#store.create(rt, obj, { manager: DIRECT_MANAGER }, obj.metadata.namespace);
  }

  get(apiVersion: string, kind: string, name: string, namespace?: string): K8sObject | undefined {
    return this.#store.get(this.#type(apiVersion, kind), name, namespace ?? "default");
  }

  /** Copies of the stored objects of a kind; with `keep`, only those it keeps (tested before copying). */
  list(apiVersion: string, kind: string, namespace?: string, keep?: (o: K8sObject) => boolean): K8sObject[] {
    return this.#store.list(this.#type(apiVersion, kind), namespace, keep);
  }

  /** Replaces an object as a PUT would; the stored status is kept for kinds with a status subresource. */
  update(obj: K8sObject): K8sObject {
    const rt = this.#type(obj.apiVersion, obj.kind);
    return this.#store.update(rt, obj, { manager: DIRECT_MANAGER }, obj.metadata.namespace);
  }

  /** Replaces only `.status`, as a PUT to `/status` would (an addition to the agreed API, for seeding status). */
  updateStatus(obj: K8sObject): K8sObject {
    const rt = this.#type(obj.apiVersion, obj.kind);
    const subresource = rt.statusSubresource ? ({ subresource: "status" } as const) : {};
    return this.#store.update(rt, obj, { manager: DIRECT_MANAGER, ...subresource }, obj.metadata.namespace);
  }

  /**
   * Runs a garbage-collection pass now: deletes every object whose owner references all point to objects
   * that no longer exist (compared by uid). Returns how many it deleted. Passes also run by themselves
   * `gcDelayMs` after changes.
   */
  collectGarbage(): number {
    return this.#store.collectGarbage();
  }

  /** Garbage-collection passes run so far. */
  get gcPasses(): number {
    return this.#store.gcPasses;
  }

  /** Deletes as a DELETE would: finalizers defer it (deletionTimestamp); the garbage collector takes dependents later. */
  delete(apiVersion: string, kind: string, name: string, namespace?: string): void {
    this.#store.delete(this.#type(apiVersion, kind), name, namespace);
  }

  /** Ends every open watch stream; clients must watch again. */
  cutWatches(): void {
    this.#watches.cutAll();
  }

  /**
   * Delays every live watch event by `ms` (0: none), as a lagging watch cache does: a client then reads
   * its own write in the response long before its watch shows it.
   */
  setWatchDelay(ms: number): void {
    this.#watches.delayMs = ms;
  }

  /**
   * Ends every open watch whose path matches with an in-stream ERROR carrying a Status of `code` (default 500,
   * "etcdserver: request timed out"), as the API server does when its storage fails under a watch.
   */
  errorWatches(code = 500, message = "etcdserver: request timed out", pattern = /./): void {
    this.#watches.errorAll(failure(code, REASONS[code] ?? "InternalError", message).status, pattern);
  }

  /**
   * Answers the next `times` watches on a path matching `pattern` with an in-stream ERROR (`code`, default 500)
   * right after the headers: a storm of failing watches.
   */
  failWatches(pattern: RegExp, times: number, code = 500, message = "etcdserver: request timed out"): void {
    this.#watches.injectErrors(
      pattern,
      failure(code, REASONS[code] ?? "InternalError", message).status,
      times,
    );
  }

  /** Stops failing watches: the failures `failWatches` injected and not yet used are dropped. */
  stopFailingWatches(): void {
    this.#watches.clearInjectedErrors();
  }

  /** Open watch streams, for tests that wait for a client to (re)connect. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /** Forgets the watch history: a watch from any RV before now gets an in-stream 410 Expired. */
  compact(): void {
    this.#store.compact();
  }

  /** The current resourceVersion. */
  get resourceVersion(): string {
    return this.#store.resourceVersion;
  }

  setLatency(ms: number): void {
    this.#latencyMs = ms;
  }

  /**
   * Answers the next `times` requests whose method matches (`"*"` for any) and whose path matches
   * `pathPattern` with `status` and a Status body (429 also gets `Retry-After: 1`).
   */
  failNext(method: string, pathPattern: RegExp, status: number, times = 1): void {
    this.#failures.push({ method, pattern: pathPattern, status, remaining: times });
  }
}
